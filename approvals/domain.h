#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "approvals/problem.h"

namespace sandgate::approvals {

// How a domain pattern extends to subdomains: "github.com", "*.github.com", "**.github.com".
enum class DomainScope { kExact, kSubdomainsOnly, kDomainAndSubdomains };

// Validates a domain name per SPEC and returns its canonical form: lowercase, one trailing dot
// stripped. Labels are 1-63 characters of [a-z0-9-] not starting or ending with '-', the name
// is at most 253 characters, and the last label is not all digits (so a mistyped IPv4 address
// such as "10.0.0.256" is an error instead of a domain that can never match).
[[nodiscard]] std::variant<std::string, Problem> CanonicalDomain(std::string_view domain);

// Lowercase and without one trailing dot; no validation. For names that come from DNS answers.
[[nodiscard]] std::string CanonicalHostName(std::string_view host);

// `pattern` is canonical; `host` may have any case and a trailing dot. "*.github.com" must not
// match "github.com" nor "evilgithub.com": a subdomain match needs a '.' right before the
// pattern and a non-empty label before that.
[[nodiscard]] bool DomainMatches(std::string_view pattern, DomainScope scope,
                                 std::string_view host);

}  // namespace sandgate::approvals
