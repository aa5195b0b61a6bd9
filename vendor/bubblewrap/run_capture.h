#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "base/result.h"

namespace sandgate::bubblewrap {

// How a captured child ended and what it printed.
struct CapturedRun {
  // stdout and stderr interleaved in the order the child wrote them, at most kMaxCapturedBytes.
  std::string output;
  bool exited = false;  // true: the child called exit and exit_code is valid
  int exit_code = -1;
  int term_signal = 0;  // the signal that killed it when !exited
};

// Output beyond this is read and dropped, so a runaway child can't grow sandgate's memory.
inline constexpr std::size_t kMaxCapturedBytes = std::size_t{1} << 20;

// Runs `program args...` (argv[0] is `program`, no shell, no PATH search; the environment is
// inherited), with stdin on /dev/null and stdout and stderr both on one pipe that is read here.
// Waits for exactly this child (a pidfd, never waitpid(-1), so other children of sandgate are
// left to their owners) for at most `timeout`; on expiry the child is killed with SIGKILL,
// reaped, and the Error (errnum 0) says it timed out.
//
// Once the child has exited, output still in the pipe is collected, but a grandchild that keeps
// the pipe open is not waited for. Blocking; meant for short helper runs at startup or while
// explaining a failure, not for the event loop.
[[nodiscard]] base::Result<CapturedRun> RunAndCapture(const std::filesystem::path& program,
                                                      const std::vector<std::string>& args,
                                                      std::chrono::milliseconds timeout);

}  // namespace sandgate::bubblewrap
