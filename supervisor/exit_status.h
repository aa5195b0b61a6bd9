#pragma once

namespace sandgate::supervisor {

// sandgate's own failures (bad option or policy, bubblewrap missing, sandbox setup failed).
inline constexpr int kExitSandgateFailed = 125;

// The shell convention: the exit code, or 128+N for a death by signal N.
[[nodiscard]] int ExitCodeFromWaitStatus(int code, int signal);

}  // namespace sandgate::supervisor
