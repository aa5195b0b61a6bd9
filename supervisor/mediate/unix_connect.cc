// connect() on unix sockets: path sockets resolved in the sandbox's view and connected to the
// very inode, abstract names kept inside the sandbox unless a rule allows the host's.
#include "supervisor/mediate/mediator.h"

#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <vector>

#include "approvals/protocol.h"
#include "supervisor/mediate/answered_attempts.h"
#include "supervisor/net/sandbox_path.h"
#include "supervisor/mediate/request.h"

namespace sandgate::supervisor {
namespace {

using approvals::Decision;
using approvals::DecisionSource;
using Clock = std::chrono::steady_clock;

}  // namespace

// The unix socket a sockaddr_un names, as given (a path is resolved later, for connects).
approvals::Destination UnixDestination(const sockaddr_storage& sa, socklen_t len) {
  approvals::Destination d;
  d.protocol = approvals::Protocol::kUnix;
  const auto& un = reinterpret_cast<const sockaddr_un&>(sa);
  std::size_t path_len = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
  path_len = std::min(path_len, sizeof un.sun_path);
  if (path_len > 0 && un.sun_path[0] == '\0') {
    d.unix_abstract = std::string(un.sun_path + 1, path_len - 1);
  } else if (path_len > 0) {
    d.unix_path = std::string(un.sun_path, strnlen(un.sun_path, path_len));
  }
  return d;
}

void Mediator::HandleUnixConnect(std::unique_ptr<Request> request) noexcept {
  const auto id = request->notification.id;
  request->destination = UnixDestination(request->address, request->address_len);
  if (request->host_socket) {
    // A unix socket sandgate installed is connected already; re-targeting it is not mediated.
    Record(*request, Decision::kDeny, DecisionSource::kDefault, std::nullopt);
    return AnswerDenied(*request, DecisionSource::kDefault, std::nullopt,
                        "the socket is connected already");
  }
  if (request->destination.unix_abstract) {
    // Abstract names live per network namespace. Without an allow rule the connect stays in
    // the sandbox's own namespace, where sandgate makes it (the kernel never re-reads an
    // address that could have become a host path meanwhile).
    auto decision = engine_.Decide(request->destination);
    if (decision.verdict == approvals::Verdict::kAllow || decision.verdict == approvals::Verdict::kDeny) {
      return Mediate(std::move(request));
    }
    if (!netns_) return listener_->RespondError(id, EPERM);
    auto inside = netns_->Socket(AF_UNIX, request->shape.type | SOCK_NONBLOCK, 0);
    if (!inside.Ok()) return listener_->RespondError(id, inside.Err().errnum);
    if (::connect(inside->Get(), reinterpret_cast<sockaddr*>(&request->address),
                  request->address_len) != 0) {
      return listener_->RespondError(id, errno);
    }
    return Install(*request, inside.Value(), 0);
  }
  if (!request->destination.unix_path || request->destination.unix_path->empty()) {
    return listener_->RespondError(id, EINVAL);
  }
  // The path is resolved once, in the sandbox's view (its root and the calling thread's cwd),
  // to the socket inode it names; the rule is matched against that canonical path and sandgate
  // connects to that very inode. A symlink or a swapped path cannot redirect it afterwards.
  const std::string& path = *request->destination.unix_path;
  auto view = path.front() == '/' ? OpenProcessRootView(request->notification.tid)
                                  : OpenProcessFsView(request->notification.tid);
  if (!view.Ok()) return listener_->RespondError(id, ESRCH);
  // The tid could have died and been reused between the read and the open: only a still-valid
  // notification proves the view belongs to the caller.
  if (!StillHeld(id)) return;
  auto resolved = ResolveInSandbox(view->root.Get(), view->cwd.Get(), view->cwd_path, path);
  if (!resolved.Ok()) return listener_->RespondError(id, resolved.Err().errnum);
  request->destination.unix_path = resolved->path;
  request->unix_target = std::move(resolved->handle);
  Mediate(std::move(request));
}

void Mediator::AllowUnixConnect(std::unique_ptr<Request> request) noexcept {
  const auto id = request->notification.id;
  base::UniqueFd connected;
  if (request->unix_target) {
    auto made = ConnectUnixAt(request->unix_target, request->shape.type);
    if (!made.Ok()) return listener_->RespondError(id, made.Err().errnum);
    connected = std::move(made.Value());
  } else {
    // An abstract socket a rule allows: the host's, so made in sandgate's own namespace.
    connected.Reset(::socket(AF_UNIX, request->shape.type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!connected) return listener_->RespondError(id, errno);
    if (::connect(connected.Get(), reinterpret_cast<sockaddr*>(&request->address),
                  request->address_len) != 0) {
      return listener_->RespondError(id, errno);
    }
  }
  Install(*request, connected, 0);
}

}  // namespace sandgate::supervisor
