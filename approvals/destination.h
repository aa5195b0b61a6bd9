#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "approvals/address.h"

namespace sandgate::approvals {

enum class Protocol { kTcp, kUdp, kUnix };

// "tcp", "udp", "unix": the names SPEC uses on the wire.
[[nodiscard]] std::string_view ProtocolName(Protocol protocol);
[[nodiscard]] std::optional<Protocol> ParseProtocol(std::string_view name);

// Where one mediated connect/sendto is going, as the supervisor saw it.
struct Destination {
  // From the DNS attribution map, lowercase. Unknown for connects to literal IPs.
  std::optional<std::string> host;
  // The address the command asked for (v4-mapped already normalized by Address).
  std::optional<Address> address;
  std::uint16_t port = 0;
  Protocol protocol = Protocol::kTcp;
  // Path-based unix socket, absolute (the supervisor resolves relative paths against the
  // caller's cwd). Matching normalizes it lexically ("//", ".", ".."); symlinks are the
  // supervisor's to resolve.
  std::optional<std::string> unix_path;
  // Abstract unix socket name, without the leading NUL.
  std::optional<std::string> unix_abstract;

  friend bool operator==(const Destination&, const Destination&) = default;
};

}  // namespace sandgate::approvals
