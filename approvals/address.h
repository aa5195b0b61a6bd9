#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "approvals/problem.h"

namespace sandgate::approvals {

enum class AddressFamily { kInet, kInet6 };

// An IPv4 or IPv6 address as a value: 16 bytes plus the family (IPv4 uses the first 4 bytes, the
// rest stay zero, so the defaulted comparisons are exact).
//
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are stored as the IPv4 address they carry. A dual
// stack socket connecting to ::ffff:127.0.0.1 talks to 127.0.0.1, so matching must see 127.0.0.1;
// otherwise an IPv6 spelling would slip past IPv4 deny rules.
class Address {
 public:
  using V4Bytes = std::array<std::uint8_t, 4>;
  using V6Bytes = std::array<std::uint8_t, 16>;

  // 0.0.0.0
  Address() = default;

  static Address FromV4(const V4Bytes& bytes);
  // Normalizes IPv4-mapped addresses to IPv4 (see above).
  static Address FromV6(const V6Bytes& bytes);
  // Dotted-quad IPv4 ("10.0.0.1": exactly four decimal octets, no leading zeros, because some
  // parsers read "010" as octal) or IPv6 text without brackets or zone ("fd00::1").
  static std::optional<Address> Parse(std::string_view text);

  [[nodiscard]] AddressFamily family() const { return family_; }
  [[nodiscard]] int bit_length() const { return family_ == AddressFamily::kInet ? 32 : 128; }
  // Network byte order; 4 bytes for IPv4, 16 for IPv6.
  [[nodiscard]] std::span<const std::uint8_t> bytes() const;

  // 127.0.0.0/8 or ::1.
  [[nodiscard]] bool IsLoopback() const;
  // 0.0.0.0 or ::.
  [[nodiscard]] bool IsUnspecified() const;
  // The address a connect() to this address actually reaches. Linux (like BSD) turns a connect
  // to 0.0.0.0 into one to 127.0.0.1 and a connect to :: into one to ::1, so those must be
  // matched as loopback or "deny localhost" could be bypassed by connecting to 0.0.0.0.
  [[nodiscard]] Address ConnectTarget() const;

  // "10.0.0.1" or RFC 5952 IPv6 text ("fd00::1"), never bracketed.
  [[nodiscard]] std::string ToString() const;

  friend bool operator==(const Address&, const Address&) = default;
  // clang-tidy's modernize-use-nullptr misreads the literal 0 of the synthesized comparison.
  // NOLINTNEXTLINE(modernize-use-nullptr)
  friend auto operator<=>(const Address&, const Address&) = default;

 private:
  friend class Cidr;
  Address(AddressFamily family, const V6Bytes& bytes) : family_(family), bytes_(bytes) {}

  AddressFamily family_ = AddressFamily::kInet;
  V6Bytes bytes_{};
};

// An address block: network address plus prefix length. A single address is /32 or /128.
class Cidr {
 public:
  static Cidr Host(const Address& address);
  // "10.0.0.0/8", "fd00::/8" (IPv6 without brackets) or a plain address (a single host).
  // Networks with host bits set ("10.0.0.1/8") are rejected rather than silently widened.
  // An IPv4-mapped network of /96 or longer becomes the IPv4 network it covers; a shorter IPv6
  // prefix (e.g. ::/0) stays IPv6 and so does not match IPv4 destinations: SPEC spells a
  // catch-all as both 0.0.0.0/0 and [::/0].
  static std::variant<Cidr, Problem> Parse(std::string_view text);

  [[nodiscard]] bool Contains(const Address& address) const;
  [[nodiscard]] const Address& network() const { return network_; }
  [[nodiscard]] int prefix_length() const { return prefix_length_; }
  [[nodiscard]] bool IsSingleHost() const { return prefix_length_ == network_.bit_length(); }
  // Always "network/prefix", e.g. "10.0.0.0/8" or "::1/128".
  [[nodiscard]] std::string ToString() const;

  friend bool operator==(const Cidr&, const Cidr&) = default;

 private:
  Cidr(Address network, int prefix_length) : network_(network), prefix_length_(prefix_length) {}

  Address network_;
  int prefix_length_ = 0;
};

}  // namespace sandgate::approvals
