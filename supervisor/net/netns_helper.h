#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <array>
#include <cstdint>

#include "base/result.h"
#include "base/unique_fd.h"

namespace sandgate::supervisor {

// A small process of sandgate's that lives inside the sandbox's network namespace *with the
// rights of that namespace's owner*, and makes there what sandgate needs: sockets (bound, where
// binding needs a privilege, e.g. port 53), and loopback addresses.
//
// Why a process: the sandbox's network namespace belongs to the user namespace bubblewrap
// created. Entering it with setns(CLONE_NEWNET) needs CAP_SYS_ADMIN over that user namespace,
// which an unprivileged supervisor only gets by joining the user namespace first, and a
// multithreaded process cannot join one (setns(2): EINVAL). A freshly forked, single-threaded
// child can: it joins the owner user namespace (found with NS_GET_USERNS on the network
// namespace, because the command itself runs one user namespace deeper under
// --disable-userns), then the network namespace, and from then on answers requests over a
// SOCK_SEQPACKET socketpair, passing fds back with SCM_RIGHTS. The same mechanism serves root,
// so there is one way, and the supervisor itself never leaves the host's network namespace.
//
// Sockets keep the namespace they were made in, so the supervisor uses what the helper made
// (listens, connects to abstract names, asks sock_diag) from its own namespace.
//
// The child runs only async-signal-safe code (it was forked from a process that may have other
// threads): raw system calls on fixed-size buffers, no allocation, no logging. It ends when the
// supervisor closes its end, or dies (PR_SET_PDEATHSIG), and is killed and reaped by the
// destructor. Loop thread only: one request at a time, answered synchronously (a few µs).
class NetnsHelper {
 public:
  // `netns`: the sandbox's network namespace (an open /proc/PID/ns/net). Returns once the
  // helper has joined both namespaces, or with the reason it could not.
  static base::Result<NetnsHelper> Start(const base::UniqueFd& netns);

  NetnsHelper(NetnsHelper&&) noexcept = default;
  NetnsHelper& operator=(NetnsHelper&&) noexcept;
  ~NetnsHelper();

  // socket(domain, type | SOCK_CLOEXEC, protocol) there; bound to `address` when `length` > 0
  // (a stream socket gets SO_REUSEADDR first).
  [[nodiscard]] base::Result<base::UniqueFd> Socket(int domain, int type, int protocol,
                                                    const sockaddr_storage* address = nullptr,
                                                    socklen_t length = 0) const;

  // Adds `address` (4 or 16 bytes, per `family`) to the loopback interface there, host scope.
  [[nodiscard]] base::Status AddLoopbackAddress(int family,
                                                const std::array<std::uint8_t, 16>& address) const;

 private:
  NetnsHelper(base::UniqueFd channel, base::UniqueFd pidfd)
      : channel_(std::move(channel)), pidfd_(std::move(pidfd)) {}
  void Stop() noexcept;

  base::UniqueFd channel_;
  base::UniqueFd pidfd_;
};

}  // namespace sandgate::supervisor
