#include "supervisor/sandbox_netns.h"

#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
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

}  // namespace

base::Result<SandboxNetns> SandboxNetns::Open(pid_t pid) {
  base::UniqueFd target(::open(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
  if (!target) return base::ErrnoError("open(/proc/" + std::to_string(pid) + "/ns/net)");
  base::UniqueFd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!home) return base::ErrnoError("open(/proc/thread-self/ns/net)");
  if (::setns(target.Get(), CLONE_NEWNET) != 0) return base::ErrnoError("setns(sandbox netns)");
  base::UniqueFd diag(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  const int socket_errno = errno;
  if (::setns(home.Get(), CLONE_NEWNET) != 0) {
    // Staying in the sandbox's namespace would send every host connect into it. Never carry on.
    spdlog::critical("setns back to the host network namespace failed: {}", std::strerror(errno));
    std::abort();
  }
  if (!diag) return base::Error{socket_errno, "socket(NETLINK_SOCK_DIAG) in the sandbox"};
  return SandboxNetns(std::move(diag));
}

bool SandboxNetns::HasLocalListener(Transport transport, std::uint16_t port) const {
  const int protocol = transport == Transport::kTcp ? IPPROTO_TCP : IPPROTO_UDP;
  const unsigned states = transport == Transport::kTcp ? (1U << kTcpListen) : ~0U;
  return DumpHasPort(diag_.Get(), AF_INET, protocol, states, port) ||
         DumpHasPort(diag_.Get(), AF_INET6, protocol, states, port);
}

}  // namespace sandgate::supervisor
