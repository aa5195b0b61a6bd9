#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>

#include "approvals/address.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "supervisor/net/netns_helper.h"

namespace sandgate::supervisor {

enum class Transport { kTcp, kUdp };

// Works in the sandbox's own network namespace: looks at its sockets (a connect to loopback with
// a listener there stays inside the sandbox and needs no approval), makes sockets there, and
// makes addresses local there. Everything that must be done *inside* goes through a
// NetnsHelper, which holds the rights over the namespace that an unprivileged supervisor lacks;
// the supervisor's own threads never leave the host's namespace.
//
// Asks sock_diag over a netlink socket created inside that namespace (a socket stays in the
// namespace it was made in), one exact lookup per question: a hash lookup of a few microseconds,
// where a dump of the listening sockets walks the whole listen table (25-30 us for TCP over both
// families) and reading /proc/PID/net/tcp the whole connection table (2.5 ms per read).
//
// Not thread-safe (one request at a time on one netlink socket); loop thread only.
class SandboxNetns {
 public:
  // `pid`: any process of the sandbox, alive for the duration of the call. Starts the helper.
  static base::Result<SandboxNetns> Open(pid_t pid);

  // Would a connect (TCP) or a datagram (UDP) to `address`:`port`, made there, reach a socket
  // there: a listener, or a bound unconnected datagram socket? Answered by the kernel's own
  // lookup, so wildcard binds, other 127.x addresses and IPV6_V6ONLY count as they would for the
  // real packet. 0.0.0.0 and :: stand for 127.0.0.1 and ::1 (where such a connect goes).
  // False when unsure (the connect is then mediated instead of left to the kernel).
  [[nodiscard]] bool HasLocalListener(Transport transport, const approvals::Address& address,
                                      std::uint16_t port) const;

  // A socket that lives in the sandbox's namespace (e.g. sandgate's DNS forwarder listening
  // where the sandbox's resolv.conf points, or an abstract unix connect kept inside).
  [[nodiscard]] base::Result<base::UniqueFd> Socket(int domain, int type, int protocol) const;
  // The same, bound there to `address` (binding a port below 1024 there needs the helper's
  // rights; a stream socket gets SO_REUSEADDR).
  [[nodiscard]] base::Result<base::UniqueFd> BoundSocket(int type, const sockaddr_storage& address,
                                                         socklen_t length) const;

  // Makes `address` local to the sandbox (added to its loopback interface), so that sandgate can
  // listen on a nameserver address the sandbox's resolv.conf names. Loopback addresses are
  // local already.
  [[nodiscard]] base::Status AddLocalAddress(const approvals::Address& address) const;

 private:
  SandboxNetns(NetnsHelper helper, base::UniqueFd diag)
      : helper_(std::move(helper)), diag_(std::move(diag)) {}
  NetnsHelper helper_;
  base::UniqueFd diag_;
  mutable std::uint32_t seq_ = 0;  // netlink sequence numbers, to pair a reply with its request
};

}  // namespace sandgate::supervisor
