#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "approvals/problem.h"

namespace sandgate::approvals {

// Globs for unix socket paths (and abstract names):
//   *     any run of characters within one path component (no '/')
//   **    any run of characters, across components
//   /**/  one '/' or "/.../" (zero or more whole components, as in gitignore)
//   ?     one character other than '/'
//   \c    the character c itself (so a literal path can always be written as a glob)

// A glob is malformed only when it ends in a lone backslash.
[[nodiscard]] std::optional<Problem> CheckGlob(std::string_view pattern);

// Runs in O(pattern x text) time and memory with no backtracking, so no pattern can make a
// matching attempt on an attacker-chosen path expensive.
[[nodiscard]] bool GlobMatches(std::string_view pattern, std::string_view text);

// Escapes '*', '?' and '\' so the result matches exactly `literal`.
[[nodiscard]] std::string EscapeGlob(std::string_view literal);

// Lexical normalization of an absolute path: collapses "//", drops "." and trailing '/',
// resolves ".." (at the root it stays at the root, as the kernel does). Symlinks are not
// resolved. nullopt for a relative or empty path.
[[nodiscard]] std::optional<std::string> NormalizeAbsolutePath(std::string_view path);

}  // namespace sandgate::approvals
