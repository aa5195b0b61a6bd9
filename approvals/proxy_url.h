#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace sandgate::approvals {

enum class ProxyScheme { kHttp, kSocks5 };

// A parsed --proxy / route URL. The password is a secret: it is only ever sent to the proxy,
// never logged (use Redacted() for logs, the audit log and network/decision).
struct ProxyUrl {
  ProxyScheme scheme = ProxyScheme::kHttp;
  // Lowercase host name, dotted-quad IPv4, or RFC 5952 IPv6 text without brackets.
  std::string host;
  std::uint16_t port = 0;
  // Percent-decoded, 1-255 bytes (RFC 1929 limit). nullopt when the URL has no credentials.
  std::optional<std::string> username;
  // Percent-decoded, 0-255 bytes. nullopt when the URL has no ':' after the user name; the
  // handshakes then send an empty password.
  std::optional<std::string> password;

  // "socks5://user:***@host:1080", "http://[fd00::1]:3128". The password (even an empty one)
  // always shows as "***"; the user name is percent-encoded again so the result is one line.
  [[nodiscard]] std::string Redacted() const;

  friend bool operator==(const ProxyUrl&, const ProxyUrl&) = default;
};

// Parses `http://[user[:pass]@]host:port[/]` and `socks5://...` (`socks5h://` is accepted as
// socks5: sandgate sends the host name to the proxy whenever it knows one anyway). The scheme is
// case-insensitive; the port is required (1-65535); an IPv6 host is written in brackets; only
// an empty path or "/" is allowed (no query, no fragment). User name and password are
// percent-decoded ("%40" for '@', "%3A" for ':'); a raw '@' in them, a malformed escape, an
// empty user name, or more than 255 decoded bytes is an error. An http:// user name must not
// contain ':' (HTTP Basic authentication cannot carry it).
//
// The error is one line that quotes the URL with its password replaced by "***" (and control
// characters escaped), e.g. `proxy URL "socks5://u:***@h" has no port`.
[[nodiscard]] std::variant<ProxyUrl, std::string> ParseProxyUrl(std::string_view text);

}  // namespace sandgate::approvals
