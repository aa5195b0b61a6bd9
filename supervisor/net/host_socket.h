#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <unordered_map>

#include "approvals/address.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "supervisor/loop/uv_handle.h"

namespace sandgate::supervisor {

// `address`:`port` as a sockaddr for a socket of `domain`: an IPv4 address for an AF_INET6
// socket becomes v4-mapped (a dual-stack socket reaches it that way). Returns the length.
socklen_t SockaddrFor(const approvals::Address& address, std::uint16_t port, int domain,
                      sockaddr_storage& out);

// Address and port of an inet sockaddr (the inverse of SockaddrFor); nullopt for other families
// or a length too short for the family.
std::optional<std::pair<approvals::Address, std::uint16_t>> InetEndpoint(const sockaddr_storage& sa,
                                                                         socklen_t len);

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
// the socket it gets, exactly as it would have on its own). A blocking connect that is done by
// the time connect(2) returns (usual on loopback) calls `done` before Start returns.
class HostConnect {
 public:
  using Done = std::function<void(int error)>;
  static void Start(uv_loop_t* loop, int socket, const sockaddr_storage& address, socklen_t length,
                    bool caller_nonblocking, Done done);
};

// The sockets sandgate made in the host's network namespace and installed in the command's place,
// recognized when the command uses them again (a pidfd_getfd copy is the same socket).
//
// Keyed by SO_COOKIE, which the kernel never hands out twice in a boot: a later socket cannot be
// taken for one of these, as it could by a reused inode number.
//
// An entry is dropped only once its socket is gone for good. Forgetting a live one would be a
// hole, not a leak: a host datagram socket taken for a sandbox socket gets its destination-less
// sends (and its loopback connects and AF_UNSPEC disconnects) answered with CONTINUE, and the
// kernel then re-reads an address the command may have swapped meanwhile, on a socket that
// reaches the host. So there is no size cap. Instead each socket is also registered, with no
// events, in an epoll instance that is never waited on: epoll holds no reference to what it
// watches, and the kernel removes an entry when the last reference to its open file goes (in
// the command, its children, or an SCM_RIGHTS message in flight). Listing that instance's
// entries (/proc/self/fdinfo) names exactly the sockets still alive; the others are pruned
// once the set has doubled since the last pruning, so the set stays within twice the live
// sockets at an amortized O(1) per socket.
//
// Loop thread only.
// The socket's SO_COOKIE: unique for the kernel's lifetime (an inode number can be reused).
[[nodiscard]] std::optional<std::uint64_t> SocketCookie(int fd);

class HostSockets {
 public:
  HostSockets();

  void Remember(int fd) noexcept;
  [[nodiscard]] bool Contains(int fd) const noexcept;
  // Drops the entries whose sockets are gone. Keeps everything when in doubt.
  void Prune() noexcept;
  [[nodiscard]] std::size_t size() const noexcept { return cookies_.size(); }

 private:
  static constexpr std::size_t kFirstPrune = 1024;

  base::UniqueFd watch_;  // the epoll instance; invalid when it could not be made
  // cookie -> whether it is watched (only watched entries can ever be pruned)
  std::unordered_map<std::uint64_t, bool> cookies_;
  std::size_t prune_at_ = kFirstPrune;
};

}  // namespace sandgate::supervisor
