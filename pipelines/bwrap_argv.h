#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "pipelines/handoff.h"
#include "pipelines/protected_paths.h"
#include "pipelines/sandbox_spec.h"

namespace sandgate::pipelines {

// How the inner stage is started inside the sandbox and which fds it finds there.
struct InnerStageLaunch {
  std::filesystem::path self_exe;  // the sandgate binary, re-executed inside bwrap
  int handoff_fd = 3;              // socket back to the supervisor
  int stderr_fd = 4;               // the caller's stderr, restored by the inner stage before exec
};

// Fixed fd layout of the bwrap process: 0 and 1 are the caller's, 2 is a pipe the supervisor
// reads (bwrap's own errors), 3 and 4 as in InnerStageLaunch.
inline constexpr int kBwrapHandoffFd = 3;
inline constexpr int kBwrapStderrFd = 4;

enum class InnerAction { kExecCommand, kProbe };

// The argument vector of bubblewrap, without the binary itself: the root read-only, then the
// mounts of PlanMounts (pipelines/mount_plan.h) in their order, a fresh /dev and /proc. Pure:
// the filesystem was inspected before (FindProtections).
[[nodiscard]] std::vector<std::string> BuildBwrapArgv(const SandboxSpec& spec,
                                                      const std::vector<Protection>& protections,
                                                      const InnerStageLaunch& inner,
                                                      InnerAction action = InnerAction::kExecCommand);

// The small program of the bwrap pipeline's inner stage, installed next to sandgate
// (pipelines/inner/).
inline constexpr const char* kInnerStageProgram = "sandgate-inner";

}  // namespace sandgate::pipelines
