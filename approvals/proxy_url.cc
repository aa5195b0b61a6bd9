#include "approvals/proxy_url.h"

#include <cstddef>
#include <utility>

#include "approvals/address.h"

namespace sandgate::approvals {
namespace {

constexpr std::size_t kMaxCredentialLength = 255;  // RFC 1929: one length byte
constexpr std::size_t kMaxHostNameLength = 253;
constexpr std::string_view kSchemeSeparator = "://";
constexpr char kHexDigits[] = "0123456789ABCDEF";

char ToLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string Lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = ToLowerAscii(c);
  }
  return out;
}

int HexValue(char c) {
  if (IsDigit(c)) {
    return c - '0';
  }
  const char lower = ToLowerAscii(c);
  if (lower >= 'a' && lower <= 'f') {
    return lower - 'a' + 10;
  }
  return -1;
}

std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) {
      return std::nullopt;
    }
    const int high = HexValue(text[i + 1]);
    const int low = HexValue(text[i + 2]);
    if (high < 0 || low < 0) {
      return std::nullopt;
    }
    out += static_cast<char>((high << 4) | low);
    i += 2;
  }
  return out;
}

// RFC 3986 unreserved characters and sub-delims stay; everything else becomes %XX, so that a
// user name with '@', ':', spaces or control characters still prints as one unambiguous line.
std::string PercentEncodeUserinfo(std::string_view text) {
  constexpr std::string_view kKeep = "-._~!$&'()*+,;=";
  std::string out;
  for (const char c : text) {
    if (IsAlnum(c) || kKeep.find(c) != std::string_view::npos) {
      out += c;
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out += '%';
      out += kHexDigits[byte >> 4];
      out += kHexDigits[byte & 0x0f];
    }
  }
  return out;
}

// The URL as it may appear in an error message: everything between the first ':' of the
// userinfo and the last '@' becomes "***". This works on malformed input too, and errs on the
// side of hiding too much (an '@' in a path also hides what precedes it). Control characters
// are escaped so the message stays on one line.
std::string QuoteRedacted(std::string_view text) {
  std::string redacted;
  const std::size_t separator = text.find(kSchemeSeparator);
  const std::size_t start = separator == std::string_view::npos ? 0 : separator + 3;
  const std::size_t at = text.rfind('@');
  const std::size_t colon = text.find(':', start);
  if (at != std::string_view::npos && at >= start && colon < at) {
    redacted.append(text.substr(0, colon + 1));
    redacted += "***";
    redacted.append(text.substr(at));
  } else {
    redacted.assign(text);
  }
  std::string quoted = "\"";
  for (const char c : redacted) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f || c == '"' || c == '\\') {
      quoted += "\\x";
      quoted += kHexDigits[byte >> 4];
      quoted += kHexDigits[byte & 0x0f];
    } else {
      quoted += c;
    }
  }
  quoted += '"';
  return quoted;
}

// A host name as the resolver will take it: labels of letters, digits, '-' and '_' (container
// and service names use '_'), one optional trailing dot. A last label of only digits means a
// mistyped IPv4 address ("10.0.0.256"), which a resolver would not treat as a name either.
bool IsValidHostName(std::string_view name) {
  if (!name.empty() && name.back() == '.') {
    name.remove_suffix(1);
  }
  if (name.empty() || name.size() > kMaxHostNameLength) {
    return false;
  }
  std::size_t label_start = 0;
  bool label_all_digits = true;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (i == label_start) {
        return false;
      }
      if (i == name.size() && label_all_digits) {
        return false;
      }
      label_start = i + 1;
      label_all_digits = true;
      continue;
    }
    const char c = name[i];
    if (!IsAlnum(c) && c != '-' && c != '_') {
      return false;
    }
    label_all_digits = label_all_digits && IsDigit(c);
  }
  return true;
}

std::optional<ProxyScheme> ParseScheme(std::string_view scheme) {
  const std::string lower = Lowercase(scheme);
  if (lower == "http") {
    return ProxyScheme::kHttp;
  }
  if (lower == "socks5" || lower == "socks5h") {
    return ProxyScheme::kSocks5;
  }
  return std::nullopt;
}

// Parses one credential; returns the problem (without the URL) or nullopt.
std::optional<std::string> DecodeCredential(std::string_view raw, std::string_view what,
                                            std::optional<std::string>& out) {
  auto decoded = PercentDecode(raw);
  if (!decoded) {
    return "has a malformed %-escape in the " + std::string(what);
  }
  if (decoded->size() > kMaxCredentialLength) {
    return "has a " + std::string(what) + " longer than 255 bytes";
  }
  out = std::move(*decoded);
  return std::nullopt;
}

