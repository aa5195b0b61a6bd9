#include "approvals/denial_line.h"

#include <gtest/gtest.h>

#include <string>

namespace sandgate::approvals {
namespace {

Destination Tcp(const char* address, std::uint16_t port) {
  Destination d;
  d.address = Address::Parse(address);
  d.port = port;
  return d;
}

DenialFacts Facts(const Destination& d, AttemptKind kind, DecisionSource source,
                  std::optional<std::string> rule = std::nullopt) {
  DenialFacts facts;
  facts.destination = d;
  facts.kind = kind;
  facts.source = source;
  facts.rule = std::move(rule);
  return facts;
}

TEST(DenialLineTest, NoRuleSaysHowAPersonCouldAllowIt) {
  Destination d = Tcp("140.82.112.3", 443);
  d.host = "api.example.com";
  EXPECT_EQ(DenialLine(Facts(d, AttemptKind::kConnect, DecisionSource::kDefault)),
            "sandgate: denied tcp connect to api.example.com:443 (no rule; a person can allow it "
            "with --allow api.example.com:443)\n");
  EXPECT_EQ(SuggestedAllowRule(d, AttemptKind::kConnect), "api.example.com:443");
}

TEST(DenialLineTest, EachSourceHasItsOwnReason) {
  const Destination d = Tcp("10.1.2.3", 80);
  DenialFacts facts = Facts(d, AttemptKind::kConnect, DecisionSource::kPolicy, "10.0.0.0/8");
  EXPECT_EQ(DenialLine(facts), "sandgate: denied tcp connect to 10.1.2.3:80 (deny rule 10.0.0.0/8)\n");
  facts.source = DecisionSource::kUser;
  EXPECT_EQ(DenialLine(facts), "sandgate: denied tcp connect to 10.1.2.3:80 (declined when asked)\n");
  facts.source = DecisionSource::kSession;
  EXPECT_EQ(DenialLine(facts),
            "sandgate: denied tcp connect to 10.1.2.3:80 (declined earlier in this session)\n");
  facts.source = DecisionSource::kTimeout;
  facts.timeout = std::chrono::seconds(120);
  EXPECT_EQ(DenialLine(facts),
            "sandgate: denied tcp connect to 10.1.2.3:80 (no answer within 120 s; a person can "
            "allow it with --allow 10.1.2.3:80)\n");
  facts.source = DecisionSource::kCancelled;
  EXPECT_EQ(DenialLine(facts),
            "sandgate: denied tcp connect to 10.1.2.3:80 (nobody is left to ask; a person can "
            "allow it with --allow 10.1.2.3:80)\n");
  facts.why = "sandgate's own limit";
  EXPECT_EQ(DenialLine(facts), "sandgate: denied tcp connect to 10.1.2.3:80 (sandgate's own limit)\n");
}

TEST(DenialLineTest, SendsIpv6AndUnixTargets) {
  Destination udp = Tcp("fd00::53", 53);
  udp.protocol = Protocol::kUdp;
  EXPECT_EQ(DenialLine(Facts(udp, AttemptKind::kSend, DecisionSource::kDefault)),
            "sandgate: denied udp send to [fd00::53]:53 (no rule; a person can allow it with "
            "--allow [fd00::53]:53)\n");
  Destination path;
  path.protocol = Protocol::kUnix;
  path.unix_path = "/run/docker.sock";
  EXPECT_EQ(DenialLine(Facts(path, AttemptKind::kConnect, DecisionSource::kDefault)),
            "sandgate: denied unix connect to /run/docker.sock (no rule; a person can allow it "
            "with --allow unix:/run/docker.sock)\n");
  Destination abstract;
  abstract.protocol = Protocol::kUnix;
  abstract.unix_abstract = "dbus";
  EXPECT_EQ(DenialKey(abstract, AttemptKind::kConnect), "unix @dbus");
  EXPECT_EQ(SuggestedAllowRule(abstract, AttemptKind::kConnect), "unix-abstract:dbus");
}

TEST(DenialLineTest, HostileBytesStayOnOneLine) {
  Destination path;
  path.protocol = Protocol::kUnix;
  path.unix_path = "/tmp/a\nsandgate: allowed\x1b[2J";
  const std::string line = DenialLine(Facts(path, AttemptKind::kConnect, DecisionSource::kDefault));
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
}

TEST(DenialLineTest, OneKeyPerDestination) {
  Destination a = Tcp("1.2.3.4", 443);
  Destination b = Tcp("1.2.3.4", 443);
  b.protocol = Protocol::kUdp;
  Destination c = Tcp("1.2.3.4", 80);
  EXPECT_EQ(DenialKey(a, AttemptKind::kConnect), DenialKey(Tcp("1.2.3.4", 443), AttemptKind::kConnect));
  EXPECT_NE(DenialKey(a, AttemptKind::kConnect), DenialKey(b, AttemptKind::kConnect));
  EXPECT_NE(DenialKey(a, AttemptKind::kConnect), DenialKey(c, AttemptKind::kConnect));
}

TEST(DenialLineTest, ARefusedNameLookupNamesTheName) {
  Destination d;
  d.host = "tracker.example";
  d.port = 53;
  d.protocol = Protocol::kUdp;
  EXPECT_EQ(DenialLine(Facts(d, AttemptKind::kNameLookup, DecisionSource::kPolicy, "**.tracker.example")),
            "sandgate: refused DNS lookup of tracker.example (deny rule **.tracker.example)\n");
  EXPECT_EQ(DenialLine(Facts(d, AttemptKind::kNameLookup, DecisionSource::kDefault)),
            "sandgate: refused DNS lookup of tracker.example (no rule; a person can allow it with "
            "--allow tracker.example)\n");
  EXPECT_EQ(DenialKey(d, AttemptKind::kNameLookup), "dns tracker.example");
  EXPECT_NE(DenialKey(d, AttemptKind::kNameLookup), DenialKey(d, AttemptKind::kConnect));
}

}  // namespace
}  // namespace sandgate::approvals
