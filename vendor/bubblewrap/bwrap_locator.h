#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "base/result.h"

namespace sandgate::bubblewrap {

// Finds the bubblewrap binary sandgate will run (SPEC "Command line": --bwrap PATH, env
// SANDGATE_BWRAP, default `bwrap` on PATH). The inputs are passed in rather than read from the
// environment so that the caller reads the environment once, at startup, and tests need none.
//
// Order:
//   1. `explicit_path` (the value of --bwrap) when given;
//   2. else `env_value` (SANDGATE_BWRAP) when non-null and non-empty;
//   3. else "bwrap" searched on `path_env` (PATH). When PATH is unset (nullptr) the search uses
//      "/usr/bin:/bin", like execvp does, so `env -i sandgate ...` still finds the system
//      package; an empty PATH searches nothing.
// A value from 1 or 2 that contains no '/' is a program name and is searched on PATH as well; a
// relative value with a '/' is taken relative to the current directory.
//
// The PATH search only considers absolute directories: an empty entry (which a shell treats as
// ".") or a relative one would let whoever controls the current directory pick the program that
// builds the sandbox. The first regular file there that is executable wins.
//
// Returns an absolute path. On failure the Error has errnum 0 and its context is the complete
// one-line message for the user: what is wrong, where the value came from (--bwrap or
// SANDGATE_BWRAP) and what to do.
[[nodiscard]] base::Result<std::filesystem::path> LocateBwrap(
    const std::optional<std::string>& explicit_path, const char* env_value, const char* path_env);

}  // namespace sandgate::bubblewrap