std::optional<std::string> ParseUserinfo(std::string_view userinfo, ProxyUrl& url) {
  if (userinfo.find('@') != std::string_view::npos) {
    return "has a raw '@' in the user name or password (write it as %40)";
  }
  const std::size_t colon = userinfo.find(':');
  if (auto problem = DecodeCredential(userinfo.substr(0, colon), "user name", url.username)) {
    return problem;
  }
  if (url.username->empty()) {
    return std::string("has an empty user name");
  }
  if (url.scheme == ProxyScheme::kHttp && url.username->find(':') != std::string::npos) {
    return std::string("has a ':' in the user name, which HTTP Basic authentication cannot carry");
  }
  if (colon != std::string_view::npos) {
    if (auto problem = DecodeCredential(userinfo.substr(colon + 1), "password", url.password)) {
      return problem;
    }
  }
  return std::nullopt;
}

std::optional<std::string> ParsePort(std::string_view text, std::uint16_t& port) {
  if (text.empty()) {
    return std::string("has no port");
  }
  if (text.size() > 5) {
    return "has port " + std::string(text) + " out of range 1-65535";
  }
  unsigned value = 0;
  for (const char c : text) {
    if (!IsDigit(c)) {
      return "has an invalid port \"" + std::string(text) + "\"";
    }
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) {
    return "has port " + std::string(text) + " out of range 1-65535";
  }
  port = static_cast<std::uint16_t>(value);
  return std::nullopt;
}

std::optional<std::string> ParseHostPort(std::string_view hostport, ProxyUrl& url) {
  std::string_view port_text;
  if (!hostport.empty() && hostport.front() == '[') {
    const std::size_t close = hostport.find(']');
    if (close == std::string_view::npos) {
      return std::string("has a '[' without ']' around the IPv6 host");
    }
    const std::string_view inside = hostport.substr(1, close - 1);
    const auto address = Address::Parse(inside);
    if (inside.find(':') == std::string_view::npos || !address) {
      return std::string("has an invalid IPv6 address in brackets");
    }
    url.host = address->ToString();
    const std::string_view after = hostport.substr(close + 1);
    if (after.empty()) {
      return std::string("has no port");
    }
    if (after.front() != ':') {
      return std::string("has unexpected text after the IPv6 host");
    }
    port_text = after.substr(1);
  } else {
    const std::size_t colon = hostport.find(':');
    if (colon == std::string_view::npos) {
      return hostport.empty() ? std::string("has no host") : std::string("has no port");
    }
    if (hostport.find(':', colon + 1) != std::string_view::npos) {
      return std::string("has an IPv6 host without brackets (write [addr]:port)");
    }
    const std::string_view host = hostport.substr(0, colon);
    if (host.empty()) {
      return std::string("has no host");
    }
    if (const auto address = Address::Parse(host)) {
      url.host = address->ToString();
    } else if (IsValidHostName(host)) {
      url.host = Lowercase(host);
      if (url.host.back() == '.') {
        url.host.pop_back();
      }
    } else {
      return std::string("has an invalid host name");
    }
    port_text = hostport.substr(colon + 1);
  }
  return ParsePort(port_text, url.port);
}

std::optional<std::string> Parse(std::string_view text, ProxyUrl& url) {
  const std::size_t separator = text.find(kSchemeSeparator);
  if (separator == std::string_view::npos) {
    return std::string("has no scheme (expected http://, socks5:// or socks5h://)");
  }
  const auto scheme = ParseScheme(text.substr(0, separator));
  if (!scheme) {
    return std::string("has an unsupported scheme (expected http://, socks5:// or socks5h://)");
  }
  url.scheme = *scheme;
  std::string_view rest = text.substr(separator + kSchemeSeparator.size());

  // The last '@' ends the userinfo: the host part cannot contain one, and splitting there means
  // a password with a raw '/' or '#' is still recognized (and redacted) as the password.
  const std::size_t at = rest.rfind('@');
  if (at != std::string_view::npos) {
    if (auto problem = ParseUserinfo(rest.substr(0, at), url)) {
      return problem;
    }
    rest.remove_prefix(at + 1);
  }

  const std::size_t authority_end = rest.find_first_of("/?#");
  const std::string_view tail =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (!tail.empty() && tail != "/") {
    switch (tail.front()) {
      case '?':
        return std::string("has a query (only a trailing \"/\" is allowed)");
      case '#':
        return std::string("has a fragment (only a trailing \"/\" is allowed)");
      default:
        return std::string("has a path (only a trailing \"/\" is allowed)");
    }
  }
  return ParseHostPort(rest.substr(0, authority_end), url);
}

}  // namespace

std::string ProxyUrl::Redacted() const {
  std::string out = scheme == ProxyScheme::kHttp ? "http://" : "socks5://";
  if (username) {
    out += PercentEncodeUserinfo(*username);
    if (password) {
      out += ":***";
    }
    out += '@';
  }
  if (host.find(':') != std::string::npos) {
    out += '[' + host + ']';
  } else {
    out += host;
  }
  out += ':' + std::to_string(port);
  return out;
}

std::variant<ProxyUrl, std::string> ParseProxyUrl(std::string_view text) {
  ProxyUrl url;
  if (auto problem = Parse(text, url)) {
    return "proxy URL " + QuoteRedacted(text) + " " + *problem;
  }
  return url;
}

}  // namespace sandgate::approvals
