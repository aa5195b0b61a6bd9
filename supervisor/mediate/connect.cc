// connect(): held, decided, and carried out by sandgate from the host (or through a proxy),
// the finished socket installed at the command's fd.
#include "supervisor/mediate/mediator.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <vector>

#include "approvals/protocol.h"
#include "supervisor/mediate/answered_attempts.h"
#include "supervisor/net/proxy_tunnel.h"
#include "supervisor/child/target_process.h"
#include "supervisor/mediate/request.h"

namespace sandgate::supervisor {
namespace {

using approvals::Decision;
using approvals::DecisionSource;
using Clock = std::chrono::steady_clock;

}  // namespace

void Mediator::HandleConnect(const Notification& n, pid_t tgid) noexcept {
  auto request = BeginRequest(n, tgid, Kind::kConnect);
  if (!request) return;

  const std::uint64_t len = n.args[2];
  if (len > sizeof(sockaddr_storage) || len < sizeof(sa_family_t)) {
    return listener_->RespondError(n.id, EINVAL);
  }
  auto bytes = ReadTargetMemory(tgid, n.args[1], static_cast<std::size_t>(len));
  if (!bytes.Ok()) return listener_->RespondError(n.id, EFAULT);
  // Only now is what we read known to belong to the still-waiting syscall.
  if (!StillHeld(n.id)) return;
  std::memcpy(&request->address, bytes->data(), bytes->size());
  request->address_len = static_cast<socklen_t>(len);

  if (request->shape.domain == AF_UNIX) return HandleUnixConnect(std::move(request));
  if (request->shape.domain != AF_INET && request->shape.domain != AF_INET6) {
    // netlink talks to the kernel about the namespaces the command is in; sandgate never
    // installs such sockets, so whatever the arguments become, nothing outside is reached.
    if (request->shape.domain == AF_NETLINK) return listener_->RespondContinue(n.id);
    // Other families (vsock, bluetooth, tipc, ...) are not confined by a network namespace and
    // no rule can name their peers: refused, as network off refuses to create them.
    return listener_->RespondError(n.id, EPERM);
  }
  auto endpoint = InetEndpoint(request->address, request->address_len);
  if (!endpoint) {
    // AF_UNSPEC dissolves a datagram association. On a sandbox socket in the sandbox's own
    // namespace the kernel may do it (nothing outside is reachable from the empty namespace
    // whatever it re-reads); otherwise sandgate does it itself, so that no swapped address gets
    // through.
    if (!request->host_socket && options_.own_network_namespace) {
      return listener_->RespondContinue(n.id);
    }
    sockaddr unspec{};
    unspec.sa_family = AF_UNSPEC;
    int rc = ::connect(request->socket.Get(), &unspec, sizeof unspec);
    return rc == 0 ? listener_->RespondValue(n.id, 0) : listener_->RespondError(n.id, errno);
  }
  const auto transport = request->shape.type == SOCK_STREAM ? Transport::kTcp : Transport::kUdp;
  request->destination.address = endpoint->first;
  request->destination.port = endpoint->second;
  request->destination.protocol =
      transport == Transport::kTcp ? approvals::Protocol::kTcp : approvals::Protocol::kUdp;
  names_.AttributeNames(request->destination, Clock::now());
  if (RedirectsToForwarder(*request)) return RedirectToForwarder(std::move(request));
  if (!request->host_socket && SandboxLocal(endpoint->first) &&
      LocalListener(transport, endpoint->first, endpoint->second)) {
    // A listener inside the sandbox: its own loopback, no prompt. The kernel may re-read the
    // address: the socket lives in the sandbox's empty namespace, so no address reaches out.
    return listener_->RespondContinue(n.id);
  }
  Mediate(std::move(request));
}

void Mediator::AllowConnect(std::unique_ptr<Request> request) noexcept {
  if (request->host_socket) {
    // Our own socket already (a datagram socket re-targeted): connect it directly.
    int rc = ::connect(request->socket.Get(), reinterpret_cast<sockaddr*>(&request->address),
                       request->address_len);
    return rc == 0 ? listener_->RespondValue(request->notification.id, 0)
                   : listener_->RespondError(request->notification.id, errno);
  }
  auto host = OpenHostSocket(request->shape, request->socket.Get());
  if (!host.Ok()) {
    spdlog::error("{}", host.Err().Message());
    const int error = host.Err().errnum;
    return listener_->RespondError(request->notification.id, OutOfResources(error) ? EAGAIN : error);
  }
  auto shared_host = std::make_shared<base::UniqueFd>(std::move(host.Value()));
  std::shared_ptr<Request> shared_request(std::move(request));
  std::weak_ptr<int> alive = alive_;
  HostConnect::Start(
      loop_, shared_host->Get(), shared_request->address, shared_request->address_len,
      // A Fast Open send returns a byte count, never EINPROGRESS: wait for the connection.
      shared_request->shape.nonblocking && !shared_request->fast_open,
      [this, alive, shared_host, shared_request](int error) {
        if (alive.expired()) return;
        if (error != 0 && error != EINPROGRESS) {
          return listener_->RespondError(shared_request->notification.id, error);
        }
        Install(*shared_request, *shared_host, error);
      });
}

void Mediator::RouteConnect(std::unique_ptr<Request> request,
                            const approvals::ProxyUrl& proxy) noexcept {
  approvals::TunnelTarget target{request->destination.host, *request->destination.address,
                                 request->destination.port};
  std::shared_ptr<Request> shared(std::move(request));
  std::weak_ptr<int> alive = alive_;
  // The command waits until the tunnel is through, even when it asked not to block: a connect
  // that completes at once is a valid answer to a non-blocking connect, and data it wrote early
  // would otherwise land in the middle of the proxy handshake.
  ProxyTunnel::Start(loop_, proxy, target, shared->shape, shared->socket.Get(),
                     options_.proxy_timeout,
                     [this, alive, shared](base::Result<base::UniqueFd> tunnel) {
                       if (alive.expired()) return;
                       if (!tunnel.Ok()) {
                         return listener_->RespondError(shared->notification.id,
                                                        tunnel.Err().errnum);
                       }
                       Install(*shared, tunnel.Value(), 0);
                     });
}

void Mediator::Answer(const Request& request, std::int64_t result, int socket) noexcept {
  const auto id = request.notification.id;
  const bool delivered = result < 0 ? listener_->Deliver(id, -1, static_cast<int>(-result))
                         : request.notification.syscall == SYS_connect
                             ? listener_->Deliver(id, result, 0)
                             : RespondSent(request, static_cast<ssize_t>(result));
  if (delivered) return;
  // Interrupted after it was carried out: the socket is at the command's fd and any data is
  // sent; only the answer was lost. Its restart gets this answer and nothing is done again.
  auto cookie = SocketCookie(socket);
  if (!cookie) return;
  AnsweredAttempt attempt;
  attempt.signature = SignatureOf(request);
  attempt.recorded = true;
  attempt.result = result;
  attempt.installed = *cookie;
  answered_.Remember(request.notification.tid, std::move(attempt));
  EnsureSweep();
}

Mediator::Placed Mediator::Place(const Request& request, const base::UniqueFd& socket) noexcept {
  // sandgate makes every socket non-blocking for its own loop; the command gets the mode it had.
  // Every socket placed here is sandgate's own, made with no status flag but O_NONBLOCK, so
  // clearing them all needs no F_GETFL first.
  if (!request.shape.nonblocking) ::fcntl(socket.Get(), F_SETFL, 0);
  const auto id = request.notification.id;
  bool cloexec = FdCloexec(request.pid, ProcDirOf(request.pid), request.fd);
  // Others in hand: requests waiting for their decision (this one has left the table), or more
  // notifications queued in the receive this runs in.
  const RoundTrip round_trip = waiting_.empty() && !listener_->MoreQueued()
                                   ? RoundTrip::kAlone
                                   : RoundTrip::kInABurst;
  if (auto installed = listener_->InstallFd(id, socket.Get(), request.fd, cloexec, round_trip);
      !installed) {
    // ENOENT: the caller was interrupted or is gone (then nobody reads this answer).
    spdlog::debug("{}", installed.Err().Message());
    const bool interrupted = installed.Err().errnum == ENOENT;
    listener_->RespondError(id, interrupted ? EINTR : EPERM);
    return interrupted ? Placed::kInterrupted : Placed::kFailed;
  }
  RememberHostSocket(socket.Get());
  if (request.dns_nameserver) RememberRedirect(socket.Get(), *request.dns_nameserver);
  return Placed::kYes;
}

void Mediator::Install(const Request& request, const base::UniqueFd& socket, int error) noexcept {
  const auto id = request.notification.id;
  std::int64_t result = 0;
  if (request.fast_open && error == 0) {
    // The data a Fast Open carried goes out first, before the command can write more.
    ssize_t sent = ::send(socket.Get(), request.payload.data(), request.payload.size(),
                          MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent < 0 && errno != EAGAIN) return listener_->RespondError(id, errno);
    result = std::max<ssize_t>(sent, 0);
  }
  switch (Place(request, socket)) {
    case Placed::kInterrupted: {
      // Interrupted while it was carried out: the connection (and a Fast Open's data) is made
      // and stays made; the restarted syscall gets it rather than a second one.
      base::UniqueFd copy(::fcntl(socket.Get(), F_DUPFD_CLOEXEC, 0));
      if (copy && request.decided) {
        KeepForRestart(request, std::move(copy), error != 0 ? -error : result);
      }
      return;
    }
    case Placed::kFailed:
      return;
    case Placed::kYes:
      break;
  }
  Answer(request, error != 0 ? -error : result, socket.Get());
}

}  // namespace sandgate::supervisor
