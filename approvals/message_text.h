#pragma once

#include <string>
#include <string_view>

namespace sandgate::approvals {

// Error messages quote untrusted input (rules, replay lines) and must stay one line: they end up
// on stderr and in logs. These escape control bytes as \xNN; everything else is kept.

// Control bytes (< 0x20 and 0x7f) escaped.
[[nodiscard]] std::string EscapeControlBytes(std::string_view text);

// `text` in double quotes, with control bytes, '"' and '\' escaped.
[[nodiscard]] std::string QuoteForMessage(std::string_view text);

}  // namespace sandgate::approvals
