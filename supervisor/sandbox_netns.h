#pragma once

#include <sys/types.h>

#include <cstdint>

#include "approvals/address.h"
#include "base/result.h"
#include "base/unique_fd.h"

namespace sandgate::supervisor {

enum class Transport { kTcp, kUdp };

// Looks at the sockets of the sandbox's own network namespace. A connect to loopback with a
// listener there stays inside the sandbox and needs no approval.
//
// Asks sock_diag over a netlink socket created inside that namespace (a socket stays in the
// namespace it was made in): listing only listening sockets costs microseconds, while reading
// /proc/PID/net/tcp walks the kernel's whole connection table (measured: 2.5 ms per read).
class SandboxNetns {
 public:
  // `pid`: any process of the sandbox. Briefly switches the calling thread into its network
  // namespace to create the socket, and back.
  static base::Result<SandboxNetns> Open(pid_t pid);

  // Is a socket listening (TCP) or bound (UDP) on `port` there?
  [[nodiscard]] bool HasLocalListener(Transport transport, std::uint16_t port) const;

  // A socket that lives in the sandbox's namespace (e.g. sandgate's DNS forwarder listening
  // where the sandbox's resolv.conf points, or an abstract unix connect kept inside).
  [[nodiscard]] base::Result<base::UniqueFd> Socket(int domain, int type, int protocol) const;

  // Makes `address` local to the sandbox (added to its loopback interface), so that sandgate can
  // listen on a nameserver address the sandbox's resolv.conf names. Loopback addresses are
  // local already.
  [[nodiscard]] base::Status AddLocalAddress(const approvals::Address& address) const;

 private:
  SandboxNetns(base::UniqueFd netns, base::UniqueFd diag)
      : netns_(std::move(netns)), diag_(std::move(diag)) {}
  base::UniqueFd netns_;
  base::UniqueFd diag_;
};

}  // namespace sandgate::supervisor
