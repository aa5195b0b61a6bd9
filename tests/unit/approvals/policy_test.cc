#include "approvals/policy.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "approvals/dns_names.h"
#include "test_util.h"

namespace sandgate::approvals {
namespace {

using testing::AddrDest;
using testing::HostAddrDest;
using testing::HostDest;
using testing::MustParse;
using testing::UnixAbstractDest;
using testing::UnixPathDest;

Engine EngineWith(const RuleTexts& texts) {
  auto lists = ParseRuleLists(texts);
  if (const auto* error = std::get_if<RuleError>(&lists)) {
    ADD_FAILURE() << error->message;
    return Engine{};
  }
  Engine engine;
  engine.UpdatePolicy(std::get<RuleLists>(std::move(lists)));
  return engine;
}

// A connect to `address` after the sandbox resolved `names_in_order` (oldest first) to it, with
// host and names filled by a real NameMap, as the supervisor fills them.
Destination ConnectAfterResolving(const std::vector<std::string>& names_in_order,
                                  std::string_view address, std::uint16_t port) {
  dns::NameMap map;
  auto now = dns::NameMap::Clock::time_point{} + std::chrono::hours(1);
  for (const std::string& name : names_in_order) {
    map.Record(name, testing::Addr(address), 300, now);
    now += std::chrono::seconds(1);
  }
  Destination d = AddrDest(address, port);
  map.AttributeNames(d, now);
  return d;
}

PolicyDecision Expected(Verdict verdict, RuleOrigin source, std::string rule,
                        std::optional<std::string> matched_host = std::nullopt) {
  return {verdict, source, std::move(rule), std::move(matched_host)};
}

TEST(ParseRuleListsTest, AllOrNothing) {
  auto ok = ParseRuleLists({{"github.com"}, {"10.0.0.0/8", "localhost"}, {"*.corp.example"}});
  ASSERT_TRUE(std::holds_alternative<RuleLists>(ok));
  const RuleLists& lists = std::get<RuleLists>(ok);
  EXPECT_EQ(lists.allow.size(), 1u);
  EXPECT_EQ(lists.deny.size(), 2u);
  EXPECT_EQ(lists.route.size(), 1u);
  EXPECT_EQ(lists.deny[1].text, "localhost");

  auto bad = ParseRuleLists({{"github.com"}, {"10.0.0.0/8", "github.com:0"}, {}});
  ASSERT_TRUE(std::holds_alternative<RuleError>(bad));
  EXPECT_EQ(std::get<RuleError>(bad).message, "\"github.com:0\": port 0 out of range 1-65535");
}

TEST(EngineTest, UnmatchedIsAsk) {
  const Engine engine = EngineWith({{"github.com"}, {}, {}});
  const PolicyDecision d = engine.Decide(HostDest("example.com", 443));
  EXPECT_EQ(d.verdict, Verdict::kAsk);
  EXPECT_FALSE(d.rule.has_value());
  EXPECT_EQ(Engine{}.Decide(AddrDest("1.2.3.4", 80)).verdict, Verdict::kAsk);
}

TEST(EngineTest, DenyBeatsRouteBeatsAllow) {
  const Engine engine =
      EngineWith({{"**.example.com"}, {"secret.example.com"}, {"*.example.com:443"}});
  EXPECT_EQ(engine.Decide(HostDest("example.com", 443)),
            Expected(Verdict::kAllow, RuleOrigin::kPolicy, "**.example.com", "example.com"));
  EXPECT_EQ(engine.Decide(HostDest("www.example.com", 443)),
            Expected(Verdict::kRoute, RuleOrigin::kPolicy, "*.example.com:443", "www.example.com"));
  EXPECT_EQ(engine.Decide(HostDest("www.example.com", 80)),
            Expected(Verdict::kAllow, RuleOrigin::kPolicy, "**.example.com", "www.example.com"));
  EXPECT_EQ(
      engine.Decide(HostDest("secret.example.com", 443)),
      Expected(Verdict::kDeny, RuleOrigin::kPolicy, "secret.example.com", "secret.example.com"));
}

TEST(EngineTest, RuleOrderWithinAKindDoesNotMatterForTheVerdict) {
  // The allow comes first in the file, the deny last: deny still wins.
  const Engine engine = EngineWith({{"0.0.0.0/0", "github.com"}, {"140.82.0.0/16"}, {}});
  EXPECT_EQ(engine.Decide(HostAddrDest("github.com", "140.82.112.3", 443)),
            Expected(Verdict::kDeny, RuleOrigin::kPolicy, "140.82.0.0/16"));
}

TEST(EngineTest, SessionDenyBeatsPolicyAllow) {
  Engine engine = EngineWith({{"github.com"}, {}, {}});
  ASSERT_TRUE(engine.DeclineForSession(HostDest("github.com", 443)));
  EXPECT_EQ(engine.Decide(HostDest("github.com", 443)),
            Expected(Verdict::kDeny, RuleOrigin::kSession, "github.com:443", "github.com"));
  // Only that port was declined.
  EXPECT_EQ(engine.Decide(HostDest("github.com", 22)),
            Expected(Verdict::kAllow, RuleOrigin::kPolicy, "github.com", "github.com"));
}

TEST(EngineTest, PolicyDenyBeatsSessionAllow) {
  Engine engine = EngineWith({{}, {"github.com"}, {}});
  ASSERT_TRUE(engine.AcceptForSession(HostDest("github.com", 443)));
  EXPECT_EQ(engine.Decide(HostDest("github.com", 443)),
            Expected(Verdict::kDeny, RuleOrigin::kPolicy, "github.com", "github.com"));
}

TEST(EngineTest, PolicyRouteBeatsSessionAllow) {
  Engine engine = EngineWith({{}, {}, {"github.com"}});
  ASSERT_TRUE(engine.AcceptForSession(HostDest("github.com", 443)));
  EXPECT_EQ(engine.Decide(HostDest("github.com", 443)).verdict, Verdict::kRoute);
}

TEST(EngineTest, AcceptForSessionRemembersExactlyHostPortProtocol) {
  Engine engine;
  ASSERT_TRUE(engine.AcceptForSession(HostAddrDest("GitHub.com", "140.82.112.3", 443)));
  EXPECT_EQ(engine.Decide(HostAddrDest("github.com", "140.82.112.4", 443)),
            Expected(Verdict::kAllow, RuleOrigin::kSession, "github.com:443", "github.com"));
  EXPECT_EQ(engine.Decide(HostDest("github.com", 80)).verdict, Verdict::kAsk);
  EXPECT_EQ(engine.Decide(HostDest("github.com", 443, Protocol::kUdp)).verdict, Verdict::kAsk);
  EXPECT_EQ(engine.Decide(HostDest("api.github.com", 443)).verdict, Verdict::kAsk);
  // Remembered by name: the same IP without the name is a different question.
  EXPECT_EQ(engine.Decide(AddrDest("140.82.112.3", 443)).verdict, Verdict::kAsk);
}

TEST(EngineTest, AcceptForSessionByAddress) {
  Engine engine;
  ASSERT_TRUE(engine.AcceptForSession(AddrDest("10.1.2.3", 8080)));
  EXPECT_EQ(engine.Decide(AddrDest("10.1.2.3", 8080)),
            Expected(Verdict::kAllow, RuleOrigin::kSession, "10.1.2.3:8080"));
  EXPECT_EQ(engine.Decide(AddrDest("::ffff:10.1.2.3", 8080)).verdict, Verdict::kAllow);
  EXPECT_EQ(engine.Decide(AddrDest("10.1.2.4", 8080)).verdict, Verdict::kAsk);

  ASSERT_TRUE(engine.DeclineForSession(AddrDest("fd00::1", 443, Protocol::kUdp)));
  EXPECT_EQ(engine.Decide(AddrDest("fd00::1", 443, Protocol::kUdp)),
            Expected(Verdict::kDeny, RuleOrigin::kSession, "[fd00::1]:443"));
  EXPECT_EQ(engine.Decide(AddrDest("fd00::1", 443, Protocol::kTcp)).verdict, Verdict::kAsk);
}

TEST(EngineTest, SessionMemoryOfUnspecifiedAddressUsesWhatItReaches) {
  Engine engine;
  ASSERT_TRUE(engine.DeclineForSession(AddrDest("0.0.0.0", 6379)));
  EXPECT_EQ(engine.Decide(AddrDest("0.0.0.0", 6379)),
            Expected(Verdict::kDeny, RuleOrigin::kSession, "127.0.0.1:6379"));
  EXPECT_EQ(engine.Decide(AddrDest("127.0.0.1", 6379)).verdict, Verdict::kDeny);
}

TEST(EngineTest, SessionMemoryOfUnixSocketsIsLiteral) {
  Engine engine;
  ASSERT_TRUE(engine.AcceptForSession(UnixPathDest("/tmp/a*b.sock")));
  EXPECT_EQ(engine.Decide(UnixPathDest("/tmp/a*b.sock")),
            Expected(Verdict::kAllow, RuleOrigin::kSession, "unix:/tmp/a\\*b.sock"));
  // The '*' in the remembered path is not a wildcard.
  EXPECT_EQ(engine.Decide(UnixPathDest("/tmp/aXXb.sock")).verdict, Verdict::kAsk);
  EXPECT_EQ(engine.Decide(UnixPathDest("/tmp//a*b.sock")).verdict, Verdict::kAllow);

  ASSERT_TRUE(engine.DeclineForSession(UnixAbstractDest("x?")));
  EXPECT_EQ(engine.Decide(UnixAbstractDest("x?")).verdict, Verdict::kDeny);
  EXPECT_EQ(engine.Decide(UnixAbstractDest("xy")).verdict, Verdict::kAsk);
}

TEST(EngineTest, NothingToRemember) {
  Engine engine;
  Destination unnamed;
  unnamed.protocol = Protocol::kUnix;
  EXPECT_FALSE(engine.AcceptForSession(unnamed));
  EXPECT_FALSE(engine.DeclineForSession(Destination{}));
  EXPECT_FALSE(engine.AcceptForSession(UnixPathDest("relative.sock")));
  EXPECT_EQ(engine.session().size(), 0u);
}

TEST(EngineTest, RepeatedSessionAnswersDoNotGrowMemory) {
  Engine engine;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(engine.AcceptForSession(HostDest("github.com", 443)));
  }
  EXPECT_EQ(engine.session().size(), 1u);
  ASSERT_TRUE(engine.AcceptForSession(HostDest("github.com", 443, Protocol::kUdp)));
  EXPECT_EQ(engine.session().size(), 2u);
}

TEST(EngineTest, AmendmentsAreSessionRules) {
  Engine engine = EngineWith({{"**.github.com"}, {}, {}});
  engine.ApplyAmendment(MustParse("**.npmjs.org:443"), AmendmentAction::kAllow);
  EXPECT_EQ(
      engine.Decide(HostDest("registry.npmjs.org", 443)),
      Expected(Verdict::kAllow, RuleOrigin::kSession, "**.npmjs.org:443", "registry.npmjs.org"));
  engine.ApplyAmendment(MustParse("gist.github.com"), AmendmentAction::kDeny);
  EXPECT_EQ(engine.Decide(HostDest("gist.github.com", 443)),
            Expected(Verdict::kDeny, RuleOrigin::kSession, "gist.github.com", "gist.github.com"));
  EXPECT_EQ(engine.Decide(HostDest("api.github.com", 443)),
            Expected(Verdict::kAllow, RuleOrigin::kPolicy, "**.github.com", "api.github.com"));
  EXPECT_EQ(engine.session().rules(RuleAction::kAllow).size(), 1u);
  EXPECT_EQ(engine.session().rules(RuleAction::kDeny).size(), 1u);
  EXPECT_EQ(engine.policy().size(), 1u);
}

TEST(EngineTest, PolicyUpdateAddsToThePolicy) {
  Engine engine;
  EXPECT_EQ(engine.Decide(AddrDest("10.0.0.5", 22)).verdict, Verdict::kAsk);
  auto lists = ParseRuleLists({{}, {"10.0.0.0/8:22"}, {"0.0.0.0/0:443"}});
  ASSERT_TRUE(std::holds_alternative<RuleLists>(lists));
  engine.UpdatePolicy(std::get<RuleLists>(std::move(lists)));
  EXPECT_EQ(engine.Decide(AddrDest("10.0.0.5", 22)),
            Expected(Verdict::kDeny, RuleOrigin::kPolicy, "10.0.0.0/8:22"));
  EXPECT_EQ(engine.Decide(AddrDest("8.8.8.8", 443)),
            Expected(Verdict::kRoute, RuleOrigin::kPolicy, "0.0.0.0/0:443"));
}

TEST(EngineNamesTest, ARuleForAnEarlierNameStillMatchesAfterAnotherNameTakesTheAddress) {
  const Engine engine = EngineWith({{"a.example"}, {}, {}});
  // Resolve a.example, then b.example to the same address, then connect to the address.
  const Destination d = ConnectAfterResolving({"a.example", "b.example"}, "203.0.113.10", 443);
  ASSERT_EQ(d.host, "b.example");
  ASSERT_EQ(d.names, (std::vector<std::string>{"b.example", "a.example"}));
  EXPECT_EQ(engine.Decide(d),
            Expected(Verdict::kAllow, RuleOrigin::kPolicy, "a.example", "a.example"));
  // Before names existed only the latest name was known, and the rule did not match.
  Destination latest_only = d;
  latest_only.names.clear();
  EXPECT_EQ(engine.Decide(latest_only).verdict, Verdict::kAsk);
}

TEST(EngineNamesTest, ADenyOnOneNameBeatsAnAllowOnAnother) {
  const Engine engine = EngineWith({{"a.example"}, {"b.example"}, {}});
  // Whichever name was resolved last (and so is the host shown), the deny wins.
  for (const auto& order : {std::vector<std::string>{"a.example", "b.example"},
                            std::vector<std::string>{"b.example", "a.example"}}) {
    const Destination d = ConnectAfterResolving(order, "203.0.113.10", 443);
    EXPECT_EQ(engine.Decide(d),
              Expected(Verdict::kDeny, RuleOrigin::kPolicy, "b.example", "b.example"))
        << "host " << d.host.value_or("-");
  }
}

TEST(EngineNamesTest, RouteOnOneNameBeatsAllowOnAnotherAndReportsTheRoutedName) {
  const Engine engine = EngineWith({{"**.example"}, {}, {"proxied.test:443"}});
  const Destination d = ConnectAfterResolving({"proxied.test", "cdn.example"}, "203.0.113.20", 443);
  // The proxy must be asked for the name the route rule is about, not the latest one.
  EXPECT_EQ(engine.Decide(d),
            Expected(Verdict::kRoute, RuleOrigin::kPolicy, "proxied.test:443", "proxied.test"));
  // On another port the route rule does not apply, and the allow names the other name.
  Destination other_port = d;
  other_port.port = 80;
  EXPECT_EQ(engine.Decide(other_port),
            Expected(Verdict::kAllow, RuleOrigin::kPolicy, "**.example", "cdn.example"));
}

TEST(EngineNamesTest, SessionDenyOnOneNameBeatsPolicyAllowOnAnother) {
  Engine engine = EngineWith({{"a.example"}, {}, {}});
  ASSERT_TRUE(engine.DeclineForSession(HostDest("b.example", 443)));
  const Destination d = ConnectAfterResolving({"b.example", "a.example"}, "203.0.113.10", 443);
  ASSERT_EQ(d.host, "a.example");
  EXPECT_EQ(engine.Decide(d),
            Expected(Verdict::kDeny, RuleOrigin::kSession, "b.example:443", "b.example"));
}

TEST(EngineNamesTest, MatchedHostIsTheShownHostWhenItMatchesAndAbsentForAddressRules) {
  const Engine engine = EngineWith({{"**.example", "203.0.113.0/24"}, {}, {}});
  // Both names match: the host (the most recent) is the one reported.
  const Destination d = ConnectAfterResolving({"a.example", "b.example"}, "203.0.113.10", 443);
  EXPECT_EQ(engine.Decide(d).matched_host, "b.example");
  // Only the address rule matches: no name to report, the supervisor keeps the latest.
  const Destination by_address = ConnectAfterResolving({"a.test", "b.test"}, "203.0.113.10", 443);
  EXPECT_EQ(engine.Decide(by_address),
            Expected(Verdict::kAllow, RuleOrigin::kPolicy, "203.0.113.0/24"));
  EXPECT_FALSE(
      engine.Decide(ConnectAfterResolving({"x.test"}, "192.0.2.1", 443)).matched_host.has_value());
}

TEST(EngineNamesTest, SessionMemoryRemembersTheShownHostOnly) {
  Engine engine;
  const Destination d = ConnectAfterResolving({"a.example", "b.example"}, "203.0.113.10", 443);
  ASSERT_TRUE(engine.AcceptForSession(d));
  ASSERT_EQ(engine.session().rules(RuleAction::kAllow).size(), 1u);
  EXPECT_EQ(engine.session().rules(RuleAction::kAllow)[0].text, "b.example:443");
  EXPECT_EQ(engine.Decide(HostDest("a.example", 443)).verdict, Verdict::kAsk);
  EXPECT_EQ(engine.Decide(HostDest("b.example", 443)).verdict, Verdict::kAllow);
}

TEST(EngineNamesTest, DecideNameConsidersOnlyTheNameAsked) {
  const Engine engine = EngineWith({{"a.example"}, {"b.example"}, {}});
  EXPECT_TRUE(engine.DecideName("b.example").refuse);
  const Engine::NameDecision a = engine.DecideName("a.example");
  EXPECT_FALSE(a.refuse);
  EXPECT_TRUE(a.covered);
  EXPECT_FALSE(engine.DecideName("c.example").covered);
}

TEST(ExactRuleForTest, Texts) {
  EXPECT_EQ(ExactRuleFor(HostDest("GitHub.COM.", 443))->text, "github.com:443");
  EXPECT_EQ(ExactRuleFor(AddrDest("::1", 8080))->text, "[::1]:8080");
  EXPECT_EQ(ExactRuleFor(UnixPathDest("/var/run/../run/docker.sock"))->text,
            "unix:/var/run/docker.sock");
  EXPECT_EQ(ExactRuleFor(UnixAbstractDest("name"))->text, "unix-abstract:name");
  EXPECT_EQ(ExactRuleFor(HostDest("a.com", 53, Protocol::kUdp))->protocol, Protocol::kUdp);
  EXPECT_FALSE(ExactRuleFor(Destination{}).has_value());
}

}  // namespace
}  // namespace sandgate::approvals
