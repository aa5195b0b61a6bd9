#include "approvals/proxy_handshake.h"

#include <algorithm>
#include <cerrno>
#include <string_view>
#include <utility>

#include "approvals/base64.h"

namespace sandgate::approvals {
namespace {

// A CONNECT response head is a status line and a few headers; 16 KiB is far more than any real
// proxy sends and bounds what a hostile one can make us scan.
constexpr std::size_t kMaxHttpHead = std::size_t{16} * 1024;
constexpr std::size_t kMaxHostName = 253;
constexpr std::size_t kMaxQuoted = 80;

constexpr std::uint8_t kSocksVersion = 0x05;
constexpr std::uint8_t kSocksAuthVersion = 0x01;  // RFC 1929 sub-negotiation version
constexpr std::uint8_t kMethodNoAuth = 0x00;
constexpr std::uint8_t kMethodUserPass = 0x02;
constexpr std::uint8_t kMethodNoneAcceptable = 0xff;
constexpr std::uint8_t kCommandConnect = 0x01;
constexpr std::uint8_t kAtypIpv4 = 0x01;
constexpr std::uint8_t kAtypDomain = 0x03;
constexpr std::uint8_t kAtypIpv6 = 0x04;

bool IsHostNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

// The name to send to the proxy, or nullopt to send the address. See TunnelTarget::host.
std::optional<std::string_view> SendableHostName(const TunnelTarget& target) {
  if (!target.host || target.host->empty() || target.host->size() > kMaxHostName ||
      !std::all_of(target.host->begin(), target.host->end(), IsHostNameChar)) {
    return std::nullopt;
  }
  return *target.host;
}

void Append(std::vector<std::uint8_t>& out, std::string_view text) {
  out.insert(out.end(), text.begin(), text.end());
}

void AppendPort(std::vector<std::uint8_t>& out, std::uint16_t port) {
  out.push_back(static_cast<std::uint8_t>(port >> 8));
  out.push_back(static_cast<std::uint8_t>(port & 0xff));
}

std::vector<std::uint8_t> HttpConnectRequest(const ProxyUrl& proxy, const TunnelTarget& target) {
  std::string authority;
  if (const auto name = SendableHostName(target)) {
    authority = *name;
  } else if (target.address.family() == AddressFamily::kInet6) {
    authority = '[' + target.address.ToString() + ']';
  } else {
    authority = target.address.ToString();
  }
  authority += ':' + std::to_string(target.port);

  std::string request = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n";
  if (proxy.username) {
    request += "Proxy-Authorization: Basic " +
               Base64Encode(*proxy.username + ':' + proxy.password.value_or("")) + "\r\n";
  }
  request += "\r\n";
  std::vector<std::uint8_t> out;
  Append(out, request);
  return out;
}

std::vector<std::uint8_t> SocksGreeting(bool offer_auth) {
  if (offer_auth) {
    return {kSocksVersion, 2, kMethodNoAuth, kMethodUserPass};
  }
  return {kSocksVersion, 1, kMethodNoAuth};
}

// RFC 1929. ProxyUrl guarantees 1-255 bytes of user name and 0-255 bytes of password.
std::vector<std::uint8_t> SocksAuthRequest(const ProxyUrl& proxy) {
  const std::string& username = *proxy.username;
  const std::string password = proxy.password.value_or("");
  std::vector<std::uint8_t> out{kSocksAuthVersion};
  out.push_back(static_cast<std::uint8_t>(username.size()));
  Append(out, username);
  out.push_back(static_cast<std::uint8_t>(password.size()));
  Append(out, password);
  return out;
}

std::vector<std::uint8_t> SocksConnectRequest(const TunnelTarget& target) {
  std::vector<std::uint8_t> out{kSocksVersion, kCommandConnect, 0x00};
  if (const auto name = SendableHostName(target)) {
    out.push_back(kAtypDomain);
    out.push_back(static_cast<std::uint8_t>(name->size()));
    Append(out, *name);
  } else {
    out.push_back(target.address.family() == AddressFamily::kInet6 ? kAtypIpv6 : kAtypIpv4);
    const auto bytes = target.address.bytes();
    out.insert(out.end(), bytes.begin(), bytes.end());
  }
  AppendPort(out, target.port);
  return out;
}

// Text from the proxy, made safe for a one-line log message.
std::string Printable(std::span<const std::uint8_t> bytes) {
  std::string out;
  for (const std::uint8_t byte : bytes.first(std::min(bytes.size(), kMaxQuoted))) {
    out += (byte >= 0x20 && byte < 0x7f) ? static_cast<char>(byte) : '?';
  }
  if (bytes.size() > kMaxQuoted) {
    out += "...";
  }
  return out;
}

bool IsDigit(std::uint8_t byte) { return byte >= '0' && byte <= '9'; }

// "HTTP/1.x NNN[ reason]"; the status code, or nullopt when malformed.
std::optional<int> ParseStatusLine(std::span<const std::uint8_t> line) {
  constexpr std::string_view kPrefix = "HTTP/1.";
  if (line.size() < kPrefix.size() + 5 ||
      !std::equal(kPrefix.begin(), kPrefix.end(), line.begin()) || !IsDigit(line[kPrefix.size()]) ||
      line[kPrefix.size() + 1] != ' ') {
    return std::nullopt;
  }
  const auto code = line.subspan(kPrefix.size() + 2, 3);
  if (!std::all_of(code.begin(), code.end(), IsDigit) || code[0] < '1' || code[0] > '5') {
    return std::nullopt;
  }
  if (line.size() > kPrefix.size() + 5 && line[kPrefix.size() + 5] != ' ') {
    return std::nullopt;
  }
  return (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
}

int HttpStatusErrno(int status) {
  switch (status) {
    case 401:  // some proxies use the origin-server code for "authentication required"
    case 403:
    case 407:
      return EACCES;
    case 504:
      return ETIMEDOUT;
    case 101:  // switching protocols is no answer to CONNECT
      return EPROTO;
    default:
      // 502 (upstream connect failed), 503 (unavailable), 400/405 (CONNECT not supported), ...:
      // the tunnel was refused, as a refused direct connect would be.
      return ECONNREFUSED;
  }
}

std::pair<int, std::string_view> SocksReplyError(std::uint8_t rep) {
  switch (rep) {
    case 1:
      return {ECONNREFUSED, "general SOCKS server failure"};
    case 2:
      return {EACCES, "connection not allowed by ruleset"};
    case 3:
      return {ENETUNREACH, "network unreachable"};
    case 4:
      return {EHOSTUNREACH, "host unreachable"};
    case 5:
      return {ECONNREFUSED, "connection refused"};
    case 6:
      return {ETIMEDOUT, "TTL expired"};
    case 7:
      return {EOPNOTSUPP, "command not supported"};
    case 8:
      return {EAFNOSUPPORT, "address type not supported"};
    default:
      return {EPROTO, "unassigned reply code"};
  }
}

std::string WrongSocksVersion(std::string_view message, std::uint8_t version) {
  std::string out = "SOCKS5 proxy answered the " + std::string(message) + " with version " +
                    std::to_string(version);
  if (version == 'H') {
    out += " (an HTTP proxy?)";
  }
  return out;
}

}  // namespace

ProxyHandshake::ProxyHandshake(const ProxyUrl& proxy, const TunnelTarget& target) {
  if (proxy.scheme == ProxyScheme::kHttp) {
    phase_ = Phase::kHttpResponse;
    Queue(HttpConnectRequest(proxy, target));
    return;
  }
  phase_ = Phase::kSocksMethod;
  offered_auth_ = proxy.username.has_value();
  if (offered_auth_) {
    socks_auth_ = SocksAuthRequest(proxy);
  }
  socks_connect_ = SocksConnectRequest(target);
  Queue(SocksGreeting(offered_auth_));
}

std::vector<std::uint8_t> ProxyHandshake::TakeOutput() { return std::exchange(output_, {}); }

ProxyHandshake::Step ProxyHandshake::Feed(std::span<const std::uint8_t> received) {
  std::size_t consumed = 0;
  // One call may hold several messages (a 1xx head before the final one; a SOCKS server that
  // answers early), so keep going until one is incomplete or the handshake is over.
  while (state_ == State::kNeedMore) {
    const auto rest = received.subspan(consumed);
    std::optional<std::size_t> used;
    switch (phase_) {
      case Phase::kHttpResponse:
        used = FeedHttp(rest);
        break;
      case Phase::kSocksMethod:
        used = FeedSocksMethod(rest);
        break;
      case Phase::kSocksAuth:
        used = FeedSocksAuth(rest);
        break;
      case Phase::kSocksReply:
        used = FeedSocksReply(rest);
        break;
    }
    if (!used || *used == 0) {
      break;
    }
    consumed += *used;
  }
  return {state_, consumed};
}

std::optional<std::size_t> ProxyHandshake::FeedHttp(std::span<const std::uint8_t> data) {
  if (data.size() < http_line_start_) {
    // The caller fed less than last time; start this head over rather than trust stale offsets.
    http_line_start_ = 0;
    http_status_seen_ = false;
  }
  if (!http_status_seen_) {
    // Fail fast on a peer that does not speak HTTP at all (e.g. a SOCKS server's binary reply)
    // instead of waiting for a line end that may never come.
    constexpr std::string_view kPrefix = "HTTP/1.";
    const std::size_t n = std::min(data.size(), kPrefix.size());
    if (!std::equal(kPrefix.begin(), kPrefix.begin() + static_cast<std::ptrdiff_t>(n),
                    data.begin())) {
      const auto newline = std::find(data.begin(), data.end(), '\n');
      Fail(EPROTO, "HTTP proxy sent a malformed status line: \"" +
                       Printable(data.first(static_cast<std::size_t>(newline - data.begin()))) +
                       "\"");
      return std::nullopt;
    }
  }
  std::size_t pos = http_line_start_;
  while (true) {
    const auto newline =
        std::find(data.begin() + static_cast<std::ptrdiff_t>(pos), data.end(), std::uint8_t{'\n'});
    if (newline == data.end()) {
      break;
    }
    const auto end = static_cast<std::size_t>(newline - data.begin());
    if (end + 1 > kMaxHttpHead) {
      break;  // reported below
    }
    auto line = data.subspan(pos, end - pos);
    if (!line.empty() && line.back() == '\r') {
      line = line.first(line.size() - 1);
    }
    pos = end + 1;
    if (!http_status_seen_) {
      const auto status = ParseStatusLine(line);
      if (!status) {
        Fail(EPROTO, "HTTP proxy sent a malformed status line: \"" + Printable(line) + "\"");
        return std::nullopt;
      }
      http_status_seen_ = true;
      http_interim_ = *status >= 100 && *status < 200 && *status != 101;
      if (!http_interim_ && (*status < 200 || *status >= 300)) {
        // No need to wait for the headers: nothing in them changes the outcome.
        std::string message = "HTTP proxy answered " + std::to_string(*status);
        if (line.size() > 13) {
          message += ' ' + Printable(line.subspan(13));
        }
        Fail(HttpStatusErrno(*status), std::move(message));
        return std::nullopt;
      }
    } else if (line.empty()) {
      // End of the head. A 2xx to CONNECT has no body (RFC 9110 9.3.6): whatever follows is
      // the destination's and stays in the socket.
      http_line_start_ = 0;
      http_status_seen_ = false;
      if (!http_interim_) {
        state_ = State::kDone;
      }
      http_interim_ = false;
      return pos;
    }
  }
  http_line_start_ = pos;
  if (data.size() >= kMaxHttpHead) {
    Fail(EPROTO, "HTTP proxy response head is longer than 16 KiB");
    return std::nullopt;
  }
  return 0;
}

std::optional<std::size_t> ProxyHandshake::FeedSocksMethod(std::span<const std::uint8_t> data) {
  if (data.empty()) {
    return 0;
  }
  if (data[0] != kSocksVersion) {
    Fail(EPROTO, WrongSocksVersion("greeting", data[0]));
    return std::nullopt;
  }
  if (data.size() < 2) {
    return 0;
  }
  const std::uint8_t method = data[1];
  if (method == kMethodNoAuth) {
    Queue(socks_connect_);
    phase_ = Phase::kSocksReply;
  } else if (method == kMethodUserPass && offered_auth_) {
    Queue(socks_auth_);
    phase_ = Phase::kSocksAuth;
  } else if (method == kMethodNoneAcceptable) {
    Fail(EACCES, offered_auth_ ? "SOCKS5 proxy accepted neither no authentication nor "
                                 "username/password"
                               : "SOCKS5 proxy requires authentication (no credentials in the "
                                 "proxy URL)");
    return std::nullopt;
  } else {
    Fail(EPROTO, "SOCKS5 proxy chose authentication method " + std::to_string(method) +
                     ", which was not offered");
    return std::nullopt;
  }
  return 2;
}

std::optional<std::size_t> ProxyHandshake::FeedSocksAuth(std::span<const std::uint8_t> data) {
  if (data.empty()) {
    return 0;
  }
  if (data[0] != kSocksAuthVersion) {
    Fail(EPROTO, "SOCKS5 proxy answered username/password authentication with version " +
                     std::to_string(data[0]));
    return std::nullopt;
  }
  if (data.size() < 2) {
    return 0;
  }
  if (data[1] != 0) {
    Fail(EACCES,
         "SOCKS5 proxy rejected the username/password (status " + std::to_string(data[1]) + ")");
    return std::nullopt;
  }
  Queue(socks_connect_);
  phase_ = Phase::kSocksReply;
  return 2;
}

std::optional<std::size_t> ProxyHandshake::FeedSocksReply(std::span<const std::uint8_t> data) {
  // VER REP RSV ATYP BND.ADDR BND.PORT
  if (data.empty()) {
    return 0;
  }
  if (data[0] != kSocksVersion) {
    Fail(EPROTO, WrongSocksVersion("CONNECT request", data[0]));
    return std::nullopt;
  }
  if (data.size() < 2) {
    return 0;
  }
  if (data[1] != 0) {
    const auto [error, text] = SocksReplyError(data[1]);
    Fail(error,
         "SOCKS5 proxy answered " + std::to_string(data[1]) + " (" + std::string(text) + ")");
    return std::nullopt;
  }
  if (data.size() < 4) {
    return 0;
  }
  std::size_t address_length = 0;
  switch (data[3]) {
    case kAtypIpv4:
      address_length = 4;
      break;
    case kAtypIpv6:
      address_length = 16;
      break;
    case kAtypDomain:
      if (data.size() < 5) {
        return 0;
      }
      address_length = 1 + std::size_t{data[4]};
      break;
    default:
      Fail(EPROTO, "SOCKS5 proxy reply has unknown address type " + std::to_string(data[3]));
      return std::nullopt;
  }
  const std::size_t total = 4 + address_length + 2;
  if (data.size() < total) {
    return 0;
  }
  state_ = State::kDone;
  return total;
}

void ProxyHandshake::Queue(const std::vector<std::uint8_t>& bytes) {
  output_.insert(output_.end(), bytes.begin(), bytes.end());
}

void ProxyHandshake::Fail(int error, std::string failure) {
  state_ = State::kFailed;
  error_ = error;
  failure_ = std::move(failure);
}

}  // namespace sandgate::approvals
