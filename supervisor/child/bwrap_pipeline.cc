#include "supervisor/child/bwrap_pipeline.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <utility>

#include "vendor/bubblewrap/bwrap_diagnosis.h"
#include "vendor/bubblewrap/bwrap_locator.h"
#include "vendor/bubblewrap/bwrap_probe.h"
#include "vendor/bubblewrap/userns_check.h"

namespace sandgate::supervisor {

BwrapPipeline::BwrapPipeline(pipelines::SandboxSpec spec, std::optional<std::string> bwrap_path)
    : spec_(std::move(spec)), bwrap_path_(std::move(bwrap_path)) {}

base::Status BwrapPipeline::Prepare() {
  auto bwrap =
      bubblewrap::LocateBwrap(bwrap_path_, std::getenv("SANDGATE_BWRAP"), std::getenv("PATH"));
  if (!bwrap.Ok()) return bwrap.Err();
  bwrap_ = bwrap.Value();
  if (auto userns = bubblewrap::CheckUserNamespaces(); !userns) {
    // The way out that needs no change to the machine.
    return base::Error{userns.Err().errnum,
                       userns.Err().context +
                           "; or use --pipeline legacy (Landlock), which needs no user namespaces"};
  }

  auto protections = pipelines::FindProtections(spec_.writable_roots, spec_.cwd, spec_.read_only_files);
  if (!protections.Ok()) return protections.Err();
  protections_ = std::move(protections.Value());
  if (auto held = HoldPlaceholders(protections_, placeholders_); !held) return held;
  auto inner = PrepareInnerStage(spec_.network, pipelines::SandboxNetwork::kOwnNamespace,
                                 InnerProgram::kSmallWherePresent);
  if (!inner.Ok()) return inner.Err();
  inner_ = std::move(inner.Value());
  return base::Ok{};
}

StageLaunch BwrapPipeline::Stage(pipelines::InnerAction action) const {
  const pipelines::InnerStageLaunch inner{inner_.program, pipelines::kBwrapHandoffFd,
                                          pipelines::kBwrapStderrFd};
  return {bwrap_, pipelines::BuildBwrapArgv(spec_, protections_, inner, action),
          inner_.SeccompProgram()};
}

std::string BwrapPipeline::ExplainSetupFailure(const ChildOutcome& outcome) const {
  if (outcome.inner_failure) return "sandbox setup failed: " + *outcome.inner_failure;
  // Only now is it worth two more process starts to find out what bwrap can do.
  auto info = bubblewrap::ProbeBwrap(bwrap_);
  return "sandbox setup failed: " +
         bubblewrap::DiagnoseSetupFailure(info.Ok() ? &info.Value() : nullptr,
                                          outcome.bwrap_stderr_tail);
}

bool BwrapPipeline::CanFallBackWithoutProc() const {
  return spec_.proc == pipelines::ProcMount::kFresh;
}

bool BwrapPipeline::FallBackWithoutProc() {
  // Restrictive containers forbid a fresh /proc. Whether that is what failed is settled by a
  // probe without it (run.cc) rather than by matching bwrap's wording.
  if (!CanFallBackWithoutProc()) return false;
  spec_.proc = pipelines::ProcMount::kNone;
  return true;
}

}  // namespace sandgate::supervisor
