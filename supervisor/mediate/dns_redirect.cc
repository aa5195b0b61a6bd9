// DNS for a command on the host's network (the legacy pipeline without user namespaces): its
// queries to the resolv.conf nameservers go to sandgate's forwarder on the host's loopback, so
// names, domain rules and --dns-strict work as with a namespace of its own; and the answers are
// handed over as coming from the nameserver asked, which is all a resolver accepts.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "supervisor/child/target_process.h"
#include "supervisor/mediate/mediator.h"
#include "supervisor/mediate/request.h"
#include "supervisor/net/dns_forwarder.h"
#include "supervisor/net/host_socket.h"

namespace sandgate::supervisor {
namespace {

constexpr std::uint16_t kDnsPort = 53;
constexpr std::size_t kMaxRedirects = 1024;
constexpr std::size_t kMaxDnsAnswer = 65535;

bool SameEndpoint(const sockaddr_storage& a, const sockaddr_storage& b) {
  const auto ea = InetEndpoint(a, sizeof a);
  const auto eb = InetEndpoint(b, sizeof b);
  return ea && eb && *ea == *eb;
}

}  // namespace

bool Mediator::RedirectsToForwarder(const Request& request) const noexcept {
  if (options_.own_network_namespace || !dns_ || dns_->HostPort() == 0) return false;
  const auto& d = request.destination;
  if (!d.address || d.port != kDnsPort) return false;
  return std::find(options_.dns_listen.begin(), options_.dns_listen.end(), *d.address) !=
         options_.dns_listen.end();
}

std::optional<std::pair<sockaddr_storage, socklen_t>> Mediator::ForwarderAddressFor(
    int domain) const noexcept {
  if (!dns_ || dns_->HostPort() == 0) return std::nullopt;
  if (domain == AF_INET6 && !dns_->HostIpv6()) return std::nullopt;
  sockaddr_storage sa{};
  const char* loopback = domain == AF_INET6 ? "::1" : "127.0.0.1";
  const socklen_t len = SockaddrFor(*approvals::Address::Parse(loopback), dns_->HostPort(), domain, sa);
  return std::make_pair(sa, len);
}

void Mediator::RememberRedirect(int socket, const sockaddr_storage& nameserver) noexcept {
  auto cookie = SocketCookie(socket);
  if (!cookie) return;
  if (dns_redirects_.emplace(*cookie, nameserver).second) redirect_order_.push_back(*cookie);
  // A resolver makes a socket per lookup and closes it: the oldest entries are long gone.
  while (redirect_order_.size() > kMaxRedirects) {
    dns_redirects_.erase(redirect_order_.front());
    redirect_order_.pop_front();
  }
}

void Mediator::RedirectToForwarder(std::unique_ptr<Request> request) noexcept {
  auto forwarder = ForwarderAddressFor(request->shape.domain);
  if (!forwarder) return listener_->RespondError(request->notification.id, ECONNREFUSED);
  // A socket sandgate installs for it is remembered with the nameserver (Place); one installed
  // by an earlier query is already.
  if (request->host_socket) {
    RememberRedirect(request->socket.Get(), request->address);
  } else {
    request->dns_nameserver = request->address;
  }
  request->address = forwarder->first;
  request->address_len = forwarder->second;
  // Then carried out like an allowed connect or datagram, to the forwarder instead. No decision
  // and no record: as in a sandbox with a namespace of its own, where the same query reaches the
  // forwarder inside without sandgate being asked.
  if (request->kind == Kind::kConnect) return AllowConnect(std::move(request));
  AllowSend(std::move(request));
}

void Mediator::HandleReceive(const Notification& n, pid_t tgid) noexcept {
  // Receiving reaches nothing, whatever the kernel re-reads: every receive but one from a
  // redirected socket continues.
  if (dns_redirects_.empty()) return listener_->RespondContinue(n.id);
  Process* process = ProcessFor(tgid);
  if (process == nullptr) return listener_->RespondContinue(n.id);
  base::UniqueFd socket(PidfdGetfd(process->pidfd.Get(), static_cast<int>(n.args[0])));
  if (!socket) return listener_->RespondContinue(n.id);
  auto cookie = SocketCookie(socket.Get());
  auto redirect = cookie ? dns_redirects_.find(*cookie) : dns_redirects_.end();
  if (redirect == dns_redirects_.end()) return listener_->RespondContinue(n.id);

  const std::uint64_t buffer = n.args[1];
  const std::size_t length = static_cast<std::size_t>(std::min<std::uint64_t>(n.args[2], kMaxDnsAnswer));
  const int flags = static_cast<int>(n.args[3]);
  const std::uint64_t sender = n.args[4];
  const std::uint64_t sender_length = n.args[5];
  socklen_t room = 0;
  if (sender_length != 0) {
    auto bytes = ReadTargetMemory(tgid, sender_length, sizeof room);
    if (!bytes.Ok()) return listener_->RespondError(n.id, EFAULT);
    std::memcpy(&room, bytes->data(), sizeof room);
  }
  if (!StillHeld(n.id)) return;
  const bool blocking = (::fcntl(socket.Get(), F_GETFL) & O_NONBLOCK) == 0 && (flags & MSG_DONTWAIT) == 0;
  std::vector<std::uint8_t> data(length);
  sockaddr_storage from{};
  socklen_t from_length = sizeof from;
  ssize_t got = ::recvfrom(socket.Get(), data.data(), data.size(), flags | MSG_DONTWAIT,
                           reinterpret_cast<sockaddr*>(&from), &from_length);
  if (got < 0) {
    const int error = errno;
    // Nothing there yet for a blocking call: the kernel waits for it (the sender it then
    // reports is the forwarder's; resolvers poll first and receive without blocking).
    if ((error == EAGAIN || error == EWOULDBLOCK) && blocking) return listener_->RespondContinue(n.id);
    return listener_->RespondError(n.id, error);
  }
  if (auto forwarder = ForwarderAddressFor(from.ss_family); forwarder && SameEndpoint(from, forwarder->first)) {
    from = redirect->second;
    from_length = from.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  }
  // MSG_TRUNC reports the datagram's length, which may exceed what was copied.
  const std::size_t copied = std::min<std::size_t>(static_cast<std::size_t>(got), length);
  if (copied > 0 && !WriteTargetMemory(tgid, buffer, data.data(), copied)) {
    return listener_->RespondError(n.id, EFAULT);
  }
  if (sender != 0 && sender_length != 0) {
    const socklen_t shown = std::min(room, from_length);
    if (!WriteTargetMemory(tgid, sender, &from, shown) ||
        !WriteTargetMemory(tgid, sender_length, &from_length, sizeof from_length)) {
      return listener_->RespondError(n.id, EFAULT);
    }
  }
  listener_->RespondValue(n.id, got);
}

}  // namespace sandgate::supervisor
