#include "pipelines/legacy_stage.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "base/unique_fd.h"
#include "pipelines/landlock.h"

namespace sandgate::pipelines {
namespace {

constexpr int kExitSetupFailed = 125;

int Failed(std::string* failure, const std::string& what) {
  *failure = what + ": " + std::strerror(errno);
  return kExitSetupFailed;
}

// Async-signal-safe: no allocation (the user namespace probe runs it in a forked child).
bool WriteFile(const char* path, const char* content, std::size_t length) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool written = ::write(fd, content, length) == static_cast<ssize_t>(length);
  const int error = errno;
  ::close(fd);
  errno = error;
  return written;
}

// "ID ID 1\n" into `out`; returns its length.
std::size_t IdentityMapLine(unsigned id, char (&out)[48]) {
  char digits[16];
  std::size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + id % 10);
    id /= 10;
  } while (id != 0);
  std::size_t length = 0;
  for (int copy = 0; copy < 2; ++copy) {
    for (std::size_t i = n; i > 0; --i) out[length++] = digits[i - 1];
    out[length++] = ' ';
  }
  out[length++] = '1';
  out[length++] = '\n';
  return length;
}

// The user stays who they are inside: uid and gid mapped to themselves, and setgroups denied
// (the kernel's condition for an unprivileged gid map, and the command may not shed groups that
// deny it access). Returns 0, or which write failed (1 setgroups, 2 uid_map, 3 gid_map) with
// errno set. Async-signal-safe.
int WriteIdentityMaps(uid_t uid, gid_t gid) {
  char line[48];
  if (!WriteFile("/proc/self/setgroups", "deny", 4)) return 1;
  if (!WriteFile("/proc/self/uid_map", line, IdentityMapLine(uid, line))) return 2;
  if (!WriteFile("/proc/self/gid_map", line, IdentityMapLine(gid, line))) return 3;
  return 0;
}

int MapUserToItself(uid_t uid, gid_t gid, std::string* failure) {
  static constexpr const char* kFiles[] = {"", "/proc/self/setgroups", "/proc/self/uid_map",
                                           "/proc/self/gid_map"};
  if (int which = WriteIdentityMaps(uid, gid); which != 0) {
    return Failed(failure, std::string("write ") + kFiles[which]);
  }
  return 0;
}

// kOrphansToo: a PID namespace's init, to which every orphan of the sandbox is reparented.
enum class Reap { kChildOnly, kOrphansToo };

// Waits for `child` and turns its end into an exit status the way bwrap does (128 + signal).
int WaitAndPassOn(pid_t child, Reap reap) {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(reap == Reap::kOrphansToo ? -1 : child, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      return kExitSetupFailed;  // ECHILD: cannot happen while `child` is ours
    }
    if (pid != child) continue;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  }
}

// Flags a read-only remount must keep: in a user namespace, dropping a locked nosuid, nodev or
// noexec of the underlying mount is refused.
unsigned long KeptFlags(const char* path) {
  struct statvfs_flags {
    unsigned long st;
    unsigned long ms;
  };
  static constexpr statvfs_flags kFlags[] = {
      {ST_NOSUID, MS_NOSUID},     {ST_NODEV, MS_NODEV},         {ST_NOEXEC, MS_NOEXEC},
      {ST_NOATIME, MS_NOATIME},   {ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME},
  };
  struct statvfs info {};
  if (::statvfs(path, &info) != 0) return 0;
  unsigned long flags = 0;
  for (const auto& f : kFlags) {
    if ((info.f_flag & f.st) != 0) flags |= f.ms;
  }
  return flags;
}

