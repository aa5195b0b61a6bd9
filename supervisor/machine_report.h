#pragma once

#include <optional>
#include <string>

namespace sandgate::supervisor {

// What this machine lets sandgate do, as `sandgate debug` (and `sandgate debug landlock` without
// a command) prints it: the kernel, Landlock, user namespaces, seccomp's listener flags,
// bubblewrap, and which pipeline would run here in which shape.
struct MachineFacts {
  std::string kernel;  // uname release
  bool root = false;
  int landlock_abi = 0;
  std::string landlock_error;  // why there is none (landlock_abi 0)
  bool user_namespaces = false;
  std::string user_namespaces_error;
  bool seccomp_listener = false;
  bool wait_killable_recv = false;
  bool sync_wake_up = false;
  std::string seccomp_error;
  std::string bwrap_path;     // empty: not found
  std::string bwrap_version;  // empty: could not be probed
  std::string bwrap_error;
  std::string inner_stage;  // the program run inside each sandbox (child/pipeline.h)
};

[[nodiscard]] MachineFacts GatherMachineFacts(const std::optional<std::string>& bwrap_path);

// "key: value" lines, one fact per line, then the verdict for each pipeline. Pure.
[[nodiscard]] std::string FormatMachineReport(const MachineFacts& facts);

}  // namespace sandgate::supervisor
