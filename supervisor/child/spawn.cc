#include "supervisor/child/spawn.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <pthread.h>

#include <csignal>

extern char** environ;

namespace sandgate::supervisor {
namespace {

// Source fds are first copied above this so that the dup2 calls in the child cannot overwrite a
// source that happens to sit at one of the target numbers 2..4.
constexpr int kFirstHighFd = 10;

base::Result<base::UniqueFd> HighCopy(int fd) {
  base::UniqueFd copy(::fcntl(fd, F_DUPFD_CLOEXEC, kFirstHighFd));
  if (!copy) return base::ErrnoError("fcntl(F_DUPFD_CLOEXEC, " + std::to_string(fd) + ")");
  return copy;
}

// Runs in the vfork child: raw system calls only, no allocation, no return.
[[noreturn]] void ChildAfterFork(const char* path, char* const* argv, pid_t parent, int err_fd,
                                 const SpawnFds& fds) {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);  // fails harmlessly for KILL/STOP
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  auto fail = [err_fd]() {
    int err = errno;
    ssize_t unused = ::write(err_fd, &err, sizeof err);
    (void)unused;
    _exit(127);
  };
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail();
  if (getppid() != parent) _exit(125);  // sandgate died before the line above
  if (setpgid(0, 0) != 0) fail();
  if (dup2(fds.caller_stderr_fd, 4) < 0 || dup2(fds.stdin_fd, 0) < 0 ||
      dup2(fds.stdout_fd, 1) < 0 || dup2(fds.stderr_fd, 2) < 0 || dup2(fds.handoff_fd, 3) < 0) {
    fail();
  }
  if (syscall(SYS_close_range, 5U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) fail();
  execve(path, argv, environ);
  fail();
  _exit(127);
}

}  // namespace

base::Result<SpawnedProcess> SpawnBwrap(const std::filesystem::path& bwrap,
                                        const std::vector<std::string>& args, const SpawnFds& fds) {
  base::UniqueFd copies[5];
  const int sources[5] = {fds.stdin_fd, fds.stdout_fd, fds.stderr_fd, fds.handoff_fd,
                          fds.caller_stderr_fd};
  for (int i = 0; i < 5; ++i) {
    auto copy = HighCopy(sources[i]);
    if (!copy.Ok()) return copy.Err();
    copies[i] = std::move(copy.Value());
  }
  const SpawnFds high{copies[0].Get(), copies[1].Get(), copies[2].Get(), copies[3].Get(),
                      copies[4].Get()};

  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return base::ErrnoError("pipe2");
  base::UniqueFd err_read(err_pipe[0]);
  base::UniqueFd err_write(err_pipe[1]);

  // Everything the child needs is built before fork: it must not allocate.
  std::string path = bwrap.string();
  std::vector<std::string> full_args = {path};
  full_args.insert(full_args.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full_args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // vfork: the child borrows our memory until it execs, so no page tables are copied (a plain
  // fork of the supervisor measured several milliseconds of a ~4 ms sandbox start). All signals
  // stay blocked across it so that no handler of ours runs on the shared stack; the child resets
  // dispositions before unblocking (its handler table is its own: no CLONE_SIGHAND).
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  pid_t parent = ::getpid();
  pid_t pid = ::vfork();
  if (pid == 0) {
    ChildAfterFork(path.c_str(), argv.data(), parent, err_write.Get(), high);
  }
  int vfork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (pid < 0) return base::Error{vfork_errno, "vfork"};
  err_write.Reset();

  SpawnedProcess spawned;
  spawned.pid = pid;
  // The child is ours and not yet reaped, so the pid cannot have been reused.
  spawned.pidfd.Reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  int pidfd_errno = errno;

  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(err_read.Get(), &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  if (n == sizeof child_errno) {
    siginfo_t info{};
    ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED);
    return base::Error{child_errno, "execve(" + path + ")"};
  }
  if (!spawned.pidfd) {
    ::kill(pid, SIGKILL);
    siginfo_t info{};
    ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED);
    return base::Error{pidfd_errno, "pidfd_open(" + std::to_string(pid) + ")"};
  }
  return spawned;
}

}  // namespace sandgate::supervisor
