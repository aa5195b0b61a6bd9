// --approvals tty with the real sandgate binary under a pseudo-terminal (its stdin, stdout,
// stderr and controlling terminal, as when a person starts it from a shell): the question
// appears on the terminal, the answer typed there decides, and a real host listener shows the
// effect.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "tests/helpers/identity.h"
#include "tests/helpers/host_peers.h"
#include "tests/helpers/sandbox_fixture.h"

namespace sandgate::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kChoices = "[c]ancel sandbox? ";
constexpr std::chrono::seconds kTimeout{60};  // a safety net against hangs, not an assertion

std::vector<char*> CArgv(std::vector<std::string>& argv) {
  std::vector<char*> out;
  out.reserve(argv.size() + 1);
  for (auto& a : argv) out.push_back(a.data());
  out.push_back(nullptr);
  return out;
}

// One process in a new session whose controlling terminal and stdio are a fresh pty.
class PtyProcess {
 public:
  explicit PtyProcess(std::vector<std::string> argv) : argv_(AsCellIdentity(std::move(argv))) {
    std::vector<char*> cargv = CArgv(argv_);  // built before the fork: only exec after it
    TestAccount account;
    std::string why;
    const bool known = CellAccount(&account, &why);
    pid_ = ::forkpty(&master_, nullptr, nullptr, nullptr);
    if (pid_ == 0) {
      // The terminal is the cell's account's, as a login would make it: else /dev/tty could
      // not be opened in the user cell.
      if (known && ::fchown(STDIN_FILENO, account.uid, account.gid) != 0) _exit(126);
      if (::chdir(kSandgateCwd) != 0) _exit(126);
      ::execv(cargv[0], cargv.data());
      _exit(127);
    }
    if (master_ >= 0) ::fcntl(master_, F_SETFL, ::fcntl(master_, F_GETFL) | O_NONBLOCK);
  }
  ~PtyProcess() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (master_ >= 0) ::close(master_);
  }
  PtyProcess(const PtyProcess&) = delete;
  PtyProcess& operator=(const PtyProcess&) = delete;

  [[nodiscard]] bool Started() const { return pid_ > 0 && master_ >= 0; }
  [[nodiscard]] const std::string& Output() const { return output_; }

  // Reads until `done` holds, the terminal closes (every process holding it exited), or time
  // runs out. Returns whether `done` held.
  template <typename Done>
  bool ReadUntil(Done done) {
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    while (!done()) {
      if (closed_ || std::chrono::steady_clock::now() > deadline) return false;
      pollfd p{master_, POLLIN, 0};
      if (::poll(&p, 1, 100) < 0 && errno != EINTR) return false;
      char buffer[4096];
      const ssize_t n = ::read(master_, buffer, sizeof buffer);
      if (n > 0) {
        output_.append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        closed_ = true;  // EIO: the last slave fd is gone
      }
    }
    return true;
  }

  void Type(std::string_view text) {
    ASSERT_EQ(::write(master_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }

  // Answers the question about `wanted` with `key`, declining any other question before it.
  bool Answer(const std::string& wanted, std::string_view key) {
    std::size_t from = 0;
    while (true) {
      std::size_t prompt = std::string::npos;
      if (!ReadUntil(
              [&] { return (prompt = output_.find(kChoices, from)) != std::string::npos; })) {
        return false;
      }
      const bool is_wanted = output_.substr(from, prompt - from).find(wanted) != std::string::npos;
      from = prompt + kChoices.size();
      Type(is_wanted ? key : "n\n");
      if (is_wanted) return true;
    }
  }

  // Reads everything until the process exits; its exit code (-1 when killed by a signal).
  int Wait() {
    (void)ReadUntil([] { return false; });
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) ::kill(pid_, SIGKILL);
      ::poll(nullptr, 0, 10);
    }
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  std::vector<std::string> argv_;
  pid_t pid_ = -1;
  int master_ = -1;
  bool closed_ = false;
  bool reaped_ = false;
  std::string output_;
};

