#include "supervisor/net/netns_helper.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/nsfs.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace sandgate::supervisor {
namespace {

// A new network namespace has exactly one interface, its loopback, always index 1.
constexpr int kLoopbackIndex = 1;

enum class Op : std::uint32_t { kSocket = 1, kAddLoopbackAddress = 2 };

constexpr std::chrono::seconds kReplyTimeout{5};

// One request, one reply, each a single SOCK_SEQPACKET message of fixed size: the child never
// allocates or parses anything variable.
struct Request {
  Op op;
  std::int32_t domain;
  std::int32_t type;
  std::int32_t protocol;
  std::uint32_t length;  // kSocket: bind to `address` when > 0
  sockaddr_storage address;
  std::int32_t family;  // kAddLoopbackAddress
  std::uint8_t bytes[16];
};

// Where the child failed to start, for the supervisor's one-line reason.
enum class Stage : std::int32_t { kNone = 0, kJoinUser, kJoinNet };

struct Reply {
  std::int32_t error;  // 0 or an errno; kSocket passes the fd with SCM_RIGHTS
  Stage stage;         // the first reply only: which step of joining failed
};

ssize_t SendReply(int channel, const Reply& reply, int fd) noexcept {
  iovec iov{const_cast<Reply*>(&reply), sizeof reply};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (fd >= 0) {
    std::memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  ssize_t n;
  do {
    n = ::sendmsg(channel, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n;
}

// The child's half of kSocket: 0 and the fd, or an errno.
int MakeSocket(const Request& request, int* out) noexcept {
  int fd = ::socket(request.domain, request.type | SOCK_CLOEXEC, request.protocol);
  if (fd < 0) return errno;
  if (request.length > 0) {
    if ((request.type & 0xf) == SOCK_STREAM) {
      int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    const socklen_t length =
        request.length > sizeof request.address ? sizeof request.address : request.length;
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&request.address), length) != 0) {
      const int error = errno;
      ::close(fd);
      return error;
    }
  }
  *out = fd;
  return 0;
}

// The child's half of kAddLoopbackAddress: one RTM_NEWADDR on a route socket made there, which
// needs CAP_NET_ADMIN over the namespace both when the socket is opened and when it is written
// (netlink checks the opener and the sender), so only the helper can do it.
int AddAddress(int* route, const Request& request) noexcept {
  const bool v4 = request.family == AF_INET;
  if (!v4 && request.family != AF_INET6) return EAFNOSUPPORT;
  if (*route < 0) {
    *route = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (*route < 0) return errno;
  }
  const std::size_t size = v4 ? 4 : 16;
  struct {
    nlmsghdr header;
    ifaddrmsg ifa;
    rtattr local_attr;
    std::uint8_t local[16];
  } message{};
  message.header.nlmsg_len =
      static_cast<std::uint32_t>(NLMSG_LENGTH(sizeof(ifaddrmsg)) + RTA_LENGTH(size));
  message.header.nlmsg_type = RTM_NEWADDR;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
  message.ifa.ifa_family = static_cast<unsigned char>(request.family);
  message.ifa.ifa_prefixlen = v4 ? 32 : 128;
  message.ifa.ifa_scope = RT_SCOPE_HOST;
  message.ifa.ifa_index = kLoopbackIndex;
  message.local_attr.rta_len = static_cast<unsigned short>(RTA_LENGTH(size));
  message.local_attr.rta_type = IFA_LOCAL;
  std::memcpy(message.local, request.bytes, size);
  if (::send(*route, &message, message.header.nlmsg_len, 0) < 0) return errno;
  alignas(nlmsghdr) char reply[1024];
  ssize_t n;
  do {
    n = ::recv(*route, reply, sizeof reply, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno;
  const auto* header = reinterpret_cast<const nlmsghdr*>(reply);
  if (static_cast<std::size_t>(n) < sizeof(nlmsghdr) + sizeof(nlmsgerr) ||
      header->nlmsg_type != NLMSG_ERROR) {
    return EPROTO;
  }
  const auto* error = reinterpret_cast<const nlmsgerr*>(reply + NLMSG_HDRLEN);
  return -error->error;
}

// The forked child. Async-signal-safe code only, and never returns.
[[noreturn]] void Serve(int channel, int userns, int netns, pid_t parent) noexcept {
  // Terminal signals go to sandgate's whole process group; sandgate decides when this ends.
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) ::sigaction(sig, &ignore, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  Reply ready{0, Stage::kNone};
  if (userns >= 0 && ::setns(userns, CLONE_NEWUSER) != 0) {
    ready = {errno, Stage::kJoinUser};
  } else if (::setns(netns, CLONE_NEWNET) != 0) {
    ready = {errno, Stage::kJoinNet};
  }
  // After the joins, which commit new credentials: die with the supervisor, and not be left
  // behind if it is gone already.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(0);
  if (SendReply(channel, ready, -1) < 0 || ready.error != 0) ::_exit(1);
  // Nothing of the supervisor's stays open here: not the command's pipes (whose EOF the
  // supervisor waits for), not the seccomp listener.
  if (channel > 0) ::close_range(0, static_cast<unsigned>(channel) - 1, 0);
  ::close_range(static_cast<unsigned>(channel) + 1, ~0U, 0);

  int route = -1;
  for (;;) {
    Request request;
    ssize_t n;
    do {
      n = ::recv(channel, &request, sizeof request, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) ::_exit(0);  // the supervisor closed its end
    Reply reply{EINVAL, Stage::kNone};
    int fd = -1;
    if (static_cast<std::size_t>(n) == sizeof request) {
      if (request.op == Op::kSocket) {
        reply.error = MakeSocket(request, &fd);
      } else if (request.op == Op::kAddLoopbackAddress) {
        reply.error = AddAddress(&route, request);
      }
    }
    SendReply(channel, reply, fd);
    if (fd >= 0) ::close(fd);
  }
}

bool SameNamespace(int a, int b) {
  struct stat sa {}, sb {};
  return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

void KillAndReap(int pidfd) noexcept {
  ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
  siginfo_t info{};
  while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED) != 0 &&
         errno == EINTR) {
  }
}

}  // namespace

base::Result<NetnsHelper> NetnsHelper::Start(const base::UniqueFd& netns) {
  // The namespace's owner, which is where the rights over it are. Joining the user namespace
  // one is in already is refused (EINVAL) and needless: root with the host's namespaces, or a
  // network namespace made without a user namespace, is entered directly.
  base::UniqueFd owner(::ioctl(netns.Get(), NS_GET_USERNS));
  if (!owner) return base::ErrnoError("ioctl(NS_GET_USERNS) on the sandbox's network namespace");
  base::UniqueFd own(::open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC));
  if (!own) return base::ErrnoError("open(/proc/self/ns/user)");
  const int join_user = SameNamespace(owner.Get(), own.Get()) ? -1 : owner.Get();

  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return base::ErrnoError("socketpair(namespace helper)");
  }
  base::UniqueFd channel(pair[0]);
  base::UniqueFd child_end(pair[1]);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return base::ErrnoError("fork(namespace helper)");
  if (pid == 0) Serve(child_end.Get(), join_user, netns.Get(), parent);
  child_end.Reset();
  base::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) {
    const int error = errno;
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return base::Error{error, "pidfd_open(namespace helper)"};
  }
  NetnsHelper helper(std::move(channel), std::move(pidfd));
  // The helper answers in microseconds; one that stopped (SIGSTOP, a debugger) must not freeze
  // the loop: its requests then fail instead.
  const timeval patience{kReplyTimeout.count(), 0};
  ::setsockopt(helper.channel_.Get(), SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
  Reply ready{};
  ssize_t n;
  do {
    n = ::recv(helper.channel_.Get(), &ready, sizeof ready, 0);
  } while (n < 0 && errno == EINTR);
  if (n != sizeof ready) return base::Error{EPIPE, "namespace helper died while starting"};
  if (ready.error != 0) {
    return base::Error{ready.error, ready.stage == Stage::kJoinUser
                                        ? "setns(the sandbox's user namespace)"
                                        : "setns(the sandbox's network namespace)"};
  }
  return helper;
}

NetnsHelper& NetnsHelper::operator=(NetnsHelper&& other) noexcept {
  if (this != &other) {
    Stop();
    channel_ = std::move(other.channel_);
    pidfd_ = std::move(other.pidfd_);
  }
  return *this;
}

NetnsHelper::~NetnsHelper() { Stop(); }

void NetnsHelper::Stop() noexcept {
  channel_.Reset();
  if (pidfd_) KillAndReap(pidfd_.Get());
  pidfd_.Reset();
}

namespace {

// One request and its reply; the fd the reply carries, if any, lands in `fd`.
int Call(int channel, const Request& request, base::UniqueFd* fd) noexcept {
  ssize_t n;
  do {
    n = ::send(channel, &request, sizeof request, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n != sizeof request) return EPIPE;
  Reply reply{};
  iovec iov{&reply, sizeof reply};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  do {
    n = ::recvmsg(channel, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n != sizeof reply) return EPIPE;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int received = -1;
      std::memcpy(&received, CMSG_DATA(c), sizeof received);
      if (fd != nullptr) {
        fd->Reset(received);
      } else {
        ::close(received);
      }
    }
  }
  return reply.error;
}

}  // namespace

base::Result<base::UniqueFd> NetnsHelper::Socket(int domain, int type, int protocol,
                                                 const sockaddr_storage* address,
                                                 socklen_t length) const {
  Request request{};
  request.op = Op::kSocket;
  request.domain = domain;
  request.type = type;
  request.protocol = protocol;
  if (address != nullptr && length > 0) {
    request.length = length;
    request.address = *address;
  }
  base::UniqueFd fd;
  if (int error = Call(channel_.Get(), request, &fd); error != 0) {
    return base::Error{error, address != nullptr ? "bind() in the sandbox's network namespace"
                                                 : "socket() in the sandbox's network namespace"};
  }
  if (!fd) return base::Error{EPROTO, "namespace helper sent no socket"};
  return fd;
}

base::Status NetnsHelper::AddLoopbackAddress(int family,
                                             const std::array<std::uint8_t, 16>& address) const {
  Request request{};
  request.op = Op::kAddLoopbackAddress;
  request.family = family;
  std::memcpy(request.bytes, address.data(), address.size());
  if (int error = Call(channel_.Get(), request, nullptr); error != 0) {
    return base::Error{error, "RTM_NEWADDR on the sandbox's loopback"};
  }
  return base::Ok{};
}

}  // namespace sandgate::supervisor
