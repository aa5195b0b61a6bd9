#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "pipelines/legacy_argv.h"
#include "pipelines/placeholders.h"
#include "pipelines/protected_paths.h"
#include "pipelines/sandbox_spec.h"
#include "supervisor/child/pipeline.h"

namespace sandgate::supervisor {

// The legacy pipeline, for machines where bubblewrap cannot run: sandgate's own inner stage
// builds the sandbox (pipelines/legacy_stage.h) from namespaces where it can make them, the
// same mount plan as bwrap's, Landlock and the same seccomp filter.
//
// Prepare decides the shape (LegacyNamespaces) and refuses, with what would make it possible, a
// sandbox that would be weaker than asked: no Landlock (or one too old to control truncate), a
// protected path that needs a mount where no mount namespace can be made, or signals and
// abstract unix sockets that nothing would keep inside a sandbox without a PID or network
// namespace.
class LegacyPipeline final : public Pipeline {
 public:
  explicit LegacyPipeline(pipelines::SandboxSpec spec);

  [[nodiscard]] const char* Name() const override { return "legacy"; }
  base::Status Prepare() override;
  [[nodiscard]] StageLaunch Stage(pipelines::InnerAction action) const override;
  [[nodiscard]] std::string ExplainSetupFailure(const ChildOutcome& outcome) const override;
  // The inner stage goes on without a fresh /proc itself when it cannot mount one.
  bool FallBackWithoutProc() override { return false; }
  [[nodiscard]] bool CanFallBackWithoutProc() const override { return false; }
  [[nodiscard]] bool OwnNetworkNamespace() const override;

  [[nodiscard]] const pipelines::LegacyShape& Shape() const { return shape_; }

 private:
  pipelines::SandboxSpec spec_;
  pipelines::LegacyShape shape_;
  InnerStage inner_;
  std::vector<pipelines::Protection> protections_;
  pipelines::Placeholders placeholders_;
};

// Why a sandbox of this shape cannot keep its promises, or nullopt when it can. Pure, for tests:
// `mounts` is PlanMounts' plan for the spec's roots and protections.
[[nodiscard]] std::optional<std::string> WhyLegacyShapeFalls(
    const pipelines::SandboxSpec& spec, const pipelines::LegacyShape& shape,
    const std::vector<pipelines::PlannedMount>& mounts,
    const std::vector<pipelines::Protection>& protections, const std::string& no_userns_reason);

}  // namespace sandgate::supervisor
