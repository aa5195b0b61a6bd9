#pragma once

#include <sys/types.h>

#include <cstdint>

namespace sandgate::supervisor {

enum class Transport { kTcp, kUdp };

// Is there a socket listening (TCP) or bound (UDP) on `port` inside the network namespace of
// `pid`? Read from /proc/PID/net/{tcp,tcp6,udp,udp6}, which show that namespace. A connect to
// loopback with such a listener stays inside the sandbox and needs no approval.
[[nodiscard]] bool HasLocalListener(pid_t pid, Transport transport, std::uint16_t port);

}  // namespace sandgate::supervisor
