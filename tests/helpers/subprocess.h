#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sandgate::testing {

struct RunResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  bool timed_out = false;
  std::string out;
  std::string err;
};

struct RunOptions {
  std::map<std::string, std::string> env;  // added to (or overriding) the test's environment
  std::vector<std::string> unset_env;
  std::optional<std::string> cwd;
  std::chrono::milliseconds timeout{60000};  // a safety net against hangs, not an assertion
  // Sent to the child once its stdout contains `signal_when_output` (0 = never), e.g. to test
  // signal forwarding only after the sandboxed command said it is ready.
  int signal = 0;
  std::string signal_when_output;
  std::vector<int> inherit_fds;  // left open (without CLOEXEC) in the child at the same number
};

// Where sandgate runs when a test names no cwd: a directory every identity of the test matrix
// can enter (the build tree may not be).
inline constexpr const char* kSandgateCwd = "/tmp";

// Runs argv (no shell) with stdin from /dev/null and captures stdout and stderr. When argv[0]
// is SandgateBinary(), it runs as the matrix cell's identity (tests/helpers/identity.h), in
// kSandgateCwd unless `options.cwd` says otherwise.
RunResult RunCommand(const std::vector<std::string>& argv, const RunOptions& options = {});

// The sandgate binary and the probe built with this test suite (paths come from CMake), where
// the cell's identity can execute them.
std::string SandgateBinary();
std::string ProbeBinary();

// `sandgate run OPTIONS -- sandbox_probe PROBE_ARGS...`
RunResult RunProbe(const std::vector<std::string>& sandgate_options,
                   const std::vector<std::string>& probe_args, const RunOptions& options = {});

// True when this machine can run bubblewrap sandboxes at all (tests skip with a reason if not).
bool SandboxesWork(std::string* why);

}  // namespace sandgate::testing
