// Host names: the sandbox's DNS goes through sandgate's forwarder (to a real dnsmasq), names are
// attributed to the addresses they resolved to, and domain rules decide connects by name.
#include <gmock/gmock.h>

#include "tests/helpers/http_server.h"
#include "tests/helpers/scripted_controller.h"
#include "tests/integration/names_fixture.h"

namespace sandgate::testing {
namespace {

using ::testing::HasSubstr;

// glibc's use-vc option sends every query over TCP.
RunOptions UseVc() {
  RunOptions options;
  options.env["RES_OPTIONS"] = "use-vc";
  return options;
}

TEST_F(NamesTest, DomainRuleAllowsCurlByName) {
  HostHttpServer http;
  auto r = Run({"--allow", "allowed.test"}, Curl("allowed.test", http.Port()));
  EXPECT_EQ(r.out, "ok curl=0\n") << r.err;
  EXPECT_EQ(http.Served(), 1);
  auto audit = Audit("tcp");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0]["destination"]["host"], "allowed.test");
  EXPECT_EQ(audit[0]["destination"]["address"], "127.0.0.1");
  EXPECT_EQ(audit[0]["decision"], "allow");
  EXPECT_EQ(audit[0]["rule"], "allowed.test");
  EXPECT_GE(dns_->QueriesFor("allowed.test"), 1);
}

TEST_F(NamesTest, WithoutARuleTheNamedConnectIsDenied) {
  HostHttpServer http;
  auto r = Run({"--allow", "other.test"}, Curl("allowed.test", http.Port()));
  EXPECT_EQ(r.out, " curl=7\n") << r.err;  // 7: could not connect
  EXPECT_EQ(http.Served(), 0);
  auto audit = Audit("tcp");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0]["destination"]["host"], "allowed.test");
  EXPECT_EQ(audit[0]["decision"], "deny");
  EXPECT_EQ(audit[0]["source"], "default");
}

TEST_F(NamesTest, SubdomainWildcardMatchesOnlySubdomains) {
  HostHttpServer http;
  auto sub = Run({"--allow", "*.allowed.test"}, Curl("cdn.allowed.test", http.Port()));
  EXPECT_EQ(sub.out, "ok curl=0\n") << sub.err;
  auto apex = Run({"--allow", "*.allowed.test"}, Curl("allowed.test", http.Port()));
  EXPECT_EQ(apex.out, " curl=7\n") << apex.err;
  EXPECT_EQ(http.Served(), 1);
}

TEST_F(NamesTest, DoubleStarWildcardMatchesTheDomainAndSubdomains) {
  HostHttpServer http;
  auto sub = Run({"--allow", "**.allowed.test"}, Curl("cdn.allowed.test", http.Port()));
  EXPECT_EQ(sub.out, "ok curl=0\n") << sub.err;
  auto apex = Run({"--allow", "**.allowed.test"}, Curl("allowed.test", http.Port()));
  EXPECT_EQ(apex.out, "ok curl=0\n") << apex.err;
  auto other = Run({"--allow", "**.allowed.test"}, Curl("other.test", http.Port()));
  EXPECT_EQ(other.out, " curl=7\n") << other.err;
  EXPECT_EQ(http.Served(), 2);
}

TEST_F(NamesTest, DeniedNamesDoNotResolveAndNeverReachUpstream) {
  auto r = Run({"--deny", "denied.test"},
               "getent hosts denied.test; echo denied=$?; getent hosts allowed.test; echo allowed=$?");
  EXPECT_EQ(r.out, "denied=2\n127.0.0.1       allowed.test\nallowed=0\n") << r.err;
  EXPECT_EQ(dns_->QueriesFor("denied.test"), 0);
  auto audit = Audit("udp");
  ASSERT_FALSE(audit.empty());
  for (const auto& line : audit) {
    EXPECT_EQ(line["destination"]["host"], "denied.test");
    EXPECT_EQ(line["destination"]["port"], 53);
    EXPECT_EQ(line["decision"], "deny");
    EXPECT_EQ(line["rule"], "denied.test");
  }
}

TEST_F(NamesTest, ARefusedNameIsExplainedOnceOnStderr) {
  // getent asks for the name (A and AAAA, perhaps more than once): one line for the name.
  auto r = Run({"--deny", "denied.test"}, "getent hosts denied.test; getent hosts denied.test; echo rc=$?");
  EXPECT_EQ(r.out, "rc=2\n") << r.err;
  const std::string line = "sandgate: refused DNS lookup of denied.test (deny rule denied.test)\n";
  const auto first = r.err.find(line);
  ASSERT_NE(first, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(line, first + 1), std::string::npos) << r.err;
}

TEST_F(NamesTest, DenyRuleForOnePortStillLetsTheNameResolve) {
  auto r = Run({"--deny", "allowed.test:22"}, "getent hosts allowed.test; echo rc=$?");
  EXPECT_EQ(r.out, "127.0.0.1       allowed.test\nrc=0\n") << r.err;
}

TEST_F(NamesTest, DnsOverTcpIsForwardedToo) {
  auto r = Run({}, "getent hosts allowed.test; echo rc=$?",
               UseVc());
  EXPECT_EQ(r.out, "127.0.0.1       allowed.test\nrc=0\n") << r.err;
  EXPECT_GE(dns_->QueriesFor("allowed.test"), 1);
}

