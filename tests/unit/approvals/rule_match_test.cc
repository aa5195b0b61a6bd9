#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "approvals/rule.h"
#include "test_util.h"

namespace sandgate::approvals {
namespace {

using testing::AddrDest;
using testing::HostAddrDest;
using testing::HostDest;
using testing::MustParse;
using testing::UnixAbstractDest;
using testing::UnixPathDest;

bool RuleMatches(std::string_view rule, const Destination& destination) {
  return Matches(MustParse(rule), destination);
}

std::optional<std::string> NameMatched(std::string_view rule, const Destination& destination) {
  return MatchedName(MustParse(rule), destination);
}

// An address the sandbox resolved `names` (most recent first) to; the host is the first.
Destination NamedAddrDest(std::vector<std::string> names, std::string_view address,
                          std::uint16_t port, Protocol protocol = Protocol::kTcp) {
  Destination d = AddrDest(address, port, protocol);
  if (!names.empty()) {
    d.host = names.front();
  }
  d.names = std::move(names);
  return d;
}

TEST(RuleMatchTest, ExactDomainNeedsAKnownHost) {
  EXPECT_TRUE(RuleMatches("github.com", HostDest("github.com", 443)));
  EXPECT_TRUE(RuleMatches("github.com", HostAddrDest("github.com", "140.82.112.3", 443)));
  EXPECT_FALSE(RuleMatches("github.com", HostDest("api.github.com", 443)));
  // An IP-only destination never matches a domain rule, whatever the IP.
  EXPECT_FALSE(RuleMatches("github.com", AddrDest("140.82.112.3", 443)));
}

TEST(RuleMatchTest, DomainMatchingIsCaseInsensitive) {
  EXPECT_TRUE(RuleMatches("GitHub.com", HostDest("github.com", 443)));
  EXPECT_TRUE(RuleMatches("github.com", HostDest("GITHUB.COM", 443)));
  EXPECT_TRUE(RuleMatches("*.github.com", HostDest("API.GitHub.Com.", 443)));
}

TEST(RuleMatchTest, SubdomainWildcard) {
  EXPECT_TRUE(RuleMatches("*.github.com", HostDest("api.github.com", 443)));
  EXPECT_TRUE(RuleMatches("*.github.com", HostDest("a.b.github.com", 443)));
  EXPECT_FALSE(RuleMatches("*.github.com", HostDest("github.com", 443)));
  EXPECT_FALSE(RuleMatches("*.github.com", HostDest("evilgithub.com", 443)));
  EXPECT_FALSE(RuleMatches("*.github.com", HostDest("github.com.evil.org", 443)));
}

TEST(RuleMatchTest, DomainAndSubdomainWildcard) {
  EXPECT_TRUE(RuleMatches("**.github.com", HostDest("github.com", 443)));
  EXPECT_TRUE(RuleMatches("**.github.com", HostDest("api.github.com", 443)));
  EXPECT_FALSE(RuleMatches("**.github.com", HostDest("evilgithub.com", 443)));
}

TEST(RuleMatchTest, Ports) {
  EXPECT_TRUE(RuleMatches("github.com:443", HostDest("github.com", 443)));
  EXPECT_FALSE(RuleMatches("github.com:443", HostDest("github.com", 80)));
  EXPECT_TRUE(RuleMatches("github.com:8000-8080", HostDest("github.com", 8000)));
  EXPECT_TRUE(RuleMatches("github.com:8000-8080", HostDest("github.com", 8080)));
  EXPECT_FALSE(RuleMatches("github.com:8000-8080", HostDest("github.com", 7999)));
  EXPECT_FALSE(RuleMatches("github.com:8000-8080", HostDest("github.com", 8081)));
  // Omitted ports: any port, including ones no rule could spell.
  EXPECT_TRUE(RuleMatches("github.com", HostDest("github.com", 1)));
  EXPECT_TRUE(RuleMatches("github.com", HostDest("github.com", 65535)));
  EXPECT_TRUE(RuleMatches("github.com", HostDest("github.com", 0)));
}

TEST(RuleMatchTest, TcpAndUdpBothMatchHostRules) {
  EXPECT_TRUE(RuleMatches("1.1.1.1:53", AddrDest("1.1.1.1", 53, Protocol::kUdp)));
  EXPECT_TRUE(RuleMatches("1.1.1.1:53", AddrDest("1.1.1.1", 53, Protocol::kTcp)));
}

TEST(RuleMatchTest, AddressAndCidr) {
  EXPECT_TRUE(RuleMatches("10.0.0.0/8", AddrDest("10.1.2.3", 22)));
  EXPECT_TRUE(RuleMatches("10.0.0.0/8", HostAddrDest("internal.corp", "10.1.2.3", 22)));
  EXPECT_FALSE(RuleMatches("10.0.0.0/8", AddrDest("11.1.2.3", 22)));
  EXPECT_FALSE(RuleMatches("10.0.0.0/8", HostDest("internal.corp", 22)));
  EXPECT_TRUE(RuleMatches("1.2.3.4", AddrDest("1.2.3.4", 80)));
  EXPECT_FALSE(RuleMatches("1.2.3.4", AddrDest("1.2.3.5", 80)));
  EXPECT_TRUE(RuleMatches("[fd00::/8]:443", AddrDest("fd00::1234", 443)));
  EXPECT_FALSE(RuleMatches("[fd00::/8]:443", AddrDest("fd00::1234", 80)));
}

TEST(RuleMatchTest, CatchAllsArePerFamily) {
  EXPECT_TRUE(RuleMatches("0.0.0.0/0:443", AddrDest("8.8.8.8", 443)));
  EXPECT_FALSE(RuleMatches("0.0.0.0/0:443", AddrDest("2001:4860::8888", 443)));
  EXPECT_TRUE(RuleMatches("[::/0]:443", AddrDest("2001:4860::8888", 443)));
  EXPECT_FALSE(RuleMatches("[::/0]:443", AddrDest("8.8.8.8", 443)));
}

TEST(RuleMatchTest, V4MappedDestinationMatchesIpv4Rules) {
  // The attacker's spelling of 127.0.0.1 through a dual-stack socket.
  EXPECT_TRUE(RuleMatches("127.0.0.1", AddrDest("::ffff:127.0.0.1", 8080)));
  EXPECT_TRUE(RuleMatches("127.0.0.0/8:8080", AddrDest("::ffff:127.0.0.1", 8080)));
  EXPECT_TRUE(RuleMatches("localhost", AddrDest("::ffff:127.0.0.1", 8080)));
  EXPECT_TRUE(RuleMatches("10.0.0.0/8", AddrDest("::ffff:10.9.8.7", 1)));
  EXPECT_FALSE(RuleMatches("[::/0]", AddrDest("::ffff:10.9.8.7", 1)));
}

TEST(RuleMatchTest, Localhost) {
  EXPECT_TRUE(RuleMatches("localhost", AddrDest("127.0.0.1", 80)));
  EXPECT_TRUE(RuleMatches("localhost", AddrDest("127.8.9.10", 80)));
  EXPECT_TRUE(RuleMatches("localhost", AddrDest("::1", 80)));
  EXPECT_TRUE(RuleMatches("localhost", HostDest("localhost", 80)));
  EXPECT_TRUE(RuleMatches("localhost", HostDest("LOCALHOST.", 80)));
  EXPECT_TRUE(RuleMatches("localhost:5432", AddrDest("127.0.0.1", 5432)));
  EXPECT_FALSE(RuleMatches("localhost:5432", AddrDest("127.0.0.1", 5433)));
  EXPECT_FALSE(RuleMatches("localhost", AddrDest("10.0.0.1", 80)));
  EXPECT_FALSE(RuleMatches("localhost", AddrDest("::2", 80)));
  EXPECT_FALSE(RuleMatches("localhost", HostDest("localhost.evil.com", 80)));
  EXPECT_FALSE(RuleMatches("localhost", UnixPathDest("/localhost")));
}

TEST(RuleMatchTest, UnspecifiedAddressCountsAsLoopback) {
  // connect(0.0.0.0) reaches 127.0.0.1 on Linux: "deny localhost" must catch it.
  EXPECT_TRUE(RuleMatches("localhost", AddrDest("0.0.0.0", 80)));
  EXPECT_TRUE(RuleMatches("localhost", AddrDest("::", 80)));
  EXPECT_TRUE(RuleMatches("127.0.0.1:80", AddrDest("0.0.0.0", 80)));
  EXPECT_TRUE(RuleMatches("[::1]:80", AddrDest("::", 80)));
  // ... and a rule about 0.0.0.0 itself still sees it.
  EXPECT_TRUE(RuleMatches("0.0.0.0/8", AddrDest("0.0.0.0", 80)));
  EXPECT_FALSE(RuleMatches("10.0.0.0/8", AddrDest("0.0.0.0", 80)));
}

TEST(RuleMatchTest, HostRulesNeverMatchUnixAndViceVersa) {
  Destination odd = UnixPathDest("/var/run/docker.sock");
  odd.host = "github.com";
  EXPECT_FALSE(RuleMatches("github.com", odd));
  Destination tcp = HostDest("github.com", 443);
  tcp.unix_path = "/var/run/docker.sock";
  EXPECT_FALSE(RuleMatches("unix:/var/run/docker.sock", tcp));
}

TEST(RuleMatchTest, UnixPathsAreNormalizedBeforeMatching) {
  const Rule rule = MustParse("unix:/var/run/docker.sock");
  EXPECT_TRUE(Matches(rule, UnixPathDest("/var/run/docker.sock")));
  EXPECT_TRUE(Matches(rule, UnixPathDest("/var//run/./docker.sock")));
  EXPECT_TRUE(Matches(rule, UnixPathDest("/var/run/../run/docker.sock")));
  EXPECT_TRUE(Matches(rule, UnixPathDest("/../var/run/docker.sock")));
  EXPECT_FALSE(Matches(rule, UnixPathDest("var/run/docker.sock")));
  EXPECT_FALSE(Matches(rule, UnixPathDest("/var/run/docker.sock2")));
  EXPECT_FALSE(Matches(rule, UnixAbstractDest("/var/run/docker.sock")));
}

TEST(RuleMatchTest, UnixGlobs) {
  EXPECT_TRUE(RuleMatches("unix:/run/user/*/bus", UnixPathDest("/run/user/1000/bus")));
  EXPECT_FALSE(RuleMatches("unix:/run/user/*/bus", UnixPathDest("/run/user/1000/x/bus")));
  EXPECT_TRUE(RuleMatches("unix:/run/**", UnixPathDest("/run/user/1000/x/bus")));
  EXPECT_TRUE(RuleMatches("unix:/tmp/?.sock", UnixPathDest("/tmp/a.sock")));
}

TEST(RuleMatchTest, UnixAbstract) {
  EXPECT_TRUE(
      RuleMatches("unix-abstract:/tmp/.X11-unix/X0", UnixAbstractDest("/tmp/.X11-unix/X0")));
  EXPECT_FALSE(
      RuleMatches("unix-abstract:/tmp/.X11-unix/X0", UnixAbstractDest("/tmp/.X11-unix/X1")));
  EXPECT_FALSE(RuleMatches("unix-abstract:/tmp/.X11-unix/X0", UnixPathDest("/tmp/.X11-unix/X0")));
  EXPECT_TRUE(RuleMatches("unix-abstract:dbus-*", UnixAbstractDest("dbus-abc")));
}

TEST(RuleMatchTest, DomainRulesMatchAnyOfTheNames) {
  const Destination d = NamedAddrDest({"b.example", "a.example", "x.cdn.test"}, "203.0.113.1", 443);
  EXPECT_TRUE(RuleMatches("b.example", d));
  EXPECT_TRUE(RuleMatches("a.example", d));
  EXPECT_TRUE(RuleMatches("*.cdn.test", d));
  EXPECT_TRUE(RuleMatches("a.example:443", d));
  EXPECT_FALSE(RuleMatches("a.example:80", d));
  EXPECT_FALSE(RuleMatches("c.example", d));
  EXPECT_FALSE(RuleMatches("*.a.example", d));
  // Names alone count too (a host need not be among them, nor set).
  Destination names_only = d;
  names_only.host.reset();
  EXPECT_TRUE(RuleMatches("a.example", names_only));
  Destination other_host = d;
  other_host.host = "shown.test";
  EXPECT_TRUE(RuleMatches("shown.test", other_host));
  EXPECT_TRUE(RuleMatches("a.example", other_host));
  // Names never make a unix destination match a host rule.
  Destination unix_dest = UnixPathDest("/run/a.sock");
  unix_dest.names = {"a.example"};
  EXPECT_FALSE(RuleMatches("a.example", unix_dest));
}

TEST(RuleMatchTest, LocalhostMatchesAsOneOfTheNames) {
  const Destination d = NamedAddrDest({"other.test", "LocalHost."}, "192.0.2.1", 80);
  EXPECT_TRUE(RuleMatches("localhost", d));
  EXPECT_EQ(NameMatched("localhost", d), "LocalHost.");
  // By its loopback address it matches without a name.
  EXPECT_TRUE(RuleMatches("localhost", NamedAddrDest({"other.test"}, "127.0.0.1", 80)));
  EXPECT_EQ(NameMatched("localhost", NamedAddrDest({"other.test"}, "127.0.0.1", 80)), std::nullopt);
}

TEST(RuleMatchTest, MatchedNamePrefersTheHostThenTheMostRecentName) {
  const Destination d =
      NamedAddrDest({"www.a.example", "api.a.example", "b.example"}, "203.0.113.1", 443);
  EXPECT_EQ(NameMatched("**.a.example", d), "www.a.example");
  EXPECT_EQ(NameMatched("api.a.example", d), "api.a.example");
  EXPECT_EQ(NameMatched("b.example:443", d), "b.example");
  Destination shown_last = d;
  shown_last.host = "b.example";
  EXPECT_EQ(NameMatched("**.example", shown_last), "b.example");
  EXPECT_EQ(NameMatched("*.a.example", shown_last), "www.a.example");
}

TEST(RuleMatchTest, MatchedNameIsAbsentWithoutANameMatch) {
  const Destination d = NamedAddrDest({"a.example"}, "203.0.113.1", 443);
  EXPECT_EQ(NameMatched("203.0.113.0/24", d), std::nullopt);
  EXPECT_EQ(NameMatched("c.example", d), std::nullopt);
  EXPECT_EQ(NameMatched("a.example:80", d), std::nullopt);
  EXPECT_EQ(NameMatched("unix:/run/*.sock", UnixPathDest("/run/a.sock")), std::nullopt);
  Rule udp_only = MustParse("a.example");
  udp_only.protocol = Protocol::kUdp;
  EXPECT_EQ(MatchedName(udp_only, d), std::nullopt);
  EXPECT_EQ(MatchedName(udp_only, NamedAddrDest({"a.example"}, "203.0.113.1", 443, Protocol::kUdp)),
            "a.example");
}

TEST(RuleMatchTest, ProtocolRestrictionFromSessionMemory) {
  Rule rule = MustParse("github.com:443");
  rule.protocol = Protocol::kTcp;
  EXPECT_TRUE(Matches(rule, HostDest("github.com", 443, Protocol::kTcp)));
  EXPECT_FALSE(Matches(rule, HostDest("github.com", 443, Protocol::kUdp)));
}

}  // namespace
}  // namespace sandgate::approvals
