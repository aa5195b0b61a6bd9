#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sandgate::approvals {

// RFC 4648 base64 with the standard alphabet and '=' padding.
[[nodiscard]] std::string Base64Encode(std::string_view data);

// Strict decoding: length a multiple of 4, padding only at the end, no whitespace, and unused
// trailing bits zero, so every input has at most one meaning. nullopt when malformed.
[[nodiscard]] std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace sandgate::approvals
