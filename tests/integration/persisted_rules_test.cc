// Decisions that last: an applyNetworkPolicyAmendment with "persist": true is saved to the
// policy file (--policy, or --policy-save), and the next run starts with it. Real controller,
// real files, real connects; concurrent sandgates on one file keep each other's rules. The
// sandboxes are read-only (they need no writes), which every cell can build.
#include <gmock/gmock.h>

#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/helpers/host_peers.h"
#include "tests/helpers/sandbox_fixture.h"
#include "tests/helpers/scripted_controller.h"

namespace sandgate::testing {
namespace {

using ::testing::HasSubstr;

class PersistedRulesTest : public SandboxTest {
 protected:
  // One run whose controller answers the one request with a persisting amendment for `rule`.
  json AnswerWithAmendment(std::vector<std::string> options, const std::string& rule,
                           const std::string& action, std::string* stdout_text = nullptr) {
    options.insert(options.end(),
                   {"--read-only", "--network", "approve", "--", ProbeBinary(), "connect", "127.0.0.1", listener_.Port()});
    Controller c(options);
    json request = c.Next("network/requestApproval");
    if (request.is_null()) return {};
    c.Answer(request, {{"applyNetworkPolicyAmendment",
                        {{"host", rule}, {"action", action}, {"persist", true}}}});
    json saved = c.Next("policy/saved");
    if (stdout_text != nullptr) {
      json out = c.NextOutput("stdout");
      *stdout_text = out.is_null() ? "" : out["params"]["data"].get<std::string>();
    }
    c.Next("sandbox/exited");
    return saved;
  }
  std::string Rule() const { return "127.0.0.1:" + listener_.Port(); }

  TempDir dir_;
  HostTcpListener listener_;
};

TEST_F(PersistedRulesTest, AnAllowIsSavedWithTheFilesOtherContentAndTheNextRunUsesIt) {
  const auto policy = dir_ / "policy.json";
  WriteFile(policy, R"({"network": {"deny": ["10.9.9.9"], "dnsStrict": false}})", 0600);
  std::string out;
  json saved = AnswerWithAmendment({"--policy", policy.string()}, Rule(), "allow", &out);
  ASSERT_FALSE(saved.is_null());
  EXPECT_EQ(saved["params"]["file"], policy.string());
  EXPECT_EQ(saved["params"]["host"], Rule());
  EXPECT_FALSE(saved["params"].contains("error")) << saved.dump();
  EXPECT_EQ(out, "ok\n");
  const json file = json::parse(ReadFile(policy));
  EXPECT_EQ(file["network"]["allow"], json::array({Rule()}));
  EXPECT_EQ(file["network"]["deny"], json::array({"10.9.9.9"}));
  EXPECT_EQ(file["network"]["dnsStrict"], false);
  struct stat st {};
  ASSERT_EQ(stat(policy.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u) << "the file keeps its mode";

  // The next run is allowed by the saved rule, with nobody to ask.
  auto next = RunProbe({"--read-only", "--network", "approve", "--approvals", "auto-deny", "--policy",
                         policy.string()},
                       {"connect", "127.0.0.1", listener_.Port()});
  EXPECT_EQ(next.out, "ok\n") << next.err;
  EXPECT_EQ(listener_.Accepted(), 2);
}

TEST_F(PersistedRulesTest, ADenyGoesToPolicySaveAndTheNextRunIsDeniedByIt) {
  const auto policy = dir_ / "policy.json";
  const auto saves = dir_ / "saved.json";
  const std::string original = R"({"network": {"allow": ["10.9.9.9"]}})";
  WriteFile(policy, original);
  json saved = AnswerWithAmendment({"--policy", policy.string(), "--policy-save", saves.string()},
                                   Rule(), "deny");
  ASSERT_FALSE(saved.is_null());
  EXPECT_EQ(saved["params"]["file"], saves.string());
  EXPECT_EQ(ReadFile(policy), original) << "--policy-save takes the rule, not --policy";
  EXPECT_EQ(json::parse(ReadFile(saves))["network"]["deny"], json::array({Rule()}));
  auto next = RunProbe({"--read-only", "--network", "approve", "--allow", "127.0.0.0/8", "--policy",
                         saves.string()},
                       {"connect", "127.0.0.1", listener_.Port()});
  EXPECT_EQ(next.out, "err EPERM\n");
  EXPECT_THAT(next.err, HasSubstr("(deny rule " + Rule() + ")"));
  EXPECT_EQ(listener_.Accepted(), 0);
}

TEST_F(PersistedRulesTest, AMalformedSaveFileIsRefusedBeforeTheCommandRunsAndLeftAlone) {
  const auto saves = dir_ / "saved.json";
  const std::string broken = "{\"network\": {\"allow\": [\"a.com\"]\n";
  WriteFile(saves, broken);
  auto r = RunProbe({"-w", dir_.Path().string(), "--network", "approve", "--policy-save", saves.string()},
                    {"write", (dir_ / "ran").string()});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr(saves.string()));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(ReadFile(saves), broken);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "ran")) << "the command must not have run";
}

