#include "supervisor/sandbox_netns.h"

#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace sandgate::supervisor {
namespace {

// TCP_LISTEN and TCP_CLOSE in the kernel's tcp_states enum.
constexpr unsigned kTcpListen = 10;
// A new network namespace has exactly one interface, its loopback, always index 1.
constexpr int kLoopbackIndex = 1;

// One sock_diag dump: true when a socket of `family`/`protocol` in `states` has local `port`.
bool DumpHasPort(int diag, int family, int protocol, unsigned states, std::uint16_t port) {
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.request.sdiag_family = static_cast<std::uint8_t>(family);
  message.request.sdiag_protocol = static_cast<std::uint8_t>(protocol);
  message.request.idiag_states = states;
  if (::send(diag, &message, sizeof message, 0) < 0) return false;

  bool found = false;
  alignas(nlmsghdr) char buffer[16384];
  for (;;) {
    ssize_t n = ::recv(diag, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return found;
    int left = static_cast<int>(n);
    // The netlink walking macros are C and cast the old way.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wsign-conversion"
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) return found;
      const auto* entry = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      if (ntohs(entry->id.idiag_sport) == port) found = true;
    }
#pragma GCC diagnostic pop
  }
}

// Runs `make` with the calling thread inside the network namespace `netns` and switches back.
// Whatever `make` creates stays in that namespace (sockets remember where they were made).
template <typename Make>
auto InsideNetns(int netns, Make make) -> base::Result<base::UniqueFd> {
  base::UniqueFd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!home) return base::ErrnoError("open(/proc/thread-self/ns/net)");
  if (::setns(netns, CLONE_NEWNET) != 0) return base::ErrnoError("setns(sandbox netns)");
  base::UniqueFd made = make();
  const int make_errno = errno;
  if (::setns(home.Get(), CLONE_NEWNET) != 0) {
    // Staying in the sandbox's namespace would send every host connect into it. Never carry on.
    spdlog::critical("setns back to the host network namespace failed: {}", std::strerror(errno));
    std::abort();
  }
  if (!made) return base::Error{make_errno, "socket in the sandbox's network namespace"};
  return made;
}

// One rtnetlink request that expects an acknowledgement; 0 or the kernel's errno.
int NetlinkRequest(int fd, const void* message, std::size_t size) {
  if (::send(fd, message, size, 0) < 0) return errno;
  alignas(nlmsghdr) char reply[1024];
  ssize_t n = ::recv(fd, reply, sizeof reply, 0);
  if (n < 0) return errno;
  const auto* header = reinterpret_cast<const nlmsghdr*>(reply);
  if (static_cast<std::size_t>(n) < sizeof(nlmsghdr) + sizeof(nlmsgerr) ||
      header->nlmsg_type != NLMSG_ERROR) {
    return EPROTO;
  }
  const auto* error = reinterpret_cast<const nlmsgerr*>(reply + NLMSG_HDRLEN);
  return -error->error;
}

}  // namespace

base::Result<SandboxNetns> SandboxNetns::Open(pid_t pid) {
  base::UniqueFd target(::open(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
  if (!target) return base::ErrnoError("open(/proc/" + std::to_string(pid) + "/ns/net)");
  auto diag = InsideNetns(target.Get(), [] {
    return base::UniqueFd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  });
  if (!diag.Ok()) return diag.Err();
  return SandboxNetns(std::move(target), std::move(diag.Value()));
}

base::Result<base::UniqueFd> SandboxNetns::Socket(int domain, int type, int protocol) const {
  return InsideNetns(netns_.Get(), [&] {
    return base::UniqueFd(::socket(domain, type | SOCK_CLOEXEC, protocol));
  });
}

base::Status SandboxNetns::AddLocalAddress(const approvals::Address& address) const {
  if (address.IsLoopback()) return base::Ok{};
  auto route = Socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
  if (!route.Ok()) return route.Err();
  const bool v4 = address.family() == approvals::AddressFamily::kInet;
  struct {
    nlmsghdr header;
    ifaddrmsg ifa;
    rtattr local_attr;
    std::uint8_t local[16];
  } request{};
  const auto bytes = address.bytes();
  request.header.nlmsg_len = static_cast<std::uint32_t>(NLMSG_LENGTH(sizeof(ifaddrmsg)) +
                                                        RTA_LENGTH(bytes.size()));
  request.header.nlmsg_type = RTM_NEWADDR;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
  request.ifa.ifa_family = v4 ? AF_INET : AF_INET6;
  request.ifa.ifa_prefixlen = v4 ? 32 : 128;
  request.ifa.ifa_scope = RT_SCOPE_HOST;
  request.ifa.ifa_index = kLoopbackIndex;
  request.local_attr.rta_len = static_cast<unsigned short>(RTA_LENGTH(bytes.size()));
  request.local_attr.rta_type = IFA_LOCAL;
  std::memcpy(request.local, bytes.data(), bytes.size());
  if (int error = NetlinkRequest(route->Get(), &request, request.header.nlmsg_len); error != 0) {
    return base::Error{error, "RTM_NEWADDR " + address.ToString() + " on the sandbox's loopback"};
  }
  return base::Ok{};
}

bool SandboxNetns::HasLocalListener(Transport transport, std::uint16_t port) const {
  const int protocol = transport == Transport::kTcp ? IPPROTO_TCP : IPPROTO_UDP;
  const unsigned states = transport == Transport::kTcp ? (1U << kTcpListen) : ~0U;
  return DumpHasPort(diag_.Get(), AF_INET, protocol, states, port) ||
         DumpHasPort(diag_.Get(), AF_INET6, protocol, states, port);
}

}  // namespace sandgate::supervisor
