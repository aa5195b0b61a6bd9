#include "approvals/domain.h"

#include <algorithm>
#include <cstddef>
#include <iterator>

namespace sandgate::approvals {
namespace {

constexpr std::size_t kMaxDomainLength = 253;
constexpr std::size_t kMaxLabelLength = 63;

char ToLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string_view StripTrailingDot(std::string_view name) {
  if (!name.empty() && name.back() == '.') {
    name.remove_suffix(1);
  }
  return name;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ToLowerAscii(x) == ToLowerAscii(y);
         });
}

std::string DescribeBadCharacter(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x80) {
    return "non-ASCII character in domain name (use the punycode xn-- form)";
  }
  if (byte < 0x20 || byte == 0x7f) {
    return "control character in domain name";
  }
  return std::string("invalid character '") + c + "' in domain name (allowed: a-z, 0-9, '-')";
}

}  // namespace

std::variant<std::string, Problem> CanonicalDomain(std::string_view domain) {
  const std::string_view name = StripTrailingDot(domain);
  if (name.empty()) {
    return Problem{"empty domain name"};
  }
  if (name.size() > kMaxDomainLength) {
    return Problem{"domain name is " + std::to_string(name.size()) +
                   " characters long (at most 253)"};
  }
  std::string canonical;
  canonical.reserve(name.size());
  std::string_view last_label;
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('.', start);
    if (end == std::string_view::npos) {
      end = name.size();
    }
    const std::string_view label = name.substr(start, end - start);
    if (label.empty()) {
      return Problem{"empty label in domain name"};
    }
    if (label.size() > kMaxLabelLength) {
      return Problem{"label \"" + std::string(label) + "\" is longer than 63 characters"};
    }
    for (const char c : label) {
      const char lower = ToLowerAscii(c);
      if (!(lower >= 'a' && lower <= 'z') && !IsDigit(lower) && lower != '-') {
        return Problem{DescribeBadCharacter(c)};
      }
    }
    if (label.front() == '-' || label.back() == '-') {
      return Problem{"label \"" + std::string(label) + "\" starts or ends with '-'"};
    }
    last_label = label;
    start = end + 1;
  }
  if (std::all_of(last_label.begin(), last_label.end(), IsDigit)) {
    return Problem{"not a valid IPv4 address or domain name (last label \"" +
                   std::string(last_label) + "\" is numeric)"};
  }
  std::transform(name.begin(), name.end(), std::back_inserter(canonical), ToLowerAscii);
  return canonical;
}

std::string CanonicalHostName(std::string_view host) {
  const std::string_view name = StripTrailingDot(host);
  std::string out;
  out.reserve(name.size());
  std::transform(name.begin(), name.end(), std::back_inserter(out), ToLowerAscii);
  return out;
}

bool DomainMatches(std::string_view pattern, DomainScope scope, std::string_view host) {
  const std::string_view name = StripTrailingDot(host);
  if (scope != DomainScope::kSubdomainsOnly && EqualsIgnoreCase(name, pattern)) {
    return true;
  }
  if (scope == DomainScope::kExact) {
    return false;
  }
  // At least "x." before the pattern.
  if (name.size() < pattern.size() + 2) {
    return false;
  }
  const std::size_t dot = name.size() - pattern.size() - 1;
  return name[dot] == '.' && EqualsIgnoreCase(name.substr(dot + 1), pattern);
}

}  // namespace sandgate::approvals
