#include "vendor/bubblewrap/run_capture.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <utility>

#include "base/unique_fd.h"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX declares it nowhere

namespace sandgate::bubblewrap {
namespace {

using base::UniqueFd;
using Clock = std::chrono::steady_clock;

// Raw syscalls rather than <sys/pidfd.h>: glibc 2.36 (Debian 12) declares those wrappers without
// extern "C", so C++ code can't link against them.
int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0U)); }

int PidfdKill(int pidfd) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0U));
}

// The parent's fds must stay off 0..2: the child dup2()s onto those numbers, which would clobber
// a pipe end that happened to get one of them (when sandgate was started with a closed stdio fd),
// and dup2(fd, fd) would leave FD_CLOEXEC set on it.
base::Status MoveAboveStdio(UniqueFd& fd) {
  if (fd.Get() > STDERR_FILENO) {
    return base::Ok{};
  }
  const int moved = fcntl(fd.Get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
  if (moved < 0) {
    return base::ErrnoError("fcntl(F_DUPFD_CLOEXEC)");
  }
  fd.Reset(moved);
  return base::Ok{};
}

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

base::Result<Pipe> MakePipe() {
  std::array<int, 2> fds{};
  if (pipe2(fds.data(), O_CLOEXEC) != 0) {
    return base::ErrnoError("pipe2(O_CLOEXEC)");
  }
  Pipe p{UniqueFd(fds[0]), UniqueFd(fds[1])};
  if (base::Status s = MoveAboveStdio(p.read); !s) {
    return s.Err();
  }
  if (base::Status s = MoveAboveStdio(p.write); !s) {
    return s.Err();
  }
  return p;
}

// Owns the forked child until it is reaped: every early return kills it through the pidfd (which,
// unlike kill(pid), cannot hit a recycled pid) and reaps it, so no error path leaves a zombie or
// a running process behind.
class Child {
 public:
  Child(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      PidfdKill(pidfd_.Get());
      (void)Reap();
    }
  }

  [[nodiscard]] int PidFd() const { return pidfd_.Get(); }

  // Waits for the child (blocking) and returns its wait status. Call once it has exited.
  base::Result<int> Reap() {
    const pid_t pid = std::exchange(pid_, -1);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) {
        return base::ErrnoError("waitpid(" + std::to_string(pid) + ")");
      }
    }
    return status;
  }

 private:
  pid_t pid_;
  UniqueFd pidfd_;
};

// Runs in the forked child: async-signal-safe calls only (the parent may have other threads whose
// locks were copied in whatever state they were in). Reports errno through `err_fd` (CLOEXEC, so
// a successful exec closes it and the parent reads EOF).
[[noreturn]] void ExecChild(int stdin_fd, int out_fd, int err_fd, char* const argv[]) {
  // A blocked signal mask survives execve; the helper should start with the default one.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (dup2(stdin_fd, STDIN_FILENO) >= 0 && dup2(out_fd, STDOUT_FILENO) >= 0 &&
      dup2(out_fd, STDERR_FILENO) >= 0) {
    execve(argv[0], argv, environ);
  }
  const int err = errno;
  if (write(err_fd, &err, sizeof err) < 0) {
    // Nothing left to report to; the parent sees exit status 127 without an errno.
  }
  _exit(127);
}

enum class ReadOutcome { kData, kNothingYet, kClosed };

// Appends what is readable now to `out` (up to kMaxCapturedBytes, the rest is dropped). A read
// error counts as closed: the child can't reach us through this pipe any more either way.
ReadOutcome ReadSome(int fd, std::string& out, std::size_t& total_read) {
  std::array<char, 4096> buf;  // NOLINT(cppcoreguidelines-pro-type-member-init): read fills it
  const ssize_t n = read(fd, buf.data(), buf.size());
  if (n < 0) {
    return errno == EINTR || errno == EAGAIN ? ReadOutcome::kNothingYet : ReadOutcome::kClosed;
  }
  if (n == 0) {
    return ReadOutcome::kClosed;
  }
  const auto got = static_cast<std::size_t>(n);
  total_read += got;
  const std::size_t room = kMaxCapturedBytes - out.size();
  out.append(buf.data(), got < room ? got : room);
  return ReadOutcome::kData;
}

