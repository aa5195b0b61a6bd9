// Attacks on what the legacy pipeline leans on: Landlock (rename, link, truncate, reopening
// through /proc), its mount namespace, and, where it has no PID namespace, the host's
// processes in plain sight. They run in every cell: the bwrap pipeline must hold against them too.
#include <gmock/gmock.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "tests/helpers/sandbox_fixture.h"

namespace sandgate::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::AnyOf;

class LegacySurfaceEscapeTest : public SandboxTest {
 protected:
  RunResult Probe(const std::vector<std::string>& args) {
    return RunProbe({"--network", "off", "-w", root_.Path().string(), "-C", root_.Path().string()},
                    args);
  }
  // No writable root at all: holds in every cell, the one without user namespaces included.
  static RunResult ProbeReadOnly(const std::vector<std::string>& args,
                                 std::vector<std::string> extra = {}) {
    std::vector<std::string> options = {"--network", "off", "--read-only"};
    options.insert(options.end(), extra.begin(), extra.end());
    return RunProbe(options, args);
  }
  TempDir root_;
};

TEST_F(LegacySurfaceEscapeTest, RenameOutOfAWritableRootFails) {
  TempDir outside;
  WriteFile(root_ / "payload", "inside");
  auto r = Probe({"rename", (root_ / "payload").string(), (outside / "payload").string()});
  EXPECT_THAT(r.out, AnyOf("err EXDEV\n", "err EACCES\n", "err EROFS\n")) << r.err;
  EXPECT_FALSE(fs::exists(outside / "payload"));
  EXPECT_TRUE(fs::exists(root_ / "payload"));
}

TEST_F(LegacySurfaceEscapeTest, HardLinkFromOutsideIntoAWritableRootGivesNoWrite) {
  // A file of the user's outside the roots, linked in so that its new name is writable.
  TempDir outside;
  WriteFile(outside / "bashrc", "before");
  auto r = Probe({"link", (outside / "bashrc").string(), (root_ / "alias").string()});
  EXPECT_THAT(r.out, AnyOf("err EXDEV\n", "err EACCES\n", "err EPERM\n")) << r.err;
  EXPECT_EQ(Probe({"write", (root_ / "alias").string()}).out, "ok\n");  // a new, unrelated file
  EXPECT_EQ(ReadFile(outside / "bashrc"), "before");
}

TEST_F(LegacySurfaceEscapeTest, ReopeningForWritingThroughProcFails) {
  TempDir outside;
  WriteFile(outside / "target", "before");
  auto r = ProbeReadOnly({"reopen-write", (outside / "target").string()});
  EXPECT_THAT(r.out, AnyOf("err EACCES\n", "err EROFS\n")) << r.err;
  EXPECT_EQ(ReadFile(outside / "target"), "before");
}

TEST_F(LegacySurfaceEscapeTest, TruncatingAFileOutsideTheRootsFails) {
  TempDir outside;
  WriteFile(outside / "target", "before");
  auto r = ProbeReadOnly({"truncate", (outside / "target").string()});
  EXPECT_THAT(r.out, AnyOf("err EACCES\n", "err EROFS\n")) << r.err;
  EXPECT_EQ(ReadFile(outside / "target"), "before");
}

TEST_F(LegacySurfaceEscapeTest, UnmountingAProtectionFails) {
  fs::create_directories(root_ / ".git");
  WriteFile(root_ / ".git/config", "[core]\n");
  EXPECT_EQ(Probe({"umount", (root_ / ".git").string()}).out, "err EPERM\n");
  EXPECT_EQ(Probe({"write", (root_ / ".git/config").string()}).out, "err EROFS\n");
  EXPECT_EQ(ReadFile(root_ / ".git/config"), "[core]\n");
}

// A process of the same account outside the sandbox: whether or not the sandbox has a PID
// namespace (ESRCH: not even visible), it can neither be traced, signalled, nor read.
class HostProcess {
 public:
  HostProcess() {
    pid_ = ::fork();
    if (pid_ == 0) {
      TestAccount account;
      std::string why;
      if (CellAccount(&account, &why) && ::geteuid() == 0 && account.uid != 0) {
        if (::setgid(account.gid) != 0 || ::setuid(account.uid) != 0) ::_exit(3);
      }
      ::execl("/bin/sleep", "sleep", "60", nullptr);
      ::_exit(4);
    }
  }
  ~HostProcess() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  [[nodiscard]] pid_t Pid() const { return pid_; }
  [[nodiscard]] bool Alive() const {
    int status = 0;
    return ::waitpid(pid_, &status, WNOHANG) == 0;
  }

 private:
  pid_t pid_ = -1;
};

TEST_F(LegacySurfaceEscapeTest, HostProcessCannotBeTracedSignalledOrRead) {
  HostProcess host;
  ASSERT_GT(host.Pid(), 0);
  usleep(100 * 1000);  // exec'd by now; its /proc entry is the sleep's
  const std::string pid = std::to_string(host.Pid());
  for (const auto& proc : std::vector<std::vector<std::string>>{{}, {"--no-proc"}}) {
    const char* label = proc.empty() ? "fresh /proc" : "--no-proc";
    EXPECT_THAT(ProbeReadOnly({"ptrace", pid}, proc).out, AnyOf("err ESRCH\n", "err EPERM\n"))
        << label;
    EXPECT_THAT(ProbeReadOnly({"kill", pid, "15"}, proc).out, AnyOf("err ESRCH\n", "err EPERM\n"))
        << label;
    EXPECT_THAT(ProbeReadOnly({"read", "/proc/" + pid + "/environ"}, proc).out,
                AnyOf("err ENOENT\n", "err EACCES\n", "err EPERM\n", "err ESRCH\n"))
        << label;
  }
  EXPECT_TRUE(host.Alive());
}

}  // namespace
}  // namespace sandgate::testing
