#include "approvals/rule.h"

#include <algorithm>
#include <cstddef>
#include <utility>

#include "approvals/message_text.h"
#include "approvals/path_glob.h"

namespace sandgate::approvals {
namespace {

constexpr std::string_view kUnixPrefix = "unix:";
constexpr std::string_view kUnixAbstractPrefix = "unix-abstract:";
// Single-label hosts that, followed by ":PORT", would read as the prefixes above.
constexpr std::string_view kUnixWord = "unix";
constexpr std::string_view kUnixAbstractWord = "unix-abstract";
constexpr std::string_view kLocalhost = "localhost";
// More digits than any port has; longer runs are reported as out of range, not parsed.
constexpr std::size_t kMaxPortDigits = 5;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && IsSpace(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

char ToLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), s.begin(),
                    [](char p, char c) { return p == ToLowerAscii(c); });
}

std::variant<std::uint16_t, Problem> ParsePort(std::string_view digits, std::string_view whole) {
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), IsDigit)) {
    return Problem{"invalid port \"" + std::string(whole) + "\" (expected N or N-M)"};
  }
  unsigned value = 0;
  if (digits.size() <= kMaxPortDigits) {
    for (const char c : digits) {
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
  }
  if (digits.size() > kMaxPortDigits || value < 1 || value > 65535) {
    return Problem{"port " + std::string(digits) + " out of range 1-65535"};
  }
  return static_cast<std::uint16_t>(value);
}

std::variant<PortRange, Problem> ParsePorts(std::string_view text) {
  if (text.empty()) {
    return Problem{"missing port after ':'"};
  }
  const std::size_t dash = text.find('-');
  const auto first = ParsePort(text.substr(0, dash), text);
  if (const auto* problem = std::get_if<Problem>(&first)) {
    return *problem;
  }
  if (dash == std::string_view::npos) {
    const auto port = std::get<std::uint16_t>(first);
    return PortRange{port, port};
  }
  const auto last = ParsePort(text.substr(dash + 1), text);
  if (const auto* problem = std::get_if<Problem>(&last)) {
    return *problem;
  }
  const PortRange range{std::get<std::uint16_t>(first), std::get<std::uint16_t>(last)};
  if (range.first > range.last) {
    return Problem{"port range " + std::string(text) + " is reversed (start > end)"};
  }
  return range;
}

// Control bytes in a socket rule are a mistake (a stray newline from a policy file), and would
// also break the promise that a rule's text parses back to the same rule: the text is trimmed.
bool HasControlByte(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

std::variant<RuleTarget, Problem> ParseUnixPath(std::string_view path) {
  if (path.empty()) {
    return Problem{"missing socket path after \"unix:\""};
  }
  if (path.front() != '/') {
    return Problem{"socket path must be absolute (start with '/')"};
  }
  if (HasControlByte(path)) {
    return Problem{"control character in socket path"};
  }
  if (auto problem = CheckGlob(path)) {
    return *problem;
  }
  // With "\/" ruled out every '/' separates components, so normalizing the pattern cannot split
  // an escape from the character it escapes.
  for (std::size_t i = 0; i + 1 < path.size(); ++i) {
    if (path[i] != '\\') {
      continue;
    }
    if (path[i + 1] == '/') {
      return Problem{"'/' cannot be escaped in a socket path"};
    }
    ++i;
  }
  // "." and ".." would make the pattern differ from the normalized paths it is matched against.
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    const std::string_view part = path.substr(start, end - start);
    if (part == "." || part == "..") {
      return Problem{"socket path must not contain \".\" or \"..\" components"};
    }
    start = end + 1;
  }
  std::string normalized = *NormalizeAbsolutePath(path);
  // Only reachable as "/x /": normalizing drops the '/', and trimming would then drop the space.
  if (normalized.back() == ' ') {
    return Problem{"socket path must not end with a space"};
  }
  return UnixPathPattern{std::move(normalized)};
}

std::variant<RuleTarget, Problem> ParseUnixAbstract(std::string_view name) {
  if (name.empty()) {
    return Problem{"missing socket name after \"unix-abstract:\""};
  }
  if (HasControlByte(name)) {
    return Problem{"control character in socket name"};
  }
  if (auto problem = CheckGlob(name)) {
    return *problem;
  }
  return UnixAbstractPattern{std::string(name)};
}

std::variant<RuleTarget, Problem> ParseBracketedHost(std::string_view inside) {
  if (inside.find(':') == std::string_view::npos) {
    return Problem{"expected an IPv6 address or network inside [...]"};
  }
  auto cidr = Cidr::Parse(inside);
  if (auto* problem = std::get_if<Problem>(&cidr)) {
    return *problem;
  }
  return std::get<Cidr>(cidr);
}

