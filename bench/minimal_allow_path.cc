// minimal_allow_path: the cost floor of sandgate's allow path, measured rather than assumed.
//
// It implements only the mechanism an allowed connect cannot do without, with no policy, no
// event loop, no logging and no project library:
//   child:  unshare(CLONE_NEWNET) (so that a direct connect could not reach the host; as an
//           ordinary user with CLONE_NEWUSER too),
//           no_new_privs, a hand-written classic BPF filter (no libseccomp) that returns
//           SECCOMP_RET_USER_NOTIF for connect, ALLOW for everything else and kills on a foreign
//           architecture or the x32 bit; the listener goes to the parent over a socketpair
//           (SCM_RIGHTS); then the very loop of `sandbox_probe connect-bench`.
//   parent: poll, SECCOMP_IOCTL_NOTIF_RECV, process_vm_readv of the sockaddr,
//           SECCOMP_IOCTL_NOTIF_ID_VALID, socket + blocking connect in the host namespace,
//           SECCOMP_IOCTL_NOTIF_ADDFD with SETFD at the child's fd number, close, then
//           SECCOMP_IOCTL_NOTIF_SEND with val 0.
//
// Why not SECCOMP_ADDFD_FLAG_SEND (one ioctl instead of two): it answers the notification with
// the *installed fd number* as the syscall's return value. That is right for open/accept, but
// connect must return 0, so the command's connect would return e.g. 3. `--addfd-send` measures
// it anyway (the child then accepts its own fd number as success) as a lower bound only.
// `--sync-wakeup` sets SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6) on the listener.
//
// Usage:  minimal_allow_path [--addfd-send] [--sync-wakeup] connect-bench N ADDRESS PORT [WORK_US]
//         (WORK_US: microseconds of busy work before each connect, untimed)
// Output: like `sandbox_probe connect-bench`: the median connect+close cost in ns on stdout
//         (printed by the child), or "err ENAME" and exit 1. Exit 0 only if every connect was
//         served; otherwise (or with MINIMAL_ALLOW_PATH_VERBOSE set) the variant and the number
//         of connects served go to stderr.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

#include "tests/helpers/busy_work.h"

// Kernel ABI constants newer than the installed uapi headers (Debian 12 ships 6.1's).
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

