#include "approvals/publish_spec.h"

#include <algorithm>
#include <charconv>
#include <optional>

namespace sandgate::approvals {
namespace {

std::optional<std::uint16_t> ParsePort(std::string_view text) {
  unsigned value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || value == 0 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

}  // namespace

std::variant<PublishSpec, std::string> ParsePublishSpec(std::string_view text) {
  const std::string prefix = "--publish " + std::string(text) + ": ";
  const std::string expected = prefix + "expected [HOSTADDR:]HOSTPORT:SANDBOXPORT";
  PublishSpec spec;
  spec.text = std::string(text);
  std::string_view rest = text;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return expected;
    }
    auto address = Address::Parse(rest.substr(1, close - 1));
    if (!address || address->family() != AddressFamily::kInet6) {
      return prefix + "not an IPv6 address in brackets";
    }
    spec.host_address = *address;
    rest.remove_prefix(close + 2);
  } else if (std::count(rest.begin(), rest.end(), ':') == 2) {
    const auto colon = rest.find(':');
    auto address = Address::Parse(rest.substr(0, colon));
    if (!address || address->family() != AddressFamily::kInet) {
      return prefix + "not an IPv4 address (an IPv6 one goes in brackets)";
    }
    spec.host_address = *address;
    rest.remove_prefix(colon + 1);
  } else if (std::count(rest.begin(), rest.end(), ':') != 1) {
    return expected;
  }
  const auto colon = rest.find(':');
  if (colon == std::string_view::npos) return expected;
  auto host_port = ParsePort(rest.substr(0, colon));
  auto sandbox_port = ParsePort(rest.substr(colon + 1));
  if (!host_port || !sandbox_port) return prefix + "ports are 1-65535";
  spec.host_port = *host_port;
  spec.sandbox_port = *sandbox_port;
  return spec;
}

}  // namespace sandgate::approvals