std::string CommandLine(const std::filesystem::path& program,
                        const std::vector<std::string>& args) {
  std::string out = program.string();
  for (const std::string& arg : args) {
    out += ' ';
    out += arg;
  }
  return out;
}

}  // namespace

base::Result<CapturedRun> RunAndCapture(const std::filesystem::path& program,
                                        const std::vector<std::string>& args,
                                        std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;

  // Everything the child needs is prepared before fork: it may not allocate afterwards.
  std::vector<std::string> strings;
  strings.reserve(args.size() + 1);
  strings.push_back(program.string());
  strings.insert(strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(strings.size() + 1);
  for (std::string& s : strings) {
    argv.push_back(s.data());
  }
  argv.push_back(nullptr);

  UniqueFd dev_null(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!dev_null) {
    return base::ErrnoError("open(/dev/null)");
  }
  if (base::Status s = MoveAboveStdio(dev_null); !s) {
    return s.Err();
  }
  base::Result<Pipe> output = MakePipe();
  if (!output) {
    return output.Err();
  }
  base::Result<Pipe> exec_error = MakePipe();
  if (!exec_error) {
    return exec_error.Err();
  }

  const pid_t pid = fork();
  if (pid < 0) {
    return base::ErrnoError("fork()");
  }
  if (pid == 0) {
    ExecChild(dev_null.Get(), output->write.Get(), exec_error->write.Get(), argv.data());
  }
  // The child holds its own copies; ours must go, or the read ends would never see EOF.
  output->write.Reset();
  exec_error->write.Reset();
  dev_null.Reset();

  // pidfd_open on our own unreaped child can't race with pid reuse. sandgate needs Linux >= 5.9
  // for seccomp ADDFD anyway, so pidfd_open (5.3) is always there.
  UniqueFd pidfd(PidfdOpen(pid));
  if (!pidfd) {
    const base::Error err = base::ErrnoError("pidfd_open(" + std::to_string(pid) + ")");
    kill(pid, SIGKILL);  // Still unreaped, so the pid is still ours.
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return err;
  }
  Child child(pid, std::move(pidfd));

  CapturedRun run;
  std::size_t total_read = 0;
  bool output_open = true;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      // ~Child kills and reaps it.
      return base::Error{0, CommandLine(program, args) + ": timed out after " +
                                std::to_string(timeout.count()) + " ms (killed)"};
    }
    std::array<pollfd, 2> fds{};
    fds[0] = {output_open ? output->read.Get() : -1, POLLIN, 0};
    fds[1] = {child.PidFd(), POLLIN, 0};
    const int ready = poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (ready < 0) {
      if (errno == EINTR) {
        continue;
      }
      return base::ErrnoError("poll(output pipe, pidfd)");
    }
    if (output_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      output_open = ReadSome(output->read.Get(), run.output, total_read) != ReadOutcome::kClosed;
    }
    if ((fds[1].revents & POLLIN) != 0) {
      break;  // The child has exited.
    }
  }

  // All the child wrote is in the pipe now. Take what is there without blocking: a grandchild may
  // hold the write end open, and it is not ours to wait for. The byte budget keeps one that writes
  // without pause from pinning us here.
  if (output_open && fcntl(output->read.Get(), F_SETFL, O_NONBLOCK) == 0) {
    const std::size_t budget = total_read + kMaxCapturedBytes;
    while (total_read < budget &&
           ReadSome(output->read.Get(), run.output, total_read) == ReadOutcome::kData) {
    }
  }

  base::Result<int> status = child.Reap();
  if (!status) {
    return status.Err();
  }
  int exec_errno = 0;
  if (read(exec_error->read.Get(), &exec_errno, sizeof exec_errno) ==
      static_cast<ssize_t>(sizeof exec_errno)) {
    return base::Error{exec_errno, "execve(" + program.string() + ")"};
  }
  if (WIFEXITED(*status)) {
    run.exited = true;
    run.exit_code = WEXITSTATUS(*status);
  } else if (WIFSIGNALED(*status)) {
    run.term_signal = WTERMSIG(*status);
  }
  return run;
}

}  // namespace sandgate::bubblewrap
