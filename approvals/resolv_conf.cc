#include "approvals/resolv_conf.h"

#include <algorithm>
#include <charconv>

namespace sandgate::approvals {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view NextWord(std::string_view& line) {
  while (!line.empty() && IsBlank(line.front())) line.remove_prefix(1);
  std::size_t end = 0;
  while (end < line.size() && !IsBlank(line[end])) ++end;
  std::string_view word = line.substr(0, end);
  line.remove_prefix(end);
  return word;
}

}  // namespace

std::vector<Address> ParseNameservers(std::string_view resolv_conf) {
  std::vector<Address> servers;
  while (!resolv_conf.empty()) {
    std::size_t eol = resolv_conf.find('\n');
    std::string_view line = resolv_conf.substr(0, eol);
    resolv_conf.remove_prefix(eol == std::string_view::npos ? resolv_conf.size() : eol + 1);
    if (NextWord(line) != "nameserver") continue;
    std::string_view text = NextWord(line);
    text = text.substr(0, text.find('%'));
    auto address = Address::Parse(text);
    if (!address) continue;
    if (std::find(servers.begin(), servers.end(), *address) == servers.end()) {
      servers.push_back(*address);
    }
  }
  return servers;
}

std::variant<DnsServer, std::string> ParseDnsServer(std::string_view text) {
  const std::string error = "--dns-upstream " + std::string(text) +
                            ": expected ADDR[:PORT] with an IP address (IPv6 in brackets)";
  std::string_view host = text;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos) return error;
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return error;
      port = rest.substr(1);
      if (port.empty()) return error;
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    std::size_t colon = text.find(':');
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty()) return error;
  }
  auto address = Address::Parse(host);
  if (!address) return error;
  // A bare IPv6 address without brackets is allowed; it has no port.
  DnsServer server{*address, 53};
  if (!port.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return "--dns-upstream " + std::string(text) + ": port must be 1-65535";
    }
    server.port = static_cast<std::uint16_t>(value);
  }
  return server;
}

}  // namespace sandgate::approvals