std::variant<RuleTarget, Problem> ParsePlainHost(std::string_view host) {
  if (host.empty()) {
    return Problem{"missing host"};
  }
  if (host.size() >= kLocalhost.size() && host.size() <= kLocalhost.size() + 1 &&
      StartsWithIgnoreCase(host, kLocalhost) &&
      (host.size() == kLocalhost.size() || host.back() == '.')) {
    return LocalhostPattern{};
  }
  const bool looks_like_ipv4 = std::all_of(
      host.begin(), host.end(), [](char c) { return IsDigit(c) || c == '.' || c == '/'; });
  if (!looks_like_ipv4 && host.find('/') != std::string_view::npos) {
    return Problem{"'/' is only allowed in an IP network such as 10.0.0.0/8 or [fd00::/8]"};
  }
  if (looks_like_ipv4) {
    auto cidr = Cidr::Parse(host);
    if (auto* problem = std::get_if<Problem>(&cidr)) {
      return *problem;
    }
    return std::get<Cidr>(cidr);
  }
  DomainScope scope = DomainScope::kExact;
  if (host.starts_with("**.")) {
    scope = DomainScope::kDomainAndSubdomains;
    host.remove_prefix(3);
  } else if (host.starts_with("*.")) {
    scope = DomainScope::kSubdomainsOnly;
    host.remove_prefix(2);
  }
  if (host.find('*') != std::string_view::npos) {
    return Problem{
        "'*' is only allowed as a whole leading label (*.example.com or "
        "**.example.com)"};
  }
  auto domain = CanonicalDomain(host);
  if (auto* problem = std::get_if<Problem>(&domain)) {
    return *problem;
  }
  return DomainPattern{std::move(std::get<std::string>(domain)), scope};
}

std::string FormatTarget(const RuleTarget& target) {
  struct Formatter {
    std::string operator()(const DomainPattern& p) const {
      switch (p.scope) {
        case DomainScope::kExact:
          return p.domain;
        case DomainScope::kSubdomainsOnly:
          return "*." + p.domain;
        case DomainScope::kDomainAndSubdomains:
          return "**." + p.domain;
      }
      return p.domain;
    }
    std::string operator()(const LocalhostPattern&) const { return std::string(kLocalhost); }
    std::string operator()(const Cidr& c) const {
      const std::string text = c.IsSingleHost() ? c.network().ToString() : c.ToString();
      return c.network().family() == AddressFamily::kInet6 ? "[" + text + "]" : text;
    }
    std::string operator()(const UnixPathPattern& p) const {
      return std::string(kUnixPrefix) + p.glob;
    }
    std::string operator()(const UnixAbstractPattern& p) const {
      return std::string(kUnixAbstractPrefix) + p.glob;
    }
  };
  return std::visit(Formatter{}, target);
}

bool IsUnixTarget(const RuleTarget& target) {
  return std::holds_alternative<UnixPathPattern>(target) ||
         std::holds_alternative<UnixAbstractPattern>(target);
}

// Host rules: protocol and ports; the target is checked by the caller.
bool HostRuleApplies(const Rule& rule, const Destination& d) {
  return d.protocol != Protocol::kUnix && (!rule.ports || rule.ports->Contains(d.port));
}

// The destination's host, then its names in order (most recent first): the first that `fits`.
template <typename Fits>
const std::string* FirstFittingName(const Destination& d, Fits fits) {
  if (d.host && fits(*d.host)) {
    return &*d.host;
  }
  const auto name = std::find_if(d.names.begin(), d.names.end(), fits);
  return name == d.names.end() ? nullptr : &*name;
}

// The name through which a domain or localhost rule matches, or nullptr; the rule's protocol is
// checked by the caller.
const std::string* NameMatch(const Rule& rule, const Destination& d) {
  if (!HostRuleApplies(rule, d)) {
    return nullptr;
  }
  if (const auto* p = std::get_if<DomainPattern>(&rule.target)) {
    return FirstFittingName(
        d, [p](const std::string& name) { return DomainMatches(p->domain, p->scope, name); });
  }
  if (std::holds_alternative<LocalhostPattern>(rule.target)) {
    return FirstFittingName(d, [](const std::string& name) {
      return DomainMatches(kLocalhost, DomainScope::kExact, name);
    });
  }
  return nullptr;
}

struct TargetMatcher {
  const Rule& rule;
  const Destination& d;

