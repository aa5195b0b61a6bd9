#include "supervisor/net/sandbox_netns.h"

#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
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

}  // namespace

base::Result<SandboxNetns> SandboxNetns::Open(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
  base::UniqueFd netns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!netns) return base::ErrnoError("open(" + path + ")");
  auto helper = NetnsHelper::Start(netns);
  if (!helper.Ok()) return helper.Err();
  auto diag = helper->Socket(AF_NETLINK, SOCK_DGRAM, NETLINK_SOCK_DIAG);
  if (!diag.Ok()) return diag.Err();
  return SandboxNetns(std::move(helper.Value()), std::move(diag.Value()));
}

base::Result<base::UniqueFd> SandboxNetns::Socket(int domain, int type, int protocol) const {
  return helper_.Socket(domain, type, protocol);
}

base::Result<base::UniqueFd> SandboxNetns::BoundSocket(int type, const sockaddr_storage& address,
                                                       socklen_t length) const {
  return helper_.Socket(address.ss_family, type, 0, &address, length);
}

base::Status SandboxNetns::AddLocalAddress(const approvals::Address& address) const {
  if (address.IsLoopback()) return base::Ok{};
  std::array<std::uint8_t, 16> bytes{};
  const auto view = address.bytes();
  std::copy(view.begin(), view.end(), bytes.begin());
  const int family = address.family() == approvals::AddressFamily::kInet ? AF_INET : AF_INET6;
  if (auto added = helper_.AddLoopbackAddress(family, bytes); !added) {
    return base::Error{added.Err().errnum,
                       "RTM_NEWADDR " + address.ToString() + " on the sandbox's loopback"};
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
