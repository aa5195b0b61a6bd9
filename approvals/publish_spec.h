#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "approvals/address.h"

namespace sandgate::approvals {

// --publish [HOSTADDR:]HOSTPORT:SANDBOXPORT: sandgate listens on HOSTADDR:HOSTPORT (127.0.0.1
// unless given) on the host and relays each connection to SANDBOXPORT on the sandbox's own
// loopback. An IPv6 host address is bracketed: [::1]:8080:80.
struct PublishSpec {
  Address host_address = *Address::Parse("127.0.0.1");
  std::uint16_t host_port = 0;
  std::uint16_t sandbox_port = 0;
  std::string text;  // as given, for messages

  friend bool operator==(const PublishSpec&, const PublishSpec&) = default;
};

// The spec, or a one-line reason ("--publish 8080: expected [HOSTADDR:]HOSTPORT:SANDBOXPORT").
// Ports are 1-65535.
[[nodiscard]] std::variant<PublishSpec, std::string> ParsePublishSpec(std::string_view text);

}  // namespace sandgate::approvals
