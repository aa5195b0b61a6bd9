// --approvals tty with the real sandgate binary under a pseudo-terminal (its stdin, stdout,
// stderr and controlling terminal, as when a person starts it from a shell): the question
// appears on the terminal, the one key typed there decides, a real host listener shows the
// effect, and the terminal's mode is as it was once sandgate has gone, however it went.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/helpers/host_peers.h"
#include "tests/helpers/identity.h"
#include "tests/helpers/sandbox_fixture.h"

namespace sandgate::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kChoices = "[c] cancel sandbox? ";
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
    if (held_slave_ >= 0) ::close(held_slave_);
    if (master_ >= 0) ::close(master_);
  }
  PtyProcess(const PtyProcess&) = delete;
  PtyProcess& operator=(const PtyProcess&) = delete;

  [[nodiscard]] bool Started() const { return pid_ > 0 && master_ >= 0; }
  [[nodiscard]] const std::string& Output() const { return output_; }
  [[nodiscard]] pid_t Pid() const { return pid_; }

  // Keeps the terminal open from this side too, so that its mode outlives sandgate (a devpts
  // terminal is reset when its last user closes it, which would hide a mode left behind), as a
  // shell keeps its own terminal open.
  bool HoldTerminal() {
    const char* name = ::ptsname(master_);
    if (name != nullptr) held_slave_ = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    return held_slave_ >= 0;
  }

  // The terminal's mode as the slave side sees it, read through the master (zero-initialized,
  // so that two modes compare byte for byte).
  [[nodiscard]] termios Mode() const {
    termios mode;
    std::memset(&mode, 0, sizeof mode);
    EXPECT_EQ(::tcgetattr(master_, &mode), 0) << std::strerror(errno);
    return mode;
  }

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

  // Waits until the question about `wanted` is shown, declining any other question before it.
  bool WaitForQuestion(const std::string& wanted) {
    while (true) {
      std::size_t prompt = std::string::npos;
      if (!ReadUntil([&] {
            return (prompt = output_.find(kChoices, asked_up_to_)) != std::string::npos;
          })) {
        return false;
      }
      const bool is_wanted =
          output_.substr(asked_up_to_, prompt - asked_up_to_).find(wanted) != std::string::npos;
      asked_up_to_ = prompt + kChoices.size();
      if (is_wanted) return true;
      Type("n");
    }
  }

  // Answers the question about `wanted` with `key` (one key, no Enter).
  bool Answer(const std::string& wanted, std::string_view key) {
    if (!WaitForQuestion(wanted)) return false;
    Type(key);
    return true;
  }

  // Reads everything until the process exits; its exit code (-1 when killed by a signal). With
  // HoldTerminal, `mode_after_exit` receives the terminal's mode once the process has exited.
  int Wait(termios* mode_after_exit = nullptr) {
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    if (held_slave_ >= 0) {
      // The terminal does not close while it is held: wait for the process itself.
      while (::waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) ::kill(pid_, SIGKILL);
        const auto soon = std::chrono::steady_clock::now() + std::chrono::milliseconds(10);
        (void)ReadUntil([&] { return std::chrono::steady_clock::now() > soon; });
      }
      reaped_ = true;
      if (mode_after_exit != nullptr) *mode_after_exit = Mode();
      ::close(held_slave_);
      held_slave_ = -1;
      (void)ReadUntil([] { return false; });
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    (void)ReadUntil([] { return false; });
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
  int held_slave_ = -1;
  bool closed_ = false;
  bool reaped_ = false;
  std::size_t asked_up_to_ = 0;  // output before this holds questions already seen
  std::string output_;
};

