// Finding bubblewrap, explaining its failures, and the /proc fallback.
#include <gmock/gmock.h>
#include <sys/stat.h>

#include <filesystem>

#include "tests/helpers/sandbox_fixture.h"

namespace sandgate::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// These are about bubblewrap itself (finding it, its messages); the legacy pipeline never runs it.
#define SKIP_IN_LEGACY_CELLS()                         \
  if (CellPipeline() == TestPipeline::kLegacy)         \
  GTEST_SKIP() << "about bubblewrap itself: the legacy pipeline does not run it"

// One line on stderr, starting with "sandgate: ".
void ExpectOneLineFailure(const RunResult& r) {
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, StartsWith("sandgate: "));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(BwrapSetupTest, MissingBwrapOnPathSaysWhatToInstall) {
  SKIP_IN_LEGACY_CELLS();
  TempDir empty;
  RunOptions options;
  options.env["PATH"] = empty.Path().string();
  options.unset_env = {"SANDGATE_BWRAP"};
  auto r = RunCommand({SandgateBinary(), "run", "--network", "off", "--", "/bin/true"}, options);
  ExpectOneLineFailure(r);
  EXPECT_THAT(r.err, HasSubstr("apt-get install -y bubblewrap"));
}

TEST(BwrapSetupTest, ExplicitMissingBwrapNamesTheSource) {
  SKIP_IN_LEGACY_CELLS();
  auto r = RunCommand(
      {SandgateBinary(), "run", "--network", "off", "--bwrap", "/nonexistent/bwrap", "--", "/bin/true"});
  ExpectOneLineFailure(r);
  EXPECT_THAT(r.err, HasSubstr("--bwrap"));
  RunOptions options;
  options.env["SANDGATE_BWRAP"] = "/nonexistent/bwrap";
  r = RunCommand({SandgateBinary(), "run", "--network", "off", "--", "/bin/true"}, options);
  ExpectOneLineFailure(r);
  EXPECT_THAT(r.err, HasSubstr("SANDGATE_BWRAP"));
}

// What `bwrap --help` of a capable version lists, for stand-in bwrap scripts.
// One option per line, as bwrap prints them.
const std::string kAllFlags =
    "--new-session\n--die-with-parent\n--unshare-user\n--disable-userns\n--cap-drop\n--unshare-pid\n"
    "--unshare-net\n--ro-bind\n--bind\n--dev\n--proc\n--chdir\n--json-status-fd";

TEST(BwrapSetupTest, BwrapThatFailsSetupGivesOneLineAndNeverRunsTheCommand) {
  SKIP_IN_LEGACY_CELLS();
  TempDir dir;
  // A stand-in for a bwrap that cannot create namespaces (user namespaces disabled).
  WriteFile(dir / "bwrap",
            "#!/bin/sh\n"
            "case \"$1\" in --version) echo 'bubblewrap 0.8.0'; exit 0;; --help) echo '" +
                kAllFlags + "'; exit 0;; esac\n"
            "echo 'bwrap: No permissions to creating new namespace, likely because the kernel does "
            "not allow non-privileged user namespaces.' >&2\nexit 1\n");
  fs::permissions(dir / "bwrap", fs::perms::owner_all);
  auto r = RunCommand({SandgateBinary(), "run", "--bwrap", (dir / "bwrap").string(), "--network", "off",
                "--", "/bin/sh", "-c", "echo should-not-run"});
  ExpectOneLineFailure(r);
  EXPECT_THAT(r.err, HasSubstr("sandbox setup failed"));
  EXPECT_THAT(r.err, HasSubstr("namespace"));
  EXPECT_EQ(r.out, "");
}

// A machine whose kernel refuses user namespaces (imitated with a seccomp filter around
// sandgate, inherited by bwrap): the most common reason a sandbox cannot start, and for an
// ordinary user the only way bwrap has to build one. One line saying what to enable; the
// command never runs.
TEST(BwrapSetupTest, WithoutUserNamespacesSaysWhatToEnable) {
  SKIP_IN_LEGACY_CELLS();
  TempDir dir;
  const auto marker = dir / "ran";
  std::vector<std::string> argv = {ProbeBinary(), "without-userns"};
  for (const auto& arg : AsCellIdentity({SandgateBinary(), "run", "--network", "off", "--",
                                         "/bin/sh", "-c", "echo x > " + marker.string()})) {
    argv.push_back(arg);
  }
  RunOptions options;
  options.cwd = kSandgateCwd;
  auto r = RunCommand(argv, options);
  ExpectOneLineFailure(r);
  EXPECT_THAT(r.err, HasSubstr("user namespaces"));
  EXPECT_THAT(r.err, HasSubstr("--pipeline legacy")) << "the way out that needs no admin";
  EXPECT_FALSE(fs::exists(marker));
}

class ProcTest : public SandboxTest {};

TEST_F(ProcTest, FreshProcShowsTheSandboxPidNamespace) {
  auto r = RunCommand({SandgateBinary(), "run", "--network", "off", "--", "/bin/sh", "-c",
                "grep '^Pid:' /proc/self/status"});
  // /proc/self is the shell's child (grep), pid 3 in the namespace: a fresh /proc.
  EXPECT_THAT(r.out, ::testing::MatchesRegex("Pid:\\s+3\n")) << r.err;
}

TEST_F(ProcTest, NoProcLeavesTheHostProc) {
  auto r = RunCommand({SandgateBinary(), "run", "--network", "off", "--no-proc", "--", "/bin/sh", "-c",
                "grep '^Pid:' /proc/self/status"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::Not(::testing::MatchesRegex("Pid:\\s+3\n")));
}

TEST_F(ProcTest, FallsBackWithoutProcWhenTheMountIsForbidden) {
  // Root's legacy sandbox has no user namespace of its own, so the over-mount does not forbid
  // its fresh /proc (mount_too_revealing binds user namespaces only): it runs with one.
  const bool mount_allowed = CellPipeline() == TestPipeline::kLegacy && TestIdentity() == Identity::kRoot;
  // A restrictive container: /proc has an over-mount, so a new user namespace may not mount a
  // fresh proc (mount_too_revealing). Built with unshare(1) from util-linux.
  if (access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "unshare(1) not installed";
  // sandgate itself runs as the cell's identity, inside the restricted mount namespace.
  std::string script = "mount -t tmpfs none /proc/fs || exit 90; exec";
  for (const auto& arg : AsCellIdentity({SandgateBinary(), "run", "--network", "off", "--",
                                         ProbeBinary(), "exit", "7"})) {
    script += " " + arg;
  }
  RunOptions options;
  options.cwd = kSandgateCwd;
  auto r = RunCommand({"/usr/bin/unshare", "--mount", "--pid", "--fork", "--mount-proc", "/bin/sh", "-c",
                script}, options);
  if (r.exit_code == 90) GTEST_SKIP() << "cannot build the restricted /proc here: " << r.err;
  EXPECT_EQ(r.exit_code, 7) << r.err;
  if (mount_allowed) {
    EXPECT_THAT(r.err, Not(HasSubstr("mounting a fresh /proc failed")));
  } else {
    EXPECT_THAT(r.err, HasSubstr("mounting a fresh /proc failed; running without it"));
  }
}

}  // namespace
}  // namespace sandgate::testing
