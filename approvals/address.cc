#include "approvals/address.h"

#include <arpa/inet.h>  // inet_pton only: a pure parser, no system call.

#include <algorithm>
#include <cstddef>

namespace sandgate::approvals {
namespace {

constexpr std::array<std::uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
// INET6_ADDRSTRLEN - 1: the longest IPv6 text ("ffff:...:255.255.255.255").
constexpr std::size_t kMaxV6TextLength = 45;
constexpr int kV4MappedPrefixBits = 96;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsV4Mapped(const Address::V6Bytes& bytes) {
  return std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), bytes.begin());
}

std::optional<Address::V4Bytes> ParseV4Bytes(std::string_view text) {
  Address::V4Bytes out{};
  std::size_t pos = 0;
  for (std::size_t octet = 0; octet < out.size(); ++octet) {
    if (octet > 0) {
      if (pos >= text.size() || text[pos] != '.') {
        return std::nullopt;
      }
      ++pos;
    }
    const std::size_t start = pos;
    unsigned value = 0;
    while (pos < text.size() && IsDigit(text[pos]) && pos - start < 3) {
      value = value * 10 + static_cast<unsigned>(text[pos] - '0');
      ++pos;
    }
    if (pos == start || value > 255) {
      return std::nullopt;
    }
    if (pos - start > 1 && text[start] == '0') {
      return std::nullopt;
    }
    out[octet] = static_cast<std::uint8_t>(value);
  }
  // Also rejects a fourth digit in an octet ("1.2.3.1234") and trailing text.
  if (pos != text.size()) {
    return std::nullopt;
  }
  return out;
}

std::optional<Address::V6Bytes> ParseV6Bytes(std::string_view text) {
  // inet_pton wants a NUL-terminated string: an embedded NUL would silently cut the text short
  // ("::1\0junk"), and a zone ("fe80::1%eth0") has no meaning for rules.
  if (text.empty() || text.size() > kMaxV6TextLength ||
      text.find_first_of(std::string_view("\0%", 2)) != std::string_view::npos) {
    return std::nullopt;
  }
  const std::string terminated(text);
  Address::V6Bytes out{};
  if (inet_pton(AF_INET6, terminated.c_str(), out.data()) != 1) {
    return std::nullopt;
  }
  return out;
}

// RFC 5952: lowercase hex, no leading zeros, the longest run (>= 2) of zero groups as "::",
// the first such run on a tie.
std::string FormatV6(const Address::V6Bytes& bytes) {
  constexpr std::string_view kHex = "0123456789abcdef";
  std::array<unsigned, 8> groups{};
  for (std::size_t i = 0; i < groups.size(); ++i) {
    groups[i] = (static_cast<unsigned>(bytes[2 * i]) << 8) | bytes[2 * i + 1];
  }
  std::size_t best_start = groups.size();
  std::size_t best_length = 1;
  for (std::size_t i = 0; i < groups.size();) {
    if (groups[i] != 0) {
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < groups.size() && groups[end] == 0) {
      ++end;
    }
    if (end - i > best_length) {
      best_start = i;
      best_length = end - i;
    }
    i = end;
  }
  std::string out;
  for (std::size_t i = 0; i < groups.size();) {
    if (i == best_start) {
      out += "::";
      i += best_length;
      continue;
    }
    if (!out.empty() && out.back() != ':') {
      out += ':';
    }
    bool leading = true;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const unsigned nibble = (groups[i] >> shift) & 0xfU;
      if (leading && nibble == 0 && shift != 0) {
        continue;
      }
      leading = false;
      out += kHex[nibble];
    }
    ++i;
  }
  return out;
}

Address::V6Bytes Masked(const Address::V6Bytes& bytes, int prefix_length) {
  Address::V6Bytes out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int bits = std::clamp(prefix_length - static_cast<int>(i) * 8, 0, 8);
    const unsigned mask = bits == 0 ? 0U : (0xffU << (8 - bits)) & 0xffU;
    out[i] = static_cast<std::uint8_t>(bytes[i] & mask);
  }
  return out;
}