// The mount plan. Every source is opened before the first mount, so that a bind takes the
// directory as the host has it and not as an earlier mount of the plan shows it: a writable root
// inside a protected path (`-w repo/.git/hooks`) binds the writable original, as bwrap does.
int CarryOutMounts(const std::vector<PlannedMount>& mounts, std::string* failure) {
  std::vector<base::UniqueFd> sources;
  sources.reserve(mounts.size());
  for (const auto& mount : mounts) {
    const char* source =
        mount.kind == MountKind::kDevNullReadOnly ? "/dev/null" : mount.path.c_str();
    base::UniqueFd fd(::open(source, O_PATH | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return Failed(failure, std::string("open ") + source);
    sources.push_back(std::move(fd));
  }
  for (std::size_t i = 0; i < mounts.size(); ++i) {
    const auto& mount = mounts[i];
    const std::string from = "/proc/self/fd/" + std::to_string(sources[i].Get());
    if (::mount(from.c_str(), mount.path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      return Failed(failure, "bind mount onto " + mount.path.string());
    }
    if (mount.kind == MountKind::kWritableBind) continue;
    // nodev as bwrap has it: /dev/null bound over a missing name must not open as a device on a
    // path Landlock lets the command write (a device on a read-only mount still opens for
    // writing); nosuid for good measure.
    const unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NODEV | MS_NOSUID |
                                KeptFlags(mount.path.c_str());
    if (::mount(nullptr, mount.path.c_str(), nullptr, flags, nullptr) != 0) {
      return Failed(failure, "remount read-only " + mount.path.string());
    }
  }
  return 0;
}

// A new network namespace has its loopback down; the sandbox's own servers and sandgate's DNS
// forwarder inside need it up.
int BringLoopbackUp(std::string* failure) {
  base::UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return Failed(failure, "socket for the loopback");
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(sock.Get(), SIOCGIFFLAGS, &request) != 0) return Failed(failure, "SIOCGIFFLAGS lo");
  request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
  if (::ioctl(sock.Get(), SIOCSIFFLAGS, &request) != 0) return Failed(failure, "SIOCSIFFLAGS lo");
  return 0;
}

// The terminals the command was handed (its stdin, stdout and the caller's stderr), which it may
// reopen by name (`> /dev/stderr`); other terminals of the user stay closed to it.
std::vector<std::filesystem::path> HandedTerminals(int stderr_fd) {
  std::vector<std::filesystem::path> terminals;
  for (int fd : {STDIN_FILENO, STDOUT_FILENO, stderr_fd}) {
    if (::isatty(fd) == 0) continue;
    char name[256];
    if (::ttyname_r(fd, name, sizeof name) == 0) terminals.emplace_back(name);
  }
  return terminals;
}

// Every capability gone, for good: the bounding set (so that exec as root gains nothing), the
// ambient set, and as root the securebits that would give them back.
int DropCapabilities(LegacyNamespaces namespaces, std::string* failure) {
  if (namespaces == LegacyNamespaces::kNone) return 0;  // an ordinary user has none to drop
  if (namespaces == LegacyNamespaces::kRoot) {
    const int bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                     SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED;
    if (::prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0) return Failed(failure, "PR_SET_SECUREBITS");
  }
  for (int cap = 0; cap < 64; ++cap) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      if (errno == EINVAL) break;  // past the kernel's last capability
      return Failed(failure, "PR_CAPBSET_DROP");
    }
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
    return Failed(failure, "PR_CAP_AMBIENT_CLEAR_ALL");
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capset, &header, data) != 0) return Failed(failure, "capset");
  return 0;
}

// In the command's process, last: nothing of the sandbox is changed after this.
int ConfineCommand(const LegacyStageArgs& args, int stderr_fd, std::string* failure) {
  // No controlling terminal: TIOCSTI could otherwise push keystrokes into the caller's shell.
  if (::setsid() < 0) return Failed(failure, "setsid");
  if (::chdir(args.chdir.c_str()) != 0) return Failed(failure, "chdir " + args.chdir);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Failed(failure, "PR_SET_NO_NEW_PRIVS");
  std::vector<std::filesystem::path> roots(args.writable_roots.begin(), args.writable_roots.end());
  const LandlockPlan plan = PlanLandlock(args.landlock_abi, roots, HandedTerminals(stderr_fd));
  if (auto applied = ApplyLandlock(plan); !applied) {
    *failure = "Landlock: " + applied.Err().Message();
    return kExitSetupFailed;
  }
  return DropCapabilities(args.namespaces, failure);
}