bool SameMode(const termios& a, const termios& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Keys one by one, unechoed, signals on.
bool IsQuestionMode(const termios& mode) {
  return (mode.c_lflag & (ICANON | ECHO)) == 0 && (mode.c_lflag & ISIG) != 0 &&
         mode.c_cc[VMIN] == 1;
}

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

  struct Ending {
    int exit_code = -1;
    bool mode_restored = false;  // the terminal's mode after sandgate exited was the one before
    std::string output;
  };

  // Runs sandgate under a terminal that this test holds too, waits until it asks about a connect
  // to the listener (in the question's mode), lets `end` end the question, and waits for
  // sandgate to exit.
  Ending WhenAsked(const std::function<void(PtyProcess&)>& end) {
    Ending ending;
    PtyProcess run(Sandgate({"--approvals", "tty"}, {"connect", "127.0.0.1", listener_.Port()}));
    if (!run.Started() || !run.HoldTerminal()) {
      ADD_FAILURE() << "no terminal: " << std::strerror(errno);
      return ending;
    }
    const termios before = run.Mode();
    if (!run.WaitForQuestion(Wanted()) || !IsQuestionMode(run.Mode())) {
      ADD_FAILURE() << "not asked in the question's mode: " << run.Output();
      return ending;
    }
    end(run);
    termios after{};
    ending.exit_code = run.Wait(&after);
    ending.mode_restored = SameMode(after, before);
    ending.output = run.Output();
    return ending;
  }

  HostTcpListener listener_;
};

TEST_F(TtyTest, YesAtTheTerminalConnects) {
  // No --approvals: with a terminal on stdin the default is to ask there.
  PtyProcess run(Sandgate({}, {"connect", "127.0.0.1", listener_.Port()}));
  ASSERT_TRUE(run.Started()) << std::strerror(errno);
  ASSERT_TRUE(run.Answer(Wanted(), "y")) << run.Output();
  EXPECT_THAT(run.Output(), HasSubstr("sandbox_probe (pid "));
  EXPECT_EQ(run.Wait(), 0) << run.Output();
  EXPECT_THAT(run.Output(), HasSubstr("cancel sandbox? allow once\r\n"));
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
  PtyProcess tty(
      {SandgateBinary(), "run", "--network", "off", "--", ProbeBinary(), "read", "/dev/tty"});
  ASSERT_TRUE(tty.Started()) << std::strerror(errno);
  EXPECT_EQ(tty.Wait(), 1) << tty.Output();
  EXPECT_THAT(tty.Output(), HasSubstr("err ENXIO"));
}

TEST_F(TtyTest, NoAtTheTerminalRefuses) {
  PtyProcess run(Sandgate({"--approvals", "tty"}, {"connect", "127.0.0.1", listener_.Port()}));
  ASSERT_TRUE(run.Started()) << std::strerror(errno);
  ASSERT_TRUE(run.Answer(Wanted(), "n")) << run.Output();
  EXPECT_EQ(run.Wait(), 1) << run.Output();
  EXPECT_THAT(run.Output(), HasSubstr("err EPERM"));
  EXPECT_EQ(listener_.Accepted(), 0);
}

TEST_F(TtyTest, TheTerminalsModeIsBackAfterAnAnswer) {
  const Ending ending = WhenAsked([](PtyProcess& run) { run.Type("y"); });
  EXPECT_EQ(ending.exit_code, 0) << ending.output;
  EXPECT_TRUE(ending.mode_restored);
  EXPECT_EQ(listener_.Accepted(), 1);
}

TEST_F(TtyTest, SigtermWhileAskingPutsTheModeBack) {
  // sandgate forwards the signal to the command, which dies of it while its connect waits.
  const Ending ending =
      WhenAsked([](PtyProcess& run) { ASSERT_EQ(::kill(run.Pid(), SIGTERM), 0); });
  EXPECT_EQ(ending.exit_code, 128 + SIGTERM) << ending.output;
  EXPECT_TRUE(ending.mode_restored);
  EXPECT_THAT(ending.output, HasSubstr("withdrawn"));
  EXPECT_EQ(listener_.Accepted(), 0);
}

TEST_F(TtyTest, CtrlCWhileAskingStillSignalsAndPutsTheModeBack) {
  // ^C: the question's mode keeps ISIG, so this is SIGINT, not a key.
  const Ending ending = WhenAsked([](PtyProcess& run) { run.Type("\x03"); });
  EXPECT_EQ(ending.exit_code, 128 + SIGINT) << ending.output;
  EXPECT_TRUE(ending.mode_restored);
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
