// sandgate as Codex's codex-linux-sandbox, called the way Codex calls it: through a symlink of
// that name, with a cleared environment and stdin from /dev/null.
#include <gmock/gmock.h>
#include <unistd.h>

#include <filesystem>

#include "tests/helpers/host_peers.h"
#include "tests/helpers/sandbox_fixture.h"

namespace sandgate::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class CodexHelperTest : public SandboxTest {
 protected:
  void SetUp() override {
    SandboxTest::SetUp();
    if (IsSkipped()) return;
    // Next to the binary the cell can reach, so that the link resolves for the cell's account.
    fs::permissions(bin_.Path(), fs::perms::owner_all | fs::perms::group_read |
                                     fs::perms::group_exec | fs::perms::others_read |
                                     fs::perms::others_exec);
    helper_ = fs::path(bin_.Path()) / "codex-linux-sandbox";
    fs::create_symlink(SandgateBinary(), helper_);
    fs::create_directories(work_ / ".git");
    WriteFile(work_ / ".git/config", "[core]\n");
  }
  // Codex's own call: env -i, the helper's options, then the command.
  RunResult Helper(std::vector<std::string> options, std::vector<std::string> command,
                   std::vector<std::string> env = {}) {
    std::vector<std::string> argv = {"/usr/bin/env", "-i", "PATH=/usr/bin:/bin"};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.push_back(helper_.string());
    if (CellPipeline() == TestPipeline::kLegacy) argv.push_back("--use-legacy-landlock");
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
    RunOptions run;
    run.cwd = work_.Path().string();
    return RunCommand(AsCellIdentity(argv), run);
  }
  std::vector<std::string> WorkspaceWrite(bool network = false) {
    return {"--sandbox-policy-cwd", work_.Path().string(), "--sandbox-policy",
            std::string(R"({"type":"workspace-write","network_access":)") +
                (network ? "true" : "false") + R"(,"exclude_slash_tmp":true})"};
  }
  std::vector<std::string> Probe(std::vector<std::string> args) {
    args.insert(args.begin(), ProbeBinary());
    return args;
  }

  TempDir bin_{TempDir::Keeper::kRoot};
  TempDir work_;
  fs::path helper_;
};

TEST_F(CodexHelperTest, WorkspaceWriteWritesTheWorkspaceOnly) {
  EXPECT_EQ(Helper(WorkspaceWrite(), Probe({"write", (work_ / "out.txt").string()})).out, "ok\n");
  EXPECT_EQ(ReadFile(work_ / "out.txt"), "x");
  EXPECT_EQ(Helper(WorkspaceWrite(), Probe({"write", (work_ / ".git/config").string()})).out,
            "err EROFS\n");
  EXPECT_EQ(ReadFile(work_ / ".git/config"), "[core]\n");
  TempDir elsewhere;
  EXPECT_EQ(Helper(WorkspaceWrite(), Probe({"write", (elsewhere / "f").string()})).out,
            OutsideRootsWriteError());
}

TEST_F(CodexHelperTest, SplitPoliciesAsNewerCodexSendsThem) {
  const std::vector<std::string> split = {
      "--command-cwd", work_.Path().string(), "--file-system-sandbox-policy",
      R"({"kind":"restricted","entries":[
          {"path":{"type":"special","value":{"kind":"root"}},"access":"read"},
          {"path":{"type":"special","value":{"kind":"current_working_directory"}},"access":"write"}]})",
      "--network-sandbox-policy", R"("restricted")"};
  EXPECT_EQ(Helper(split, Probe({"write", (work_ / "out.txt").string()})).out, "ok\n");
  EXPECT_EQ(Helper(split, Probe({"write", (work_ / ".git/config").string()})).out, "err EROFS\n");
  EXPECT_EQ(Helper(split, Probe({"socket", "inet"})).out, "err EPERM\n");
}

TEST_F(CodexHelperTest, ReadOnlyWritesNothing) {
  auto r = Helper({"--sandbox-policy", R"({"type":"read-only"})"},
                  Probe({"write", (work_ / "out.txt").string()}));
  EXPECT_EQ(r.out, OutsideRootsWriteError()) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "out.txt"));
}

