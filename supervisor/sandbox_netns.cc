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

// TCP_LISTEN in the kernel's tcp_states enum.
constexpr unsigned kTcpListen = 10;
// A new network namespace has exactly one interface, its loopback, always index 1.
constexpr int kLoopbackIndex = 1;

// Asks sock_diag for the one socket the kernel itself would pick for a packet to
// `address`:`port` arriving on the loopback interface (an exact request, no NLM_F_DUMP): a hash
// lookup, where a dump walks every socket of the namespace.
//
// The kernel answers with the same lookup it runs for an arriving TCP SYN or UDP datagram, so
// wildcard binds (0.0.0.0, ::), dual-stack and IPV6_V6ONLY sockets and other 127.x addresses
// count exactly as they would for the real connect. Remote address and port stay zero: no TCP
// connection has those, so only a listener can match; a connected UDP socket only takes
// datagrams from its peer and is not counted (the request is then mediated, which is safe).
bool ExactLookup(int diag, std::uint32_t seq, Transport transport,
                 const approvals::Address& address, std::uint16_t port) {
  const bool v4 = address.family() == approvals::AddressFamily::kInet;
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST;
  message.header.nlmsg_seq = seq;
  auto& request = message.request;
  request.sdiag_family = v4 ? AF_INET : AF_INET6;
  request.sdiag_protocol = transport == Transport::kTcp ? IPPROTO_TCP : IPPROTO_UDP;
  request.idiag_states = transport == Transport::kTcp ? (1U << kTcpListen) : ~0U;
  request.id.idiag_if = kLoopbackIndex;
  request.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  request.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  const auto bytes = address.bytes();
  // The TCP lookup reads the local end from idiag_src/idiag_sport; the UDP one, for historical
  // reasons, from idiag_dst/idiag_dport (net/ipv4/udp_diag.c).
  if (transport == Transport::kTcp) {
    std::memcpy(request.id.idiag_src, bytes.data(), bytes.size());
    request.id.idiag_sport = htons(port);
  } else {
    std::memcpy(request.id.idiag_dst, bytes.data(), bytes.size());
    request.id.idiag_dport = htons(port);
  }
  ssize_t sent;
  do {
    sent = ::send(diag, &message, sizeof message, 0);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return false;

  // The kernel answers inside send(), so the reply is queued already: never block the loop
  // waiting for it. Replies to earlier requests (none expected) are skipped by sequence number.
  alignas(nlmsghdr) char buffer[4096];
  for (;;) {
    ssize_t n = ::recv(diag, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    int left = static_cast<int>(n);
    // The netlink walking macros are C and cast the old way.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wsign-conversion"
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, left);
         h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_seq != seq) continue;
      // NLMSG_ERROR: ENOENT when nothing is there.
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
          h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) {
        return false;
      }
      const auto* entry = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      if (ntohs(entry->id.idiag_sport) != port) return false;
      return transport == Transport::kUdp || entry->idiag_state == kTcpListen;
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
  base::UniqueFd target(
      ::open(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
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
  request.header.nlmsg_len =
      static_cast<std::uint32_t>(NLMSG_LENGTH(sizeof(ifaddrmsg)) + RTA_LENGTH(bytes.size()));
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

bool SandboxNetns::HasLocalListener(Transport transport, const approvals::Address& address,
                                    std::uint16_t port) const {
  // A connect to 0.0.0.0 or :: goes to 127.0.0.1 or ::1. (A socket bound to a source address
  // would instead connect to that address; such a rarity may be misjudged either way, and
  // either way the connect stays inside the sandbox or is mediated.)
  return ExactLookup(diag_.Get(), ++seq_, transport, address.ConnectTarget(), port);
}

}  // namespace sandgate::supervisor
