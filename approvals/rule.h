#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "approvals/address.h"
#include "approvals/destination.h"
#include "approvals/domain.h"

namespace sandgate::approvals {

struct PortRange {
  std::uint16_t first = 1;
  std::uint16_t last = 65535;

  [[nodiscard]] bool Contains(std::uint16_t port) const { return port >= first && port <= last; }
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

// "github.com", "*.github.com", "**.github.com"; `domain` is canonical (see CanonicalDomain).
struct DomainPattern {
  std::string domain;
  DomainScope scope = DomainScope::kExact;
  friend bool operator==(const DomainPattern&, const DomainPattern&) = default;
};

// "localhost": the name and every loopback address.
struct LocalhostPattern {
  friend bool operator==(const LocalhostPattern&, const LocalhostPattern&) = default;
};

// "unix:/var/run/*.sock" (an absolute path glob, see path_glob.h).
struct UnixPathPattern {
  std::string glob;
  friend bool operator==(const UnixPathPattern&, const UnixPathPattern&) = default;
};

// "unix-abstract:NAME" (NAME is a glob too, so a literal '*' must be written "\*").
struct UnixAbstractPattern {
  std::string glob;
  friend bool operator==(const UnixAbstractPattern&, const UnixAbstractPattern&) = default;
};

// IPv4/IPv6 addresses and CIDRs are a Cidr (a single address is /32 or /128).
using RuleTarget =
    std::variant<DomainPattern, LocalhostPattern, Cidr, UnixPathPattern, UnixAbstractPattern>;

// One parsed rule. The grammar cannot name a protocol; `protocol` is set only by session
// memory, which remembers exactly the (target, port, protocol) that was answered.
struct Rule {
  RuleTarget target;
  std::optional<PortRange> ports;    // nullopt: any port; ignored for unix rules
  std::optional<Protocol> protocol;  // nullopt: tcp and udp for host rules, unix for unix rules
  std::string text;                  // canonical text (FormatRule), reported as the matched rule

  friend bool operator==(const Rule&, const Rule&) = default;
};

// One line naming the rule and what is wrong, e.g.
// "github.com:0": port 0 out of range 1-65535
struct RuleError {
  std::string message;
};

// RULE := HOST[:PORTS] | unix:PATHGLOB | unix-abstract:NAME (SPEC "Rules"). Surrounding
// whitespace is ignored.
[[nodiscard]] std::variant<Rule, RuleError> ParseRule(std::string_view text);

// Canonical text: lowercase domain without trailing dot, compressed IPv6 in brackets,
// "N" or "N-M" ports. Parsing the result gives the same rule back.
[[nodiscard]] std::string FormatRule(const Rule& rule);

// A domain rule matches only a destination with a known name (from DNS attribution): its host
// or any of its names; an address rule matches the address (and also the address a connect to
// it reaches, so 0.0.0.0 counts as 127.0.0.1). Host rules never match unix destinations and
// vice versa.
[[nodiscard]] bool Matches(const Rule& rule, const Destination& destination);

// The name through which `rule` matches `destination`: its host when the rule matches that,
// else the first (most recent) of its names that it matches. nullopt when the rule matches no
// name: an address rule, "localhost" matched by a loopback address, or no match at all.
[[nodiscard]] std::optional<std::string> MatchedName(const Rule& rule,
                                                     const Destination& destination);

}  // namespace sandgate::approvals