// The sandbox's init: builds the filesystem view, then starts the command's process and waits.
int RunInit(const LegacyStageArgs& args, NetworkMode network, int handoff_fd, int stderr_fd,
            std::string* failure) {
  // If the outer stage dies (the supervisor's SIGKILL), so does init, and with it the whole PID
  // namespace. The outer stage is killed only once the sandbox reported ready (SandboxChild defers
  // an earlier kill), long after this line.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Nothing mounted here may reach the host's mount tree.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return Failed(failure, "make / private");
  }
  if (int rc = CarryOutMounts(args.mounts, failure); rc != 0) return rc;
  if (network != NetworkMode::kOn) {
    if (int rc = BringLoopbackUp(failure); rc != 0) return rc;
  }
  if (args.proc &&
      ::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    // What the bwrap pipeline does too, when a container forbids a fresh /proc: say so and go on
    // with the host's, which shows the host's processes but not more than the user may see.
    const char message[] =
        "sandgate: mounting a fresh /proc failed; running without it (as with --no-proc)\n";
    (void)!::write(stderr_fd, message, sizeof message - 1);
  }
  const pid_t command = ::fork();
  if (command < 0) return Failed(failure, "fork the command's process");
  if (command == 0) return ConfineCommand(args, stderr_fd, failure) == 0 ? -1 : kExitSetupFailed;
  // Only the command's process talks to the supervisor from here, and its stderr is the
  // caller's: init keeps nothing the supervisor waits to see closed.
  ::close(handoff_fd);
  ::close(stderr_fd);
  return WaitAndPassOn(command, Reap::kOrphansToo);
}

}  // namespace

int EnterLegacySandbox(const LegacyStageArgs& args, NetworkMode network, int handoff_fd,
                       int stderr_fd, std::string* failure) noexcept {
  try {
    if (args.namespaces == LegacyNamespaces::kNone) {
      // A new session needs a process that leads no process group, and the stage leads its own
      // (spawn.cc): the command runs in a child, which dies with the stage as the stage dies
      // with sandgate.
      const pid_t stage = ::getpid();
      const pid_t command = ::fork();
      if (command < 0) return Failed(failure, "fork the command's process");
      if (command == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != stage) ::_exit(kExitSetupFailed);
        return ConfineCommand(args, stderr_fd, failure) == 0 ? -1 : kExitSetupFailed;
      }
      ::close(handoff_fd);
      ::close(stderr_fd);
      return WaitAndPassOn(command, Reap::kChildOnly);
    }
    int flags = CLONE_NEWNS | CLONE_NEWPID;
    if (network != NetworkMode::kOn) flags |= CLONE_NEWNET;
    const uid_t uid = ::getuid();
    const gid_t gid = ::getgid();
    if (args.namespaces == LegacyNamespaces::kUser) flags |= CLONE_NEWUSER;
    if (::unshare(flags) != 0) return Failed(failure, "unshare");
    if (args.namespaces == LegacyNamespaces::kUser) {
      if (int rc = MapUserToItself(uid, gid, failure); rc != 0) return rc;
    }
    const pid_t init = ::fork();
    if (init < 0) return Failed(failure, "fork the sandbox's init");
    if (init == 0) {
      const int rc = RunInit(args, network, handoff_fd, stderr_fd, failure);
      return rc;
    }
    ::close(handoff_fd);
    ::close(stderr_fd);
    return WaitAndPassOn(init, Reap::kChildOnly);
  } catch (const std::exception& e) {
    *failure = e.what();
    return kExitSetupFailed;
  }
}

base::Status ProbeUserNamespace() noexcept {
  const uid_t uid = ::getuid();
  const gid_t gid = ::getgid();
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return base::ErrnoError("pipe2");
  base::UniqueFd read_end(report[0]);
  base::UniqueFd write_end(report[1]);
  const pid_t child = ::fork();
  if (child < 0) return base::ErrnoError("fork");
  if (child == 0) {
    // Only async-signal-safe calls until _exit; the report is "step errno".
    int step = 0;
    int error = 0;
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
      step = 1;
    } else if (WriteIdentityMaps(uid, gid) != 0) {
      step = 2;
    } else if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      step = 3;
    }
    if (step != 0) error = errno;
    const int words[2] = {step, error};
    (void)!::write(write_end.Get(), words, sizeof words);
    ::_exit(0);
  }
  write_end.Reset();
  int words[2] = {-1, 0};
  ssize_t n;
  do {
    n = ::read(read_end.Get(), words, sizeof words);
  } while (n < 0 && errno == EINTR);
  while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (n != sizeof words) return base::Error{EPIPE, "user namespace probe died"};
  static constexpr const char* kSteps[] = {"", "unshare(CLONE_NEWUSER|CLONE_NEWNS)",
                                           "writing the uid/gid map",
                                           "making the mount tree private"};
  if (words[0] == 0) return base::Ok{};
  if (words[0] < 0 || words[0] > 3) return base::Error{EPROTO, "user namespace probe"};
  return base::Error{words[1], kSteps[words[0]]};
}

}  // namespace sandgate::pipelines
