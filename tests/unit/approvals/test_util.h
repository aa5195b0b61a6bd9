#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "approvals/address.h"
#include "approvals/destination.h"
#include "approvals/rule.h"

namespace sandgate::approvals::testing {

inline Address Addr(std::string_view text) {
  const auto address = Address::Parse(text);
  EXPECT_TRUE(address.has_value()) << "test address does not parse: " << text;
  return address.value_or(Address{});
}

// A rule that must parse (the test fails, and an empty rule is returned, otherwise).
inline Rule MustParse(std::string_view text) {
  auto parsed = ParseRule(text);
  if (const auto* error = std::get_if<RuleError>(&parsed)) {
    ADD_FAILURE() << "rule does not parse: " << error->message;
    return {};
  }
  return std::get<Rule>(parsed);
}

// The error message for a rule that must not parse ("" and a test failure when it parses).
inline std::string ParseError(std::string_view text) {
  auto parsed = ParseRule(text);
  if (const auto* error = std::get_if<RuleError>(&parsed)) {
    return error->message;
  }
  ADD_FAILURE() << "rule unexpectedly parses: " << text << " as " << std::get<Rule>(parsed).text;
  return "";
}

inline Destination HostDest(std::string_view host, std::uint16_t port,
                            Protocol protocol = Protocol::kTcp) {
  Destination d;
  d.host = std::string(host);
  d.port = port;
  d.protocol = protocol;
  return d;
}

inline Destination AddrDest(std::string_view address, std::uint16_t port,
                            Protocol protocol = Protocol::kTcp) {
  Destination d;
  d.address = Addr(address);
  d.port = port;
  d.protocol = protocol;
  return d;
}

inline Destination HostAddrDest(std::string_view host, std::string_view address, std::uint16_t port,
                                Protocol protocol = Protocol::kTcp) {
  Destination d = AddrDest(address, port, protocol);
  d.host = std::string(host);
  return d;
}

inline Destination UnixPathDest(std::string_view path) {
  Destination d;
  d.protocol = Protocol::kUnix;
  d.unix_path = std::string(path);
  return d;
}

inline Destination UnixAbstractDest(std::string_view name) {
  Destination d;
  d.protocol = Protocol::kUnix;
  d.unix_abstract = std::string(name);
  return d;
}

}  // namespace sandgate::approvals::testing
