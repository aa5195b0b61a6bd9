#pragma once

#include <uv.h>

#include <chrono>
#include <functional>

#include "approvals/proxy_handshake.h"
#include "approvals/proxy_url.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "supervisor/net/host_socket.h"

namespace sandgate::supervisor {

// A connection to `target` through a proxy, opened by sandgate for a `route` decision: a socket
// shaped like the command's (`shape`, options copied from `model`), connected to the proxy from
// the host's network namespace, with the HTTP CONNECT or SOCKS5 handshake done. Nothing blocks
// the loop: the proxy's name is resolved on libuv's thread pool, the handshake is driven by
// readiness. The handshake never reads past its own end (MSG_PEEK, then exactly what belongs to
// it), so bytes the destination sends first stay in the socket for the command.
//
// `done` runs once on the loop with the tunnel (non-blocking; the caller gives it the command's
// mode when it installs it), or an Error
// whose errnum is what the command's connect() should fail with: ECONNREFUSED when the proxy is
// down or refuses, ETIMEDOUT after `timeout`, EACCES when it wants other credentials, ...
class ProxyTunnel {
 public:
  using Done = std::function<void(base::Result<base::UniqueFd> tunnel)>;
  static void Start(uv_loop_t* loop, const approvals::ProxyUrl& proxy,
                    const approvals::TunnelTarget& target, const SocketShape& shape, int model,
                    std::chrono::milliseconds timeout, Done done);
};

}  // namespace sandgate::supervisor
