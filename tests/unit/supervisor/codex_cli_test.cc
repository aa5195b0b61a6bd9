#include "supervisor/codex_cli.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "tests/helpers/temp_dir.h"

namespace sandgate::supervisor {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class CodexCliTest : public ::testing::Test {
 protected:
  CliResult Parse(std::vector<std::string> args) {
    std::vector<const char*> argv = {"/usr/libexec/codex-linux-sandbox"};
    for (const auto& a : args) argv.push_back(a.c_str());
    return ParseCodexCommandLine(static_cast<int>(argv.size()), argv.data(),
                                 [this](const char* name) -> std::optional<std::string> {
                                   auto it = env_.find(name);
                                   if (it == env_.end()) return std::nullopt;
                                   return it->second;
                                 });
  }
  RunConfig Config(std::vector<std::string> args) {
    auto result = Parse(std::move(args));
    if (auto* exit = std::get_if<CliExit>(&result)) {
      ADD_FAILURE() << exit->message;
      return {};
    }
    return std::get<RunConfig>(result);
  }
  std::string Refusal(std::vector<std::string> args) {
    auto result = Parse(std::move(args));
    auto* exit = std::get_if<CliExit>(&result);
    if (exit == nullptr) {
      ADD_FAILURE() << "accepted";
      return "";
    }
    EXPECT_EQ(exit->code, 125);
    EXPECT_TRUE(exit->to_stderr);
    EXPECT_EQ(std::count(exit->message.begin(), exit->message.end(), '\n'), 1) << exit->message;
    return exit->message;
  }
  std::string Cwd() const { return work_.Path().string(); }
  std::string WorkspaceWrite(bool network = false) const {
    return std::string(R"({"type":"workspace-write","writable_roots":[")") + data_.Path().string() +
           R"("],"network_access":)" + (network ? "true" : "false") + "}";
  }

  sandgate::testing::TempDir work_;
  sandgate::testing::TempDir data_;
  std::map<std::string, std::string> env_ = {{"TMPDIR", "/nonexistent-tmpdir"}};
};

TEST_F(CodexCliTest, WorkspaceWriteBecomesASandgateRun) {
  auto c = Config({"--sandbox-policy-cwd", Cwd(), "--sandbox-policy", WorkspaceWrite(), "--",
                   "make", "-j2"});
  EXPECT_THAT(c.sandbox.command, ElementsAre("make", "-j2"));
  EXPECT_EQ(c.sandbox.cwd, work_.Path());
  // The cwd, the policy's root and /tmp (sorted by `run`); a $TMPDIR that does not exist gives
  // nothing.
  EXPECT_THAT(c.sandbox.writable_roots,
              ::testing::UnorderedElementsAre(work_.Path(), data_.Path(), fs::canonical("/tmp")));
  EXPECT_EQ(c.sandbox.network, pipelines::NetworkMode::kOff);
  EXPECT_EQ(c.sandbox.pipeline, pipelines::Pipeline::kBwrap);
}

TEST_F(CodexCliTest, OptionFormsAndPipelines) {
  auto c = Config({"--sandbox-policy-cwd=" + Cwd(), "--sandbox-policy=" + WorkspaceWrite(true),
                   "--use-legacy-landlock", "--no-proc", "true"});
  EXPECT_EQ(c.sandbox.network, pipelines::NetworkMode::kOn);
  EXPECT_EQ(c.sandbox.pipeline, pipelines::Pipeline::kLegacy);
  EXPECT_EQ(c.sandbox.proc, pipelines::ProcMount::kNone);
  EXPECT_THAT(c.sandbox.command, ElementsAre("true"));
  EXPECT_EQ(Config({"--sandbox-policy", R"({"type":"read-only"})", "--use-bwrap-sandbox", "--",
                    "true"})
                .sandbox.writable_roots.size(),
            0u);
}

TEST_F(CodexCliTest, SplitPoliciesWithCommandCwd) {
  const std::string fs_policy = R"({"kind":"restricted","entries":[
      {"path":{"type":"special","value":{"kind":"root"}},"access":"read"},
      {"path":{"type":"special","value":{"kind":"current_working_directory"}},"access":"write"}]})";
  auto c = Config({"--command-cwd", Cwd(), "--file-system-sandbox-policy", fs_policy,
                   "--network-sandbox-policy", R"("restricted")", "--", "true"});
  EXPECT_EQ(c.sandbox.cwd, work_.Path());
  EXPECT_THAT(c.sandbox.writable_roots, ElementsAre(work_.Path()));
}

