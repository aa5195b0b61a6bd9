#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "pipelines/bwrap_argv.h"
#include "pipelines/mount_plan.h"
#include "pipelines/protected_paths.h"
#include "pipelines/sandbox_spec.h"

namespace sandgate::pipelines {

// Which namespaces the legacy pipeline's inner stage makes for itself.
enum class LegacyNamespaces {
  kRoot,  // started as root: mount, PID (and network) namespaces, no user namespace
  kUser,  // an ordinary user where user namespaces work: a user namespace mapping the user to
          // itself, owning new mount, PID (and network) namespaces
  kNone,  // user namespaces unavailable: no namespaces at all; Landlock and seccomp only
};

[[nodiscard]] const char* ToString(LegacyNamespaces namespaces);

// The shape of one legacy sandbox, worked out by the supervisor (LegacyPipeline::Prepare).
struct LegacyShape {
  LegacyNamespaces namespaces = LegacyNamespaces::kNone;
  int landlock_abi = 0;
};

// Whether the sandbox has a network namespace of its own: made wherever namespaces are, unless
// the network is on.
[[nodiscard]] bool HasNetworkNamespace(const SandboxSpec& spec, const LegacyShape& shape);

// The inner stage's arguments for the legacy pipeline, without the program (the sandgate binary
// itself): the same hidden subcommand as inside bwrap, with the legacy part of the setup spelled
// out so that the stage needs to look at nothing but its argv:
//   __sandgate-inner --network=MODE --handoff-fd=N --stderr-fd=M
//       --legacy=root|user|none --landlock-abi=N --chdir=DIR [--no-proc]
//       [--write=ROOT]... [--mount=rw|ro|null:PATH]...  (--probe | -- CMD...)
// The mounts are PlanMounts' plan, in its order.
[[nodiscard]] std::vector<std::string> BuildLegacyArgv(const SandboxSpec& spec,
                                                       const std::vector<Protection>& protections,
                                                       const LegacyShape& shape,
                                                       const InnerStageLaunch& inner,
                                                       InnerAction action);

}  // namespace sandgate::pipelines
