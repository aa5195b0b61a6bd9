#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "approvals/address.h"

namespace sandgate::approvals {

enum class Protocol { kTcp, kUdp, kUnix };

// "tcp", "udp", "unix": the names SPEC uses on the wire.
[[nodiscard]] std::string_view ProtocolName(Protocol protocol);
[[nodiscard]] std::optional<Protocol> ParseProtocol(std::string_view name);

// Where one mediated connect/sendto is going, as the supervisor saw it.
struct Destination {
  // The one name shown for the destination (prompts, audit, the name a proxy is asked to
  // connect to), lowercase: the name the deciding domain rule matched, else the most recently
  // resolved of `names`. Unknown for connects to addresses this sandbox never resolved.
  std::optional<std::string> host;
  // Every name this sandbox resolved to `address` and still holds valid, most recent first, at
  // most dns::NameMap::kMaxNamesPerAddress (see NameMap::NamesFor). Several names share an
  // address behind CDNs and shared hosting; a domain rule matches when it matches `host` or any
  // of these, so resolving a second name cannot take the first one's rule away.
  std::vector<std::string> names;
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