TEST_F(CodexCliTest, FullAccessRunsWithoutASandbox) {
  auto result = Parse({"--sandbox-policy-cwd", Cwd(), "--sandbox-policy",
                       R"({"type":"danger-full-access"})", "--", "id"});
  ASSERT_TRUE(std::holds_alternative<ExecUnsandboxed>(result));
  EXPECT_THAT(std::get<ExecUnsandboxed>(result).command, ElementsAre("id"));
  EXPECT_EQ(std::get<ExecUnsandboxed>(result).cwd, Cwd());
}

TEST_F(CodexCliTest, EnvironmentTurnsNoNetworkIntoMediation) {
  env_["SANDGATE_NETWORK"] = "approve";
  env_["SANDGATE_APPROVALS"] = "auto-deny";
  auto c = Config({"--sandbox-policy", WorkspaceWrite(), "--sandbox-policy-cwd", Cwd(), "--", "curl"});
  EXPECT_EQ(c.sandbox.network, pipelines::NetworkMode::kApprove);
  EXPECT_EQ(c.approvals, ApprovalsMode::kAutoDeny);
  env_["SANDGATE_NETWORK"] = "on";
  EXPECT_THAT(Refusal({"--sandbox-policy", WorkspaceWrite(), "--", "curl"}),
              HasSubstr("SANDGATE_NETWORK=on would give the network"));
}

TEST_F(CodexCliTest, BadInputIsOneLineAndNothingRuns) {
  EXPECT_THAT(Refusal({"--sandbox-policy", "{", "--", "true"}),
              StartsWith("codex-linux-sandbox: --sandbox-policy: malformed JSON"));
  EXPECT_THAT(Refusal({"--sandbox-policy", R"({"type":"sandbox-all"})", "--", "true"}),
              HasSubstr("unknown \"type\""));
  EXPECT_THAT(Refusal({"--sandbox-policy", R"({"type":"workspace-write","writable_roots":["x"]})",
                       "--", "true"}),
              HasSubstr("\"x\" is not an absolute path"));
  EXPECT_THAT(Refusal({"--sandbox-policy", R"({"type":"read-only"})"}), HasSubstr("no command"));
  EXPECT_THAT(Refusal({"--sandbox-policy", R"({"type":"read-only"})", "--frobnicate", "--", "true"}),
              HasSubstr("unknown option --frobnicate"));
  EXPECT_THAT(Refusal({"--sandbox-policy"}), HasSubstr("--sandbox-policy needs a value"));
  EXPECT_THAT(Refusal({"--sandbox-policy", R"({"type":"read-only"})", "--allow-network-for-proxy",
                       "--", "true"}),
              HasSubstr("not supported"));
  EXPECT_THAT(Refusal({"--sandbox-policy", R"({"type":"read-only"})", "--apply-seccomp-then-exec",
                       "--", "true"}),
              HasSubstr("not supported"));
  EXPECT_THAT(Refusal({"--sandbox-policy-cwd", "/nonexistent-cwd", "--sandbox-policy",
                       R"({"type":"read-only"})", "--", "true"}),
              HasSubstr("/nonexistent-cwd"));
}

TEST_F(CodexCliTest, HelpIsUsageOnStdoutAndRunsNothing) {
  for (const char* flag : {"--help", "-h"}) {
    auto result = Parse({flag});
    auto* exit = std::get_if<CliExit>(&result);
    ASSERT_NE(exit, nullptr) << flag;
    EXPECT_EQ(exit->code, 0);
    EXPECT_FALSE(exit->to_stderr);
    EXPECT_THAT(exit->message, StartsWith("usage: codex-linux-sandbox "));
    EXPECT_THAT(exit->message, HasSubstr("--file-system-sandbox-policy"));
  }
  // After `--` it is the command's own flag.
  RunConfig config = Config({"--sandbox-policy-cwd", Cwd(), "--sandbox-policy",
                             R"({"type":"read-only"})", "--", "ls", "--help"});
  EXPECT_THAT(config.sandbox.command, ElementsAre("ls", "--help"));
}

TEST(CodexHelperNameTest, ByBasename) {
  EXPECT_TRUE(IsCodexHelperName("codex-linux-sandbox"));
  EXPECT_TRUE(IsCodexHelperName("/opt/codex/bin/codex-linux-sandbox"));
  EXPECT_FALSE(IsCodexHelperName("/usr/bin/sandgate"));
  EXPECT_FALSE(IsCodexHelperName("codex-linux-sandbox-old"));
  EXPECT_FALSE(IsCodexHelperName(nullptr));
}

}  // namespace
}  // namespace sandgate::supervisor