TEST_F(NamesTest, DeniedNamesAreRefusedOverTcpToo) {
  auto r = Run({"--deny", "**.denied.test"}, "getent hosts denied.test; echo rc=$?",
               UseVc());
  EXPECT_EQ(r.out, "rc=2\n") << r.err;
  EXPECT_EQ(dns_->QueriesFor("denied.test"), 0);
}

TEST_F(NamesTest, StrictModeRefusesNamesNoRuleMentions) {
  auto r = Run({"--dns-strict", "--allow", "allowed.test:443"},
               "getent hosts other.test; echo other=$?; getent hosts allowed.test; echo allowed=$?");
  EXPECT_EQ(r.out, "other=2\n127.0.0.1       allowed.test\nallowed=0\n") << r.err;
  EXPECT_EQ(dns_->QueriesFor("other.test"), 0);
  auto audit = Audit("udp");
  ASSERT_FALSE(audit.empty());
  EXPECT_EQ(audit[0]["destination"]["host"], "other.test");
  EXPECT_EQ(audit[0]["source"], "default");
}

TEST_F(NamesTest, StrictModeAsksTheControllerWithTheName) {
  auto options = Options({"--dns-strict", "--", "sh", "-c", "getent hosts other.test; echo rc=$?"});
  Controller controller(options);
  auto request = controller.Next("network/requestApproval");
  ASSERT_FALSE(request.is_null());
  EXPECT_EQ(request["params"]["reason"], "dns_query");
  EXPECT_EQ(request["params"]["destination"]["host"], "other.test");
  EXPECT_EQ(request["params"]["destination"]["port"], 53);
  controller.Answer(request, "acceptForSession");  // one prompt for the A and AAAA queries
  auto exited = controller.Next("sandbox/exited");
  EXPECT_EQ(exited["params"]["exitCode"], 0);
  std::string output;
  for (const auto& m : controller.seen) {
    if (m.value("method", "") == "process/output") output += m["params"]["data"].get<std::string>();
  }
  EXPECT_EQ(output, "127.0.0.1       other.test\nrc=0\n");
  EXPECT_EQ(controller.Wait(), 0);
}

TEST_F(NamesTest, ApprovalRequestsCarryTheHostName) {
  HostHttpServer http;
  auto options = Options({"--", "sh", "-c", Curl("allowed.test", http.Port())});
  Controller controller(options);
  auto request = controller.Next("network/requestApproval");
  ASSERT_FALSE(request.is_null());
  EXPECT_EQ(request["params"]["destination"]["host"], "allowed.test");
  EXPECT_EQ(request["params"]["destination"]["address"], "127.0.0.1");
  EXPECT_EQ(request["params"]["destination"]["port"], std::stoi(http.Port()));
  EXPECT_THAT(request["params"]["process"]["exe"].get<std::string>(), HasSubstr("curl"));
  controller.Answer(request, "accept");
  controller.Next("sandbox/exited");
  EXPECT_EQ(controller.Wait(), 0);
  EXPECT_EQ(http.Served(), 1);
}

// Two names, one address (CDNs, shared hosting): resolving a second name must not take the
// address away from the first. allowed.test and other.test both resolve to 127.0.0.1.
TEST_F(NamesTest, EveryNameOfAnAddressCountsNotOnlyTheLast) {
  HostHttpServer http;
  const std::string resolve_both = "getent hosts allowed.test >/dev/null; getent hosts other.test >/dev/null; ";
  auto r = Run({"--allow", "allowed.test"}, resolve_both + Curl("127.0.0.1", http.Port()));
  EXPECT_EQ(r.out, "ok curl=0\n") << r.err;
  EXPECT_EQ(http.Served(), 1);
  auto audit = Audit("tcp");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0]["decision"], "allow");
  EXPECT_EQ(audit[0]["rule"], "allowed.test");
  // Shown by the name the rule is about, with every name the address was an answer for.
  EXPECT_EQ(audit[0]["destination"]["host"], "allowed.test");
  EXPECT_THAT(audit[0]["destination"]["names"].get<std::vector<std::string>>(),
              ::testing::UnorderedElementsAre("allowed.test", "other.test"));
}

TEST_F(NamesTest, ADenyOnAnyNameOfTheAddressWins) {
  HostHttpServer http;
  // A port-limited deny lets the name resolve; the connect to the shared address is denied.
  auto r = Run({"--allow", "allowed.test", "--deny", "other.test:" + http.Port()},
               "getent hosts other.test >/dev/null; getent hosts allowed.test >/dev/null; " +
                   Curl("127.0.0.1", http.Port()));
  EXPECT_EQ(r.out, " curl=7\n") << r.err;
  EXPECT_EQ(http.Served(), 0);
  auto audit = Audit("tcp");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0]["decision"], "deny");
  EXPECT_EQ(audit[0]["rule"], "other.test:" + http.Port());
  EXPECT_EQ(audit[0]["destination"]["host"], "other.test");
}

}  // namespace
}  // namespace sandgate::testing
