#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "base/result.h"
#include "pipelines/bwrap_argv.h"
#include "pipelines/placeholders.h"
#include "pipelines/protected_paths.h"
#include "pipelines/seccomp_filter.h"
#include "supervisor/child/child.h"

namespace sandgate::supervisor {

// What starts the inner stage of one sandbox: a program and its arguments (without the
// program). SandboxChild spawns it with the fd layout of pipelines/bwrap_argv.h (the handoff
// socket at 3, the caller's stderr at 4), whichever pipeline it is.
struct StageLaunch {
  std::filesystem::path program;
  std::vector<std::string> args;
  // The seccomp filter the inner stage loads (pipelines/handoff.h), compiled when SandboxChild
  // asks for it.
  SandboxChild::ProgramSource seccomp_program;
};

// A way to build a sandbox around the inner stage. run.cc knows only this: the pipeline
// builds what it needs, says how to start the inner stage, and explains a failed setup; the
// handoff, mediation and everything after are the same for every pipeline.
class Pipeline {
 public:
  virtual ~Pipeline() = default;

  // "bwrap" or "legacy", as sandbox/started reports it.
  [[nodiscard]] virtual const char* Name() const = 0;
  // Everything needed before a start (binaries found, protections worked out, placeholders
  // held until the pipeline is destroyed). Fails with a one-line reason.
  virtual base::Status Prepare() = 0;
  // How to start the inner stage: for the command, or only to probe that the setup works.
  [[nodiscard]] virtual StageLaunch Stage(pipelines::InnerAction action) const = 0;
  // The setup failed before or inside the inner stage: why, in one line.
  [[nodiscard]] virtual std::string ExplainSetupFailure(const ChildOutcome& outcome) const = 0;
  // Would a sandbox without a fresh /proc be worth trying after a setup that failed before the
  // inner stage? If so, switches to it and returns true (once).
  virtual bool FallBackWithoutProc() = 0;
  [[nodiscard]] virtual bool CanFallBackWithoutProc() const = 0;
  // Does the command get a network namespace of its own? Without one (the legacy pipeline where
  // user namespaces are unavailable) it shares the host's: nothing it reaches is sandbox-local.
  [[nodiscard]] virtual bool OwnNetworkNamespace() const = 0;
};

// What both pipelines prepare alike (pipeline.cc).
// Which program runs the inner stage. The bwrap pipeline's is `sandgate-inner` next to the
// sandgate binary (freestanding, it starts in a fraction of the time), or else the sandgate
// binary itself, whose hidden subcommand is the same inner stage. The legacy pipeline's builds
// the sandbox too (namespaces, mounts, Landlock), which only the sandgate binary can.
enum class InnerProgram { kSmallWherePresent, kSandgate };
[[nodiscard]] base::Result<std::filesystem::path> InnerStageExecutable(
    InnerProgram which = InnerProgram::kSmallWherePresent);
// What a pipeline starts inside its sandbox: the inner stage's program and the seccomp filter for
// the command's network mode and whose network it is on.
struct InnerStage {
  std::filesystem::path program;
  pipelines::NetworkMode network = pipelines::NetworkMode::kOff;
  pipelines::SandboxNetwork where = pipelines::SandboxNetwork::kOwnNamespace;
  // Compiles that filter into the BPF program the inner stage loads.
  [[nodiscard]] SandboxChild::ProgramSource SeccompProgram() const;
};
[[nodiscard]] base::Result<InnerStage> PrepareInnerStage(pipelines::NetworkMode network,
                                                         pipelines::SandboxNetwork where,
                                                         InnerProgram which);
// Creates (or joins) the placeholder of every missing protected path and logs each protection.
[[nodiscard]] base::Status HoldPlaceholders(const std::vector<pipelines::Protection>& protections,
                                            pipelines::Placeholders& placeholders);

}  // namespace sandgate::supervisor
