#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <functional>

#include "base/result.h"
#include "base/unique_fd.h"
#include "supervisor/uv_handle.h"

namespace sandgate::supervisor {

// What a sandboxed socket is, read from our copy of it (pidfd_getfd).
struct SocketShape {
  int domain = 0;
  int type = 0;  // without SOCK_NONBLOCK/SOCK_CLOEXEC
  int protocol = 0;
  bool nonblocking = false;  // O_NONBLOCK of the open file description
};
[[nodiscard]] base::Result<SocketShape> ReadSocketShape(int fd);

// A socket in the host's network namespace shaped like `shape`, with the common options of
// `model` copied over (keepalive, reuseaddr, linger, nodelay, v6only, broadcast).
[[nodiscard]] base::Result<base::UniqueFd> OpenHostSocket(const SocketShape& shape, int model);

// Connects `socket` to `address` without blocking the loop. `done(error)` runs on the loop once:
// error 0 when connected, an errno otherwise; for a command that asked for a non-blocking
// connect, EINPROGRESS as soon as the attempt is under way (the command then waits for it on
// the socket it gets, exactly as it would have on its own).
class HostConnect {
 public:
  using Done = std::function<void(int error)>;
  static void Start(uv_loop_t* loop, int socket, const sockaddr_storage& address, socklen_t length,
                    bool caller_nonblocking, Done done);
};

}  // namespace sandgate::supervisor
