#include "supervisor/host_socket.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cerrno>

namespace sandgate::supervisor {
namespace {

struct CopiedOption {
  int level;
  int name;
  int domain;  // 0: any
};
constexpr CopiedOption kCopiedOptions[] = {
    {SOL_SOCKET, SO_KEEPALIVE, 0}, {SOL_SOCKET, SO_REUSEADDR, 0}, {SOL_SOCKET, SO_BROADCAST, 0},
    {IPPROTO_TCP, TCP_NODELAY, 0}, {IPPROTO_IPV6, IPV6_V6ONLY, AF_INET6},
};

int GetInt(int fd, int level, int name, int* value) {
  socklen_t len = sizeof *value;
  return ::getsockopt(fd, level, name, value, &len);
}

// One pending blocking connect: polls for writability, then reports SO_ERROR.
struct PendingConnect {
  HostConnect::Done done;
  int socket;
};

}  // namespace

base::Result<SocketShape> ReadSocketShape(int fd) {
  SocketShape shape;
  if (GetInt(fd, SOL_SOCKET, SO_DOMAIN, &shape.domain) != 0 ||
      GetInt(fd, SOL_SOCKET, SO_TYPE, &shape.type) != 0 ||
      GetInt(fd, SOL_SOCKET, SO_PROTOCOL, &shape.protocol) != 0) {
    return base::ErrnoError("getsockopt(SO_DOMAIN/SO_TYPE/SO_PROTOCOL)");
  }
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return base::ErrnoError("fcntl(F_GETFL)");
  shape.nonblocking = (flags & O_NONBLOCK) != 0;
  return shape;
}

base::Result<base::UniqueFd> OpenHostSocket(const SocketShape& shape, int model) {
  base::UniqueFd fd(::socket(shape.domain, shape.type | SOCK_NONBLOCK | SOCK_CLOEXEC, shape.protocol));
  if (!fd) return base::ErrnoError("socket(host)");
  for (const auto& option : kCopiedOptions) {
    if (option.domain != 0 && option.domain != shape.domain) continue;
    if (option.level == IPPROTO_TCP && shape.type != SOCK_STREAM) continue;
    int value = 0;
    if (GetInt(model, option.level, option.name, &value) == 0 && value != 0) {
      ::setsockopt(fd.Get(), option.level, option.name, &value, sizeof value);
    }
  }
  linger lin{};
  socklen_t len = sizeof lin;
  if (::getsockopt(model, SOL_SOCKET, SO_LINGER, &lin, &len) == 0 && lin.l_onoff != 0) {
    ::setsockopt(fd.Get(), SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
  }
  return fd;
}

void HostConnect::Start(uv_loop_t* loop, int socket, const sockaddr_storage& address,
                        socklen_t length, bool caller_nonblocking, Done done) {
  int rc;
  do {
    rc = ::connect(socket, reinterpret_cast<const sockaddr*>(&address), length);
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) return done(0);
  if (errno != EINPROGRESS) return done(errno);
  if (caller_nonblocking) return done(EINPROGRESS);

  auto* poll = UvHandle<uv_poll_t>::Create();
  if (int err = uv_poll_init_socket(loop, poll->Get(), socket); err != 0) {
    poll->Close();
    return done(-err);
  }
  poll->BindOwned(new PendingConnect{std::move(done), socket});
  uv_poll_start(poll->Get(), UV_WRITABLE, [](uv_poll_t* h, int status, int) {
    auto* handle = UvHandle<uv_poll_t>::From(h);
    auto* pending = static_cast<PendingConnect*>(handle->Owner());
    // libuv reports POLLERR as UV_EBADF; the socket knows the real reason (ECONNREFUSED...).
    int error = 0;
    socklen_t len = sizeof error;
    if (::getsockopt(pending->socket, SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
    if (error == 0 && status < 0) error = -status;
    auto finish = std::move(pending->done);
    handle->Close();  // frees `pending` later, from the close callback
    finish(error);
  });
}

}  // namespace sandgate::supervisor
