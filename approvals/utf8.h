#pragma once

#include <cstddef>
#include <string_view>

namespace sandgate::approvals {

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates (U+D800..U+DFFF), nothing above
// U+10FFFF. This is the test for whether process output can go into a JSON string as is.
[[nodiscard]] bool IsValidUtf8(std::string_view data);

// Length (0-3) of a trailing sequence that is a valid but unfinished UTF-8 character. Output
// arrives in arbitrary chunks; holding these bytes back until the next chunk keeps text that
// happens to be split mid-character from being sent as base64.
[[nodiscard]] std::size_t IncompleteUtf8Tail(std::string_view data);

}  // namespace sandgate::approvals