std::optional<int> ParsePrefixLength(std::string_view text) {
  if (text.empty() || text.size() > 3) {
    return std::nullopt;
  }
  if (text.size() > 1 && text[0] == '0') {
    return std::nullopt;
  }
  int value = 0;
  for (const char c : text) {
    if (!IsDigit(c)) {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace

Address Address::FromV4(const V4Bytes& bytes) {
  V6Bytes stored{};
  std::copy(bytes.begin(), bytes.end(), stored.begin());
  return Address(AddressFamily::kInet, stored);
}

Address Address::FromV6(const V6Bytes& bytes) {
  if (IsV4Mapped(bytes)) {
    return FromV4({bytes[12], bytes[13], bytes[14], bytes[15]});
  }
  return Address(AddressFamily::kInet6, bytes);
}

std::optional<Address> Address::Parse(std::string_view text) {
  if (text.find(':') == std::string_view::npos) {
    const auto v4 = ParseV4Bytes(text);
    if (!v4) {
      return std::nullopt;
    }
    return FromV4(*v4);
  }
  const auto v6 = ParseV6Bytes(text);
  if (!v6) {
    return std::nullopt;
  }
  return FromV6(*v6);
}

std::span<const std::uint8_t> Address::bytes() const {
  return {bytes_.data(), family_ == AddressFamily::kInet ? std::size_t{4} : bytes_.size()};
}

bool Address::IsLoopback() const {
  if (family_ == AddressFamily::kInet) {
    return bytes_[0] == 127;
  }
  static constexpr V6Bytes kV6Loopback = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return bytes_ == kV6Loopback;
}

bool Address::IsUnspecified() const {
  return std::all_of(bytes_.begin(), bytes_.end(), [](std::uint8_t b) { return b == 0; });
}

Address Address::ConnectTarget() const {
  if (!IsUnspecified()) {
    return *this;
  }
  if (family_ == AddressFamily::kInet) {
    return FromV4({127, 0, 0, 1});
  }
  return FromV6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
}

std::string Address::ToString() const {
  if (family_ == AddressFamily::kInet6) {
    return FormatV6(bytes_);
  }
  std::string out;
  for (std::size_t i = 0; i < 4; ++i) {
    if (i > 0) {
      out += '.';
    }
    out += std::to_string(bytes_[i]);
  }
  return out;
}

Cidr Cidr::Host(const Address& address) { return Cidr(address, address.bit_length()); }

std::variant<Cidr, Problem> Cidr::Parse(std::string_view text) {
  const std::size_t slash = text.find('/');
  const std::string_view address_text = text.substr(0, slash);
  const bool is_v6 = address_text.find(':') != std::string_view::npos;

  Address::V6Bytes raw{};
  AddressFamily family = AddressFamily::kInet;
  if (is_v6) {
    const auto v6 = ParseV6Bytes(address_text);
    if (!v6) {
      return Problem{"invalid IPv6 address \"" + std::string(address_text) + "\""};
    }
    raw = *v6;
    family = AddressFamily::kInet6;
  } else {
    const auto v4 = ParseV4Bytes(address_text);
    if (!v4) {
      return Problem{"invalid IPv4 address \"" + std::string(address_text) + "\""};
    }
    std::copy(v4->begin(), v4->end(), raw.begin());
  }

  if (slash == std::string_view::npos) {
    const Address address = is_v6 ? Address::FromV6(raw) : Address(family, raw);
    return Host(address);
  }

  const int max_prefix = is_v6 ? 128 : 32;
  const std::string_view prefix_text = text.substr(slash + 1);
  const auto prefix = ParsePrefixLength(prefix_text);
  if (!prefix || *prefix > max_prefix) {
    return Problem{"prefix length \"" + std::string(prefix_text) + "\" out of range 0-" +
                   std::to_string(max_prefix)};
  }

  int prefix_length = *prefix;
  if (is_v6 && IsV4Mapped(raw) && prefix_length >= kV4MappedPrefixBits) {
    // ::ffff:10.0.0.0/104 is 10.0.0.0/8 in the address space matching works in.
    Address::V6Bytes v4{};
    std::copy(raw.begin() + 12, raw.end(), v4.begin());
    raw = v4;
    family = AddressFamily::kInet;
    prefix_length -= kV4MappedPrefixBits;
  }

  const Address::V6Bytes masked = Masked(raw, prefix_length);
  if (masked != raw) {
    const Cidr suggestion(Address(family, masked), prefix_length);
    return Problem{"host bits set in \"" + std::string(text) + "\" (did you mean " +
                   suggestion.ToString() + "?)"};
  }
  return Cidr(Address(family, raw), prefix_length);
}

bool Cidr::Contains(const Address& address) const {
  if (address.family() != network_.family()) {
    return false;
  }
  return Masked(address.bytes_, prefix_length_) == network_.bytes_;
}

std::string Cidr::ToString() const {
  return network_.ToString() + "/" + std::to_string(prefix_length_);
}

}  // namespace sandgate::approvals
