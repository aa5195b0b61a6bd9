#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "supervisor/run_config.h"

namespace sandgate::supervisor {

// The command line asked for output and an exit instead of a sandbox: --help, --version, or
// an error (exit 125, one line on stderr).
struct CliExit {
  int code = 0;
  std::string message;  // printed as is; ends with a newline
  bool to_stderr = false;
};

// `sandgate debug`, or `sandgate debug landlock` without a command: print what this machine
// allows (machine_report.h) and exit 0.
struct MachineReportRequest {
  std::optional<std::string> bwrap_path;  // --bwrap, to report on that one
};

// Codex's danger-full-access: the command runs as it is, in `cwd`, without any sandbox.
struct ExecUnsandboxed {
  std::vector<std::string> command;
  std::string cwd;
};

using CliResult = std::variant<RunConfig, CliExit, MachineReportRequest, ExecUnsandboxed>;

// Parses `sandgate run ...` / `sandgate debug landlock ...` into a RunConfig. Resolves the cwd
// and writable roots against the filesystem (they must exist) so that everything after works on
// canonical paths. Never throws.
[[nodiscard]] CliResult ParseCommandLine(int argc, const char* const* argv);

}  // namespace sandgate::supervisor