class TtyTest : public SandboxTest {
 protected:
  std::vector<std::string> Sandgate(std::vector<std::string> options,
                                    std::vector<std::string> probe_args) {
    std::vector<std::string> argv = {SandgateBinary(), "run", "--network", "approve"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back("--");
    argv.push_back(ProbeBinary());
    argv.insert(argv.end(), probe_args.begin(), probe_args.end());
    return argv;
  }
  std::string Wanted() const { return "wants tcp 127.0.0.1:" + listener_.Port(); }

  HostTcpListener listener_;
};

TEST_F(TtyTest, YesAtTheTerminalConnects) {
  // No --approvals: with a terminal on stdin the default is to ask there.
  PtyProcess run(Sandgate({}, {"connect", "127.0.0.1", listener_.Port()}));
  ASSERT_TRUE(run.Started()) << std::strerror(errno);
  ASSERT_TRUE(run.Answer(Wanted(), "y\n")) << run.Output();
  EXPECT_THAT(run.Output(), HasSubstr("sandbox_probe (pid "));
  EXPECT_EQ(run.Wait(), 0) << run.Output();
  EXPECT_THAT(run.Output(), HasSubstr("\nok\r\n"));
  EXPECT_EQ(listener_.Accepted(), 1);
}

TEST_F(TtyTest, TheCommandCannotTypeIntoTheCallersTerminal) {
  // Started from a terminal, whose slave is the command's stdin: in a session of its own the
  // command has no controlling terminal, so TIOCSTI cannot push keys into the caller's shell,
  // and /dev/tty opens nothing.
  PtyProcess run({SandgateBinary(), "run", "--network", "off", "--", ProbeBinary(), "tiocsti"});
  ASSERT_TRUE(run.Started()) << std::strerror(errno);
  EXPECT_EQ(run.Wait(), 1) << run.Output();
  EXPECT_THAT(run.Output(), ::testing::AnyOf(HasSubstr("err EPERM"), HasSubstr("err EIO")));
  PtyProcess tty({SandgateBinary(), "run", "--network", "off", "--", ProbeBinary(), "read", "/dev/tty"});
  ASSERT_TRUE(tty.Started()) << std::strerror(errno);
  EXPECT_EQ(tty.Wait(), 1) << tty.Output();
  EXPECT_THAT(tty.Output(), HasSubstr("err ENXIO"));
}

TEST_F(TtyTest, NoAtTheTerminalRefuses) {
  PtyProcess run(Sandgate({"--approvals", "tty"}, {"connect", "127.0.0.1", listener_.Port()}));
  ASSERT_TRUE(run.Started()) << std::strerror(errno);
  ASSERT_TRUE(run.Answer(Wanted(), "n\n")) << run.Output();
  EXPECT_EQ(run.Wait(), 1) << run.Output();
  EXPECT_THAT(run.Output(), HasSubstr("err EPERM"));
  EXPECT_EQ(listener_.Accepted(), 0);
}

TEST_F(TtyTest, WithoutATerminalOnStdinNobodyIsAsked) {
  // RunProbe gives the command /dev/null as stdin: the default is auto-deny, at once.
  auto r = RunProbe({"--network", "approve"}, {"connect", "127.0.0.1", listener_.Port()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out, "err EPERM\n");
  EXPECT_THAT(r.err, Not(HasSubstr("wants tcp")));
  EXPECT_EQ(listener_.Accepted(), 0);
}

TEST_F(TtyTest, ExplicitTtyWithoutATerminalIsAnError) {
  // A new session has no controlling terminal, so /dev/tty cannot be opened.
  std::vector<std::string> argv =
      AsCellIdentity(Sandgate({"--approvals", "tty"}, {"connect", "127.0.0.1", "1"}));
  std::vector<char*> cargv = CArgv(argv);
  int err[2];
  ASSERT_EQ(::pipe2(err, O_CLOEXEC), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setsid();
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(err[1], STDERR_FILENO);
    if (::chdir(kSandgateCwd) != 0) _exit(126);
    ::execv(cargv[0], cargv.data());
    _exit(127);
  }
  ::close(err[1]);
  std::string stderr_text;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = ::read(err[0], buffer, sizeof buffer)) > 0) {
    stderr_text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(err[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 125);
  EXPECT_EQ(stderr_text, "sandgate: --approvals tty: no terminal (/dev/tty: " +
                             std::string(std::strerror(ENXIO)) + ")\n");
}

}  // namespace
}  // namespace sandgate::testing
