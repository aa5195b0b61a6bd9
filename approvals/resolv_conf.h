#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "approvals/address.h"

namespace sandgate::approvals {

// A DNS server: an address and a port (53 unless said otherwise).
struct DnsServer {
  Address address;
  std::uint16_t port = 53;
  friend bool operator==(const DnsServer&, const DnsServer&) = default;
};

// The `nameserver` addresses of a resolv.conf, in order, without duplicates. Lines that are not
// nameserver lines, comments and unparsable addresses are skipped (the resolver skips them too);
// an IPv6 zone ("fe80::1%eth0") is dropped. Empty when there is none: the C library then uses
// 127.0.0.1, which callers apply themselves.
[[nodiscard]] std::vector<Address> ParseNameservers(std::string_view resolv_conf);

// --dns-upstream ADDR[:PORT]: "10.0.0.2", "10.0.0.2:5353", "[fd00::53]", "[fd00::53]:5353".
// The error is one line naming the value.
[[nodiscard]] std::variant<DnsServer, std::string> ParseDnsServer(std::string_view text);

}  // namespace sandgate::approvals
