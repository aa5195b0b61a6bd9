#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sandgate::bubblewrap {

// Helpers that turn a child's free-form output into text fit for sandgate's one-line error
// reasons (SPEC "Exit status": a one-line reason on stderr). Output of a foreign program may
// contain anything, including terminal escapes, so every line that reaches a message goes
// through SanitizeLine.

// The first line of `text` (without its '\n' or a trailing '\r').
[[nodiscard]] std::string_view FirstLine(std::string_view text);

// The last line of `text` that holds something other than whitespace, without its line end;
// empty when there is none.
[[nodiscard]] std::string_view LastNonEmptyLine(std::string_view text);

// Trims surrounding whitespace, turns tabs into spaces and other control characters (including
// '\n' and ESC) into '?', and cuts the result to at most `max_chars` characters, marking a cut
// with "...".
[[nodiscard]] std::string SanitizeLine(std::string_view line, std::size_t max_chars = 200);

}  // namespace sandgate::bubblewrap