TEST_F(CodexHelperTest, NetworkAsThePolicySays) {
  HostTcpListener listener;
  auto refused = Helper({"--sandbox-policy", R"({"type":"read-only"})"},
                        Probe({"connect", "127.0.0.1", listener.Port()}));
  EXPECT_EQ(refused.out, "err EPERM\n") << refused.err;
  EXPECT_EQ(listener.Accepted(), 0);
  // Asked for mediation through the environment: the same connect is decided, here by a rule.
  auto mediated = Helper({"--sandbox-policy", R"({"type":"read-only"})"},
                         Probe({"connect", "127.0.0.1", listener.Port()}),
                         {"SANDGATE_NETWORK=approve", "SANDGATE_APPROVALS=auto-deny"});
  EXPECT_EQ(mediated.out, "err EPERM\n") << mediated.err;
  EXPECT_EQ(listener.Accepted(), 0);
}

TEST_F(CodexHelperTest, NetworkAllowedWhenThePolicySays) {
  HostTcpListener listener;
  auto r = Helper({"--sandbox-policy", R"({"type":"read-only","network_access":true})"},
                  Probe({"connect", "127.0.0.1", listener.Port()}));
  EXPECT_EQ(r.out, "ok\n") << r.err;
  EXPECT_EQ(listener.Accepted(), 1);
}

TEST_F(CodexHelperTest, ExternalSandboxLeavesTheFilesystemToItsOwner) {
  // Someone else's sandbox guards the filesystem: everything the user may write is writable,
  // but the cwd's .git stays protected and the network is what the policy says.
  const std::vector<std::string> external = {
      "--sandbox-policy-cwd", work_.Path().string(), "--sandbox-policy",
      R"({"type":"external-sandbox","network_access":"restricted"})"};
  TempDir elsewhere;
  EXPECT_EQ(Helper(external, Probe({"write", (elsewhere / "f").string()})).out, "ok\n");
  EXPECT_EQ(Helper(external, Probe({"write", (work_ / ".git/config").string()})).out, "err EROFS\n");
  EXPECT_EQ(Helper(external, Probe({"socket", "inet"})).out, "err EPERM\n");
}

TEST_F(CodexHelperTest, ExitStatusIsTheCommands) {
  EXPECT_EQ(Helper({"--sandbox-policy", R"({"type":"read-only"})"}, Probe({"exit", "7"})).exit_code, 7);
  EXPECT_EQ(Helper({"--sandbox-policy", R"({"type":"read-only"})"}, Probe({"kill-self", "15"})).exit_code,
            128 + 15);
  // danger-full-access: no sandbox at all, the command's status all the same.
  auto full = Helper({"--sandbox-policy", R"({"type":"danger-full-access"})"},
                     {"/bin/sh", "-c", "echo free > " + (work_ / ".git/config").string() + "; exit 4"});
  EXPECT_EQ(full.exit_code, 4) << full.err;
  EXPECT_EQ(ReadFile(work_ / ".git/config"), "free\n");
}

// For a script that cannot choose argv[0]: `sandgate codex-linux-sandbox ARGS` is the same helper.
TEST_F(CodexHelperTest, SubcommandFormIsTheSameHelper) {
  std::vector<std::string> argv = {"/usr/bin/env", "-i", "PATH=/usr/bin:/bin", SandgateBinary(),
                                   "codex-linux-sandbox"};
  if (CellPipeline() == TestPipeline::kLegacy) argv.push_back("--use-legacy-landlock");
  argv.insert(argv.end(), {"--sandbox-policy", R"({"type":"read-only"})", "--"});
  for (const auto& word : Probe({"write", (work_ / "out.txt").string()})) argv.push_back(word);
  RunOptions run;
  run.cwd = work_.Path().string();
  auto write = RunCommand(AsCellIdentity(argv), run);
  EXPECT_EQ(write.out, OutsideRootsWriteError()) << write.err;
  EXPECT_FALSE(fs::exists(work_ / "out.txt"));

  auto help = RunCommand(AsCellIdentity({SandgateBinary(), "codex-linux-sandbox", "--help"}), run);
  EXPECT_EQ(help.exit_code, 0) << help.err;
  EXPECT_THAT(help.out, StartsWith("usage: codex-linux-sandbox "));
}

TEST_F(CodexHelperTest, BadPolicyIsOneLineAndNothingRuns) {
  const auto marker = work_ / "ran";
  for (const char* policy : {"{oops", R"({"type":"sandbox-everything"})",
                             R"({"type":"workspace-write","writable_roots":["relative"]})"}) {
    auto r = Helper({"--sandbox-policy", policy}, {"/bin/sh", "-c", "echo x > " + marker.string()});
    EXPECT_EQ(r.exit_code, 125) << policy;
    EXPECT_THAT(r.err, StartsWith("codex-linux-sandbox: --sandbox-policy")) << policy;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists(marker)) << policy;
  }
}

}  // namespace
}  // namespace sandgate::testing
