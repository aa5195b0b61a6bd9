#include "supervisor/net/host_socket.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

namespace sandgate::supervisor {
namespace {

// Each is one getsockopt per connect, so only where the option means something for the
// socket's type: SO_BROADCAST only for datagrams, keep-alive and TCP_NODELAY only for streams.
struct CopiedOption {
  int level;
  int name;
  int domain;  // 0: any
  int type;    // 0: any
};
constexpr CopiedOption kCopiedOptions[] = {
    {SOL_SOCKET, SO_KEEPALIVE, 0, SOCK_STREAM},  {SOL_SOCKET, SO_REUSEADDR, 0, 0},
    {SOL_SOCKET, SO_BROADCAST, 0, SOCK_DGRAM},   {IPPROTO_TCP, TCP_NODELAY, 0, SOCK_STREAM},
    {IPPROTO_IPV6, IPV6_V6ONLY, AF_INET6, 0},
};

int GetInt(int fd, int level, int name, int* value) {
  socklen_t len = sizeof *value;
  return ::getsockopt(fd, level, name, value, &len);
}

// Has a non-blocking connect on `socket` come to an end already? Then `*error` is its outcome
// (0 or the errno from SO_ERROR).
bool ConnectFinished(int socket, int* error) {
  pollfd p{socket, POLLOUT, 0};
  int rc;
  do {
    rc = ::poll(&p, 1, 0);
  } while (rc < 0 && errno == EINTR);
  if (rc <= 0) return false;
  if (p.revents == POLLOUT) {  // connected; only an error or a hang-up needs SO_ERROR's reason
    *error = 0;
    return true;
  }
  socklen_t len = sizeof *error;
  if (::getsockopt(socket, SOL_SOCKET, SO_ERROR, error, &len) != 0) *error = errno;
  return true;
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

socklen_t SockaddrFor(const approvals::Address& address, std::uint16_t port, int domain,
                      sockaddr_storage& out) {
  out = {};
  const auto bytes = address.bytes();
  const bool v4 = address.family() == approvals::AddressFamily::kInet;
  if (v4 && domain == AF_INET) {
    auto& in = reinterpret_cast<sockaddr_in&>(out);
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    std::memcpy(&in.sin_addr, bytes.data(), 4);
    return sizeof in;
  }
  auto& in6 = reinterpret_cast<sockaddr_in6&>(out);
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  if (v4) {
    in6.sin6_addr.s6_addr[10] = 0xff;
    in6.sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(&in6.sin6_addr.s6_addr[12], bytes.data(), 4);
  } else {
    std::memcpy(&in6.sin6_addr, bytes.data(), 16);
  }
  return sizeof in6;
}

std::optional<std::pair<approvals::Address, std::uint16_t>> InetEndpoint(const sockaddr_storage& sa,
                                                                         socklen_t len) {
  if (sa.ss_family == AF_INET && len >= sizeof(sockaddr_in)) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(sa);
    approvals::Address::V4Bytes bytes;
    std::memcpy(bytes.data(), &in.sin_addr, 4);
    return std::make_pair(approvals::Address::FromV4(bytes), ntohs(in.sin_port));
  }
  if (sa.ss_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(sa);
    approvals::Address::V6Bytes bytes;
    std::memcpy(bytes.data(), &in6.sin6_addr, 16);
    return std::make_pair(approvals::Address::FromV6(bytes), ntohs(in6.sin6_port));
  }
  return std::nullopt;
}

base::Result<base::UniqueFd> OpenHostSocket(const SocketShape& shape, int model) {
  base::UniqueFd fd(::socket(shape.domain, shape.type | SOCK_NONBLOCK | SOCK_CLOEXEC, shape.protocol));
  if (!fd) return base::ErrnoError("socket(host)");
  for (const auto& option : kCopiedOptions) {
    if (option.domain != 0 && option.domain != shape.domain) continue;
    if (option.type != 0 && option.type != shape.type) continue;
    int value = 0;
    if (GetInt(model, option.level, option.name, &value) == 0 && value != 0) {
      ::setsockopt(fd.Get(), option.level, option.name, &value, sizeof value);
    }
  }
  if (shape.type != SOCK_STREAM) return fd;  // lingering on close is about unsent stream data
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
  // On loopback the handshake has usually finished by the time connect returns: one poll
  // without waiting saves the uv_poll round (about ten syscalls and a loop iteration).
  if (int error = 0; ConnectFinished(socket, &error)) return done(error);

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

std::optional<std::uint64_t> SocketCookie(int fd) {
  std::uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  if (::getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) != 0) return std::nullopt;
  return cookie;
}

namespace {

// The `data` of every entry of the epoll instance `epfd` ("tfd: ... data: <hex> ..." lines of
// its fdinfo); nullopt when it cannot be read or a line does not look as expected.
std::optional<std::unordered_set<std::uint64_t>> EpollEntries(int epfd) {
  const std::string path = "/proc/self/fdinfo/" + std::to_string(epfd);
  base::UniqueFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file) return std::nullopt;
  std::string text;
  char buffer[16384];
  for (;;) {
    ssize_t n = ::read(file.Get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  std::unordered_set<std::uint64_t> entries;
  std::string_view rest = text;
  while (!rest.empty()) {
    const auto end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    if (line.substr(0, 4) != "tfd:") continue;
    const auto at = line.find(" data:");
    if (at == std::string_view::npos) return std::nullopt;
    line.remove_prefix(at + 6);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    std::uint64_t value = 0;
    const auto [next, error] = std::from_chars(line.data(), line.data() + line.size(), value, 16);
    if (error != std::errc() || next == line.data()) return std::nullopt;
    entries.insert(value);
  }
  return entries;
}

}  // namespace

HostSockets::HostSockets() : watch_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (!watch_) {
    spdlog::warn("epoll_create1: {}; sockets handed to the command are remembered for good",
                 std::strerror(errno));
  }
}

void HostSockets::Remember(int fd) noexcept {
  try {
    auto cookie = SocketCookie(fd);
    if (!cookie) {
      // Cannot happen for a socket (SO_COOKIE exists since Linux 4.12). Loudly, because the
      // socket will be taken for a sandbox socket.
      spdlog::error("getsockopt(fd={}, SO_COOKIE): {}", fd, std::strerror(errno));
      return;
    }
    bool watched = false;
    if (watch_) {
      epoll_event event{};  // no events: never ready, never waited on
      event.data.u64 = *cookie;
      watched = ::epoll_ctl(watch_.Get(), EPOLL_CTL_ADD, fd, &event) == 0 || errno == EEXIST;
    }
    auto [it, added] = cookies_.emplace(*cookie, watched);
    if (!added) it->second = it->second || watched;  // one watch proves the socket alive
    if (cookies_.size() >= prune_at_) {
      Prune();
      prune_at_ = std::max(kFirstPrune, 2 * cookies_.size());
    }
  } catch (const std::exception& e) {  // allocation failure
    spdlog::error("remembering a host socket: {}", e.what());
  }
}

bool HostSockets::Contains(int fd) const noexcept {
  auto cookie = SocketCookie(fd);
  return cookie && cookies_.count(*cookie) > 0;
}

void HostSockets::Prune() noexcept {
  if (!watch_) return;
  try {
    auto alive = EpollEntries(watch_.Get());
    if (!alive) return;  // in doubt: keep everything
    std::erase_if(cookies_, [&](const auto& entry) {
      return entry.second && alive->count(entry.first) == 0;
    });
  } catch (const std::exception& e) {
    spdlog::error("pruning host sockets: {}", e.what());
  }
}

}  // namespace sandgate::supervisor
