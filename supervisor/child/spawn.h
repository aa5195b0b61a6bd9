#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace sandgate::supervisor {

// The fds the spawned bwrap process finds.
struct SpawnFds {
  int stdin_fd;          // becomes fd 0 (the caller's, or a pipe in --approvals stdio)
  int stdout_fd;         // becomes fd 1
  int stderr_fd;         // becomes fd 2 (a pipe the supervisor reads: bwrap's own errors)
  int handoff_fd;        // becomes fd 3 (the inner stage's end of the handoff socket)
  int caller_stderr_fd;  // becomes fd 4 (restored as the command's stderr by the inner stage)
};

struct SpawnedProcess {
  pid_t pid = -1;
  base::UniqueFd pidfd;  // readable when the process exits; reaped with waitid(P_PIDFD)
};

// vfork + execve of bwrap with exactly fds 0-4 (everything else is closed on exec, so no fd the
// caller leaked to sandgate reaches the sandbox), in its own process group (terminal signals
// reach sandgate, which forwards them to the command), with a parent-death signal so that bwrap
// and with it the sandbox die when sandgate does. Between vfork and exec only async-signal-safe
// calls; an exec failure comes back through a CLOEXEC pipe.
[[nodiscard]] base::Result<SpawnedProcess> SpawnBwrap(const std::filesystem::path& bwrap,
                                                      const std::vector<std::string>& args,
                                                      const SpawnFds& fds);

}  // namespace sandgate::supervisor
