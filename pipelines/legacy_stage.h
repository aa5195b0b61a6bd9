#pragma once

#include <string>
#include <vector>

#include "base/result.h"

#include "pipelines/legacy_argv.h"
#include "pipelines/mount_plan.h"
#include "pipelines/sandbox_spec.h"

namespace sandgate::pipelines {

// The legacy part of the inner stage's arguments (see BuildLegacyArgv).
struct LegacyStageArgs {
  LegacyNamespaces namespaces = LegacyNamespaces::kNone;
  int landlock_abi = 0;
  std::string chdir;
  bool proc = true;
  std::vector<std::string> writable_roots;
  std::vector<PlannedMount> mounts;
};

// Builds the legacy sandbox around the calling process, which is the inner stage, single-
// threaded and started by the supervisor with the handoff socket and the caller's stderr open:
//  1. namespaces (LegacyNamespaces), with the user mapped to itself in a user namespace;
//  2. with a PID namespace, a fork: the child is the sandbox's init (pid 1), which makes the mount
//     tree private, carries out the mount plan, brings the network namespace's loopback up,
//     mounts a fresh /proc, and forks the command's process (pid 2); each parent waits for its
//     child and exits with its status, so that the supervisor sees the command's;
//     Without namespaces, one fork all the same: the command's process must not lead a process
//     group to start a session of its own;
//  3. in the command's process: a new session (no controlling terminal: TIOCSTI), the working
//     directory, no_new_privs, Landlock, every capability dropped.
// Returns -1 in the command's process, which goes on to load the seccomp filter and exec; in
// the processes that only waited, the exit status to exit with. A failure is reported through
// `failure` in whichever process it happens, with 125 returned.
[[nodiscard]] int EnterLegacySandbox(const LegacyStageArgs& args, NetworkMode network,
                                     int handoff_fd, int stderr_fd, std::string* failure) noexcept;

// Whether this process could build a kUser sandbox: a child tries what the inner stage will do
// first (a user namespace with the user mapped to itself, owning a mount namespace whose tree it
// makes private). Fails with what the kernel said, e.g. when user namespaces are off or when a
// security module lets them be created without capabilities (Ubuntu's AppArmor restriction).
[[nodiscard]] base::Status ProbeUserNamespace() noexcept;

}  // namespace sandgate::pipelines