TEST_F(PersistedRulesTest, WithoutAFileTheRuleHoldsForTheSessionOnly) {
  Controller c({"--read-only", "--network", "approve", "--", ProbeBinary(), "connect-seq", "2", "127.0.0.1",
                listener_.Port()});
  c.Answer(c.Next("network/requestApproval"),
           {{"applyNetworkPolicyAmendment", {{"host", Rule()}, {"action", "allow"}, {"persist", true}}}});
  EXPECT_EQ(c.NextOutput("stdout")["params"]["data"], "ok=2 err=0\n");
  c.Next("sandbox/exited");
  for (const json& m : c.seen) {
    EXPECT_NE(m.value("method", ""), "policy/saved") << m.dump();
  }
}

TEST_F(PersistedRulesTest, APolicyFileInsideAWritableRootIsNotRewrittenAndTheRuleHoldsForTheSession) {
  if (!CellHasUserNamespaces()) {
    GTEST_SKIP() << "a writable root needs a mount namespace in this cell (the refusal is "
                    "PolicyFileEscapeTest's)";
  }
  // Rewriting the file would lift its read-only protection in the running sandbox (a rename
  // detaches the mount), so sandgate says it did not save, and why.
  const auto policy = dir_ / "policy.json";
  const std::string original = R"({"network": {"deny": ["10.9.9.9"]}})";
  WriteFile(policy, original);
  Controller c({"-w", dir_.Path().string(), "-C", dir_.Path().string(), "--policy",
                policy.string(), "--network", "approve", "--", ProbeBinary(), "connect-seq", "2",
                "127.0.0.1", listener_.Port()});
  c.Answer(c.Next("network/requestApproval"),
           {{"applyNetworkPolicyAmendment", {{"host", Rule()}, {"action", "allow"}, {"persist", true}}}});
  json saved = c.Next("policy/saved");
  ASSERT_FALSE(saved.is_null());
  EXPECT_EQ(saved["params"]["file"], policy.string());
  EXPECT_THAT(saved["params"].value("error", ""), HasSubstr("inside the writable root"));
  EXPECT_EQ(c.NextOutput("stdout")["params"]["data"], "ok=2 err=0\n") << "held for the session";
  c.Next("sandbox/exited");
  EXPECT_EQ(ReadFile(policy), original);
}

TEST_F(PersistedRulesTest, ConcurrentSandgatesOnOneFileKeepEachOthersRules) {
  const auto policy = dir_ / "policy.json";
  WriteFile(policy, R"({"network": {}})");
  constexpr int kRuns = 4;
  std::vector<std::thread> runs;
  std::vector<json> saved(kRuns);
  for (int i = 0; i < kRuns; ++i) {
    runs.emplace_back([&, i] {
      Controller c({"--read-only", "--network", "approve", "--policy", policy.string(), "--", ProbeBinary(),
                    "connect", "127.0.0.1", listener_.Port()});
      c.Answer(c.Next("network/requestApproval"),
               {{"applyNetworkPolicyAmendment",
                 {{"host", "10.77.0." + std::to_string(i + 1)}, {"action", "allow"}, {"persist", true}}}});
      saved[i] = c.Next("policy/saved");
      c.Next("sandbox/exited");
    });
  }
  for (auto& t : runs) t.join();
  for (const json& s : saved) EXPECT_FALSE(s.is_null() || s["params"].contains("error")) << s.dump();
  const json file = json::parse(ReadFile(policy));
  std::vector<std::string> allow = file["network"]["allow"].get<std::vector<std::string>>();
  std::sort(allow.begin(), allow.end());
  EXPECT_EQ(allow, (std::vector<std::string>{"10.77.0.1", "10.77.0.2", "10.77.0.3", "10.77.0.4"}));
}

}  // namespace
}  // namespace sandgate::testing
