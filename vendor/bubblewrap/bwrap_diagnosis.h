#pragma once

#include <string>
#include <string_view>

#include "vendor/bubblewrap/bwrap_probe.h"

namespace sandgate::bubblewrap {

// The one-line reason (no newline) sandgate prints after "sandbox setup failed" when bwrap exits
// before the command starts. `info` comes from ProbeBwrap, which the caller runs only now, on
// failure; it is null when that probe failed too. `bwrap_stderr` is what bwrap wrote to stderr.
//
// An outdated bwrap is named first, since then its own message ("Unknown option ...") is a
// symptom. Otherwise the reason is bwrap's last non-empty stderr line, as "bubblewrap: ...",
// plus a hint in parentheses for failures with a known cause (user namespaces, /proc).
[[nodiscard]] std::string DiagnoseSetupFailure(const BwrapInfo* info,
                                               std::string_view bwrap_stderr);

}  // namespace sandgate::bubblewrap