  bool operator()(const DomainPattern&) const { return NameMatch(rule, d) != nullptr; }
  bool operator()(const LocalhostPattern&) const {
    if (NameMatch(rule, d) != nullptr) {
      return true;
    }
    return HostRuleApplies(rule, d) && d.address && d.address->ConnectTarget().IsLoopback();
  }
  bool operator()(const Cidr& c) const {
    return HostRuleApplies(rule, d) && d.address &&
           (c.Contains(*d.address) || c.Contains(d.address->ConnectTarget()));
  }
  bool operator()(const UnixPathPattern& p) const {
    if (d.protocol != Protocol::kUnix || !d.unix_path) {
      return false;
    }
    const auto normalized = NormalizeAbsolutePath(*d.unix_path);
    return normalized && GlobMatches(p.glob, *normalized);
  }
  bool operator()(const UnixAbstractPattern& p) const {
    return d.protocol == Protocol::kUnix && d.unix_abstract &&
           GlobMatches(p.glob, *d.unix_abstract);
  }
};

}  // namespace

std::variant<Rule, RuleError> ParseRule(std::string_view input) {
  const std::string_view text = Trim(input);
  // The problem phrase quotes pieces of the rule too (a port, a label), so it is escaped as well.
  const auto fail = [&](const Problem& problem) {
    return RuleError{QuoteForMessage(text) + ": " + EscapeControlBytes(problem.what)};
  };
  if (text.empty()) {
    return fail(Problem{"empty rule"});
  }

  Rule rule;
  std::variant<RuleTarget, Problem> target = Problem{};
  if (StartsWithIgnoreCase(text, kUnixAbstractPrefix)) {
    target = ParseUnixAbstract(text.substr(kUnixAbstractPrefix.size()));
  } else if (StartsWithIgnoreCase(text, kUnixPrefix)) {
    target = ParseUnixPath(text.substr(kUnixPrefix.size()));
  } else {
    std::string_view host;
    std::optional<std::string_view> ports;
    if (text.front() == '[') {
      const std::size_t close = text.find(']');
      if (close == std::string_view::npos) {
        return fail(Problem{"missing ']' after IPv6 address"});
      }
      const std::string_view rest = text.substr(close + 1);
      if (!rest.empty()) {
        if (rest.front() != ':') {
          return fail(Problem{"unexpected text after ']' (expected ':PORTS')"});
        }
        ports = rest.substr(1);
      }
      target = ParseBracketedHost(text.substr(1, close - 1));
    } else {
      const std::size_t colon = text.find(':');
      if (colon != std::string_view::npos) {
        if (text.find(':', colon + 1) != std::string_view::npos) {
          return fail(Problem{"IPv6 addresses must be in brackets, e.g. [::1]:443 or [fd00::/8]"});
        }
        ports = text.substr(colon + 1);
      }
      host = text.substr(0, colon);
      if (host == "*") {
        const std::string suffix = ports ? ":" + std::string(*ports) : "";
        return fail(Problem{"a bare \"*\" is not allowed; to match every host write 0.0.0.0/0" +
                            suffix + " and [::/0]" + suffix});
      }
      target = ParsePlainHost(host);
    }
    if (const auto* problem = std::get_if<Problem>(&target)) {
      return fail(*problem);
    }
    if (const auto* domain = std::get_if<DomainPattern>(&std::get<RuleTarget>(target));
        ports && domain != nullptr && domain->scope == DomainScope::kExact &&
        (domain->domain == kUnixWord || domain->domain == kUnixAbstractWord)) {
      // "unix.:1" would be written "unix:1", which reads as a socket path.
      return fail(Problem{"a host named \"" + domain->domain +
                          "\" cannot have ports: it would read as a unix socket rule"});
    }
    if (ports) {
      auto range = ParsePorts(*ports);
      if (const auto* problem = std::get_if<Problem>(&range)) {
        return fail(*problem);
      }
      rule.ports = std::get<PortRange>(range);
    }
  }
  if (const auto* problem = std::get_if<Problem>(&target)) {
    return fail(*problem);
  }
  rule.target = std::move(std::get<RuleTarget>(target));
  rule.text = FormatRule(rule);
  return rule;
}

std::string FormatRule(const Rule& rule) {
  std::string out = FormatTarget(rule.target);
  if (rule.ports && !IsUnixTarget(rule.target)) {
    out += ':';
    out += std::to_string(rule.ports->first);
    if (rule.ports->last != rule.ports->first) {
      out += '-';
      out += std::to_string(rule.ports->last);
    }
  }
  return out;
}

bool Matches(const Rule& rule, const Destination& destination) {
  if (rule.protocol && *rule.protocol != destination.protocol) {
    return false;
  }
  return std::visit(TargetMatcher{rule, destination}, rule.target);
}

std::optional<std::string> MatchedName(const Rule& rule, const Destination& destination) {
  if (rule.protocol && *rule.protocol != destination.protocol) {
    return std::nullopt;
  }
  const std::string* name = NameMatch(rule, destination);
  return name != nullptr ? std::optional<std::string>(*name) : std::nullopt;
}

}  // namespace sandgate::approvals
