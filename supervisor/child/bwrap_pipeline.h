#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "pipelines/placeholders.h"
#include "pipelines/protected_paths.h"
#include "pipelines/sandbox_spec.h"
#include "supervisor/child/pipeline.h"

namespace sandgate::supervisor {

// The bubblewrap pipeline: finds bwrap (--bwrap, SANDGATE_BWRAP, PATH), checks user namespaces,
// works out the protected paths and holds their placeholders, and starts sandgate's inner
// stage inside `bwrap` with the argv of pipelines/bwrap_argv.h.
class BwrapPipeline final : public Pipeline {
 public:
  BwrapPipeline(pipelines::SandboxSpec spec, std::optional<std::string> bwrap_path);

  [[nodiscard]] const char* Name() const override { return "bwrap"; }
  base::Status Prepare() override;
  [[nodiscard]] StageLaunch Stage(pipelines::InnerAction action) const override;
  [[nodiscard]] std::string ExplainSetupFailure(const ChildOutcome& outcome) const override;
  bool FallBackWithoutProc() override;
  [[nodiscard]] bool CanFallBackWithoutProc() const override;
  [[nodiscard]] bool OwnNetworkNamespace() const override {
    return spec_.network != pipelines::NetworkMode::kOn;
  }

 private:
  pipelines::SandboxSpec spec_;
  std::optional<std::string> bwrap_path_;  // --bwrap
  std::filesystem::path bwrap_;
  InnerStage inner_;
  std::vector<pipelines::Protection> protections_;
  pipelines::Placeholders placeholders_;
};

}  // namespace sandgate::supervisor
