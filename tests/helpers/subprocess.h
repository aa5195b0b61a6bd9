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
};

// Runs argv (no shell) with stdin from /dev/null and captures stdout and stderr.
RunResult Run(const std::vector<std::string>& argv, const RunOptions& options = {});

// The sandgate binary and the probe built with this test suite (paths come from CMake).
std::string SandgateBinary();
std::string ProbeBinary();

}  // namespace sandgate::testing