namespace {

#if defined(__x86_64__)
constexpr std::uint32_t kArch = AUDIT_ARCH_X86_64;
constexpr bool kCheckX32 = true;
#elif defined(__aarch64__)
constexpr std::uint32_t kArch = AUDIT_ARCH_AARCH64;
constexpr bool kCheckX32 = false;
#else
#error "minimal_allow_path: add the audit arch of this machine"
#endif

bool g_addfd_send = false;  // set before fork; the child reads its copy

int ReportErrno(const char* what) {
  const char* name = strerrorname_np(errno);
  std::printf("err %s\n", name ? name : "?");
  std::fflush(stdout);
  std::fprintf(stderr, "minimal_allow_path: %s: %s\n", what, std::strerror(errno));
  return 1;
}

constexpr sock_filter Stmt(std::uint16_t code, std::uint32_t k) { return {code, 0, 0, k}; }
constexpr sock_filter Jump(std::uint16_t code, std::uint32_t k, std::uint8_t jt, std::uint8_t jf) {
  return {code, jt, jf, k};
}

// connect -> USER_NOTIF; any other native syscall -> ALLOW; other arch or x32 -> KILL_PROCESS.
int InstallFilter() {
  constexpr std::uint16_t kLoad = BPF_LD | BPF_W | BPF_ABS;
  constexpr std::uint16_t kJeq = BPF_JMP | BPF_JEQ | BPF_K;
  constexpr std::uint16_t kJge = BPF_JMP | BPF_JGE | BPF_K;
  constexpr std::uint16_t kRet = BPF_RET | BPF_K;
  const sock_filter program[] = {
      /* 0 */ Stmt(kLoad, offsetof(seccomp_data, arch)),
      /* 1 */ Jump(kJeq, kArch, 1, 0),
      /* 2 */ Stmt(kRet, SECCOMP_RET_KILL_PROCESS),
      /* 3 */ Stmt(kLoad, offsetof(seccomp_data, nr)),
      // x32 syscalls share the x86_64 audit arch; they are told apart by bit 30 of the number.
      /* 4 */ Jump(kJge, kCheckX32 ? 0x40000000U : 0xffffffffU, 0, 1),
      /* 5 */ Stmt(kRet, SECCOMP_RET_KILL_PROCESS),
      /* 6 */ Jump(kJeq, static_cast<std::uint32_t>(SYS_connect), 0, 1),
      /* 7 */ Stmt(kRet, SECCOMP_RET_USER_NOTIF),
      /* 8 */ Stmt(kRet, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(sizeof program / sizeof program[0]);
  prog.filter = const_cast<sock_filter*>(program);
  return static_cast<int>(
      ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog));
}

int SendFd(int channel, int fd) {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return ::sendmsg(channel, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

int ReceiveFd(int channel) {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  if (::recvmsg(channel, &msg, MSG_CMSG_CLOEXEC) != 1) return -1;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c == nullptr || c->cmsg_type != SCM_RIGHTS) {
    errno = EPROTO;
    return -1;
  }
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

// The same loop as `sandbox_probe connect-bench`: N x (socket, connect, close), each timed,
// after `work_us` of untimed work.
int ConnectBench(int n, const char* address, const char* port, int work_us) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(std::atoi(port)));
  inet_pton(AF_INET, address, &sa.sin_addr);
  std::vector<long> ns;
  for (int i = 0; i < n; ++i) {
    if (work_us > 0) sandgate::testing::BusyWork(work_us);
    timespec a{}, b{};
    clock_gettime(CLOCK_MONOTONIC, &a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
    close(fd);
    clock_gettime(CLOCK_MONOTONIC, &b);
    // With ADDFD_FLAG_SEND the kernel makes connect return the installed fd number.
    if (g_addfd_send && rc == fd) rc = 0;
    if (rc != 0) return ReportErrno("connect");
    ns.push_back((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec));
  }
  if (ns.empty()) return 0;
  std::sort(ns.begin(), ns.end());
  std::printf("%ld\n", ns[ns.size() / 2]);
  std::fflush(stdout);
  return 0;
}

[[noreturn]] void Child(int channel, int n, const char* address, const char* port, int work_us) {
  // An ordinary user gets a network namespace only together with a user namespace of its own,
  // as bubblewrap's sandboxes have.
  if (::unshare(CLONE_NEWNET) != 0 &&
      (errno != EPERM || ::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0)) {
    _exit(ReportErrno("unshare(CLONE_NEWNET)"));
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(ReportErrno("prctl(NO_NEW_PRIVS)"));
  int listener = InstallFilter();
  if (listener < 0) _exit(ReportErrno("seccomp(SET_MODE_FILTER, NEW_LISTENER)"));
  if (SendFd(channel, listener) != 0) _exit(ReportErrno("sendmsg(SCM_RIGHTS)"));
  close(listener);
  close(channel);
  _exit(ConnectBench(n, address, port, work_us));
}

// Answers one notification. Returns false only on an error of the mechanism itself.
bool Serve(int listener, void* buffer, std::size_t size, long* served) {
  std::memset(buffer, 0, size);  // the kernel insists on a zeroed buffer
  if (::ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, buffer) != 0) {
    return errno == EINTR || errno == ENOENT;  // interrupted, or the caller went away
  }
  seccomp_notif notif;
  std::memcpy(&notif, buffer, sizeof notif);
  seccomp_notif_resp resp{};
  resp.id = notif.id;
  auto answer_error = [&](int error) {
    resp.val = -1;
    resp.error = -error;
    ::ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    return true;
  };
  if (notif.data.nr != SYS_connect) return answer_error(ENOSYS);
  sockaddr_in sa{};
  if (notif.data.args[2] != sizeof sa) return answer_error(EAFNOSUPPORT);
  iovec local{&sa, sizeof sa};
  iovec remote{reinterpret_cast<void*>(notif.data.args[1]), sizeof sa};
  if (::process_vm_readv(static_cast<pid_t>(notif.pid), &local, 1, &remote, 1, 0) !=
      static_cast<ssize_t>(sizeof sa)) {
    return answer_error(EFAULT);
  }
  // What was read belongs to the still-waiting syscall only if the id is still valid now.
  if (::ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &notif.id) != 0) return true;
  if (sa.sin_family != AF_INET) return answer_error(EAFNOSUPPORT);

  int host = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (host < 0) return answer_error(errno);
  if (::connect(host, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    int error = errno;
    close(host);
    return answer_error(error);
  }
  seccomp_notif_addfd addfd{};
  addfd.id = notif.id;
  addfd.flags = SECCOMP_ADDFD_FLAG_SETFD | (g_addfd_send ? SECCOMP_ADDFD_FLAG_SEND : 0);
  addfd.srcfd = static_cast<std::uint32_t>(host);
  addfd.newfd = static_cast<std::uint32_t>(notif.data.args[0]);
  addfd.newfd_flags = O_CLOEXEC;  // the loop's sockets are SOCK_CLOEXEC
  int installed = ::ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
  int error = errno;
  close(host);
  if (installed < 0) {
    if (error == ENOENT) return true;  // the caller was interrupted or is gone
    std::fprintf(stderr, "minimal_allow_path: SECCOMP_IOCTL_NOTIF_ADDFD: %s\n",
                 std::strerror(error));
    answer_error(error);
    return false;
  }
  if (!g_addfd_send) {
    resp.val = 0;
    resp.error = 0;
    if (::ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0 && errno != ENOENT) {
      std::fprintf(stderr, "minimal_allow_path: SECCOMP_IOCTL_NOTIF_SEND: %s\n",
                   std::strerror(errno));
      return false;
    }
  }
  ++*served;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  bool sync_wakeup = false;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    if (std::strcmp(argv[i], "--addfd-send") == 0) {
      g_addfd_send = true;
    } else if (std::strcmp(argv[i], "--sync-wakeup") == 0) {
      sync_wakeup = true;
    } else {
      break;
    }
  }
  if ((argc - i != 4 && argc - i != 5) || std::strcmp(argv[i], "connect-bench") != 0) {
    std::fprintf(stderr,
                 "usage: %s [--addfd-send] [--sync-wakeup] connect-bench N ADDRESS PORT [WORK_US]\n",
                 argv[0]);
    return 2;
  }
  const int n = std::atoi(argv[i + 1]);
  const int work_us = argc - i == 5 ? std::atoi(argv[i + 4]) : 0;

  int channel[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel) != 0) {
    return ReportErrno("socketpair");
  }
  std::fflush(stdout);
  pid_t child = ::fork();
  if (child < 0) return ReportErrno("fork");
  if (child == 0) {
    close(channel[0]);
    Child(channel[1], n, argv[i + 2], argv[i + 3], work_us);
  }
  close(channel[1]);
  int listener = ReceiveFd(channel[0]);
  close(channel[0]);
  bool ok = listener >= 0;
  if (!ok) std::fprintf(stderr, "minimal_allow_path: no listener from the child\n");

  if (ok && sync_wakeup) {
    std::uint64_t flags = SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP;
    if (::ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags) != 0) {
      std::fprintf(stderr, "minimal_allow_path: NOTIF_SET_FLAGS(SYNC_WAKE_UP): %s\n",
                   std::strerror(errno));
      ok = false;
    }
  }
  long served = 0;
  if (ok) {
    seccomp_notif_sizes sizes{};
    if (::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) {
      std::fprintf(stderr, "minimal_allow_path: SECCOMP_GET_NOTIF_SIZES: %s\n",
                   std::strerror(errno));
      ok = false;
    }
    std::vector<unsigned char> buffer(
        std::max<std::size_t>(sizes.seccomp_notif, sizeof(seccomp_notif)));
    while (ok) {
      pollfd p{listener, POLLIN, 0};
      if (::poll(&p, 1, -1) < 0) {
        if (errno == EINTR) continue;
        std::fprintf(stderr, "minimal_allow_path: poll: %s\n", std::strerror(errno));
        ok = false;
        break;
      }
      if (p.revents & POLLIN) {
        ok = Serve(listener, buffer.data(), buffer.size(), &served);
      } else if (p.revents & (POLLHUP | POLLERR)) {
        break;  // no task uses the filter any more: the child has exited
      }
    }
  }
  if (!ok) ::kill(child, SIGKILL);
  if (listener >= 0) close(listener);

  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  const bool complete = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0 && served == n;
  if (!complete || std::getenv("MINIMAL_ALLOW_PATH_VERBOSE") != nullptr) {
    std::fprintf(stderr, "minimal_allow_path: variant %s%s, %ld of %d connects served\n",
                 g_addfd_send ? "ADDFD(SETFD|SEND)" : "ADDFD(SETFD) + NOTIF_SEND(val 0)",
                 sync_wakeup ? " + SYNC_WAKE_UP" : "", served, n);
  }
  if (WIFSIGNALED(status)) {
    std::fprintf(stderr, "minimal_allow_path: child killed by signal %d\n", WTERMSIG(status));
    return 1;
  }
  const int child_rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  if (!ok || child_rc != 0) return child_rc != 0 ? child_rc : 1;
  return served == n ? 0 : 1;
}
