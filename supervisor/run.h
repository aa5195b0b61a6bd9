#pragma once

#include "supervisor/run_config.h"

namespace sandgate::supervisor {

// Runs one sandbox to completion and returns sandgate's exit status (the command's own, 128+N,
// or 125 with a one-line reason already printed to stderr).
[[nodiscard]] int RunSandbox(const RunConfig& config);

}  // namespace sandgate::supervisor
