#include "supervisor/child/pipeline.h"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <system_error>

namespace sandgate::supervisor {

base::Result<std::filesystem::path> InnerStageExecutable(InnerProgram which) {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return base::Error{0, "cannot find the sandgate binary: /proc/self/exe: " + ec.message()};
  if (which == InnerProgram::kSandgate) return self;
  auto small = self.parent_path() / pipelines::kInnerStageProgram;
  if (::access(small.c_str(), X_OK) == 0) return small;
  spdlog::debug("no {} next to {}: the inner stage is sandgate's own subcommand (slower to start)",
                pipelines::kInnerStageProgram, self.string());
  return self;
}

base::Result<InnerStage> PrepareInnerStage(pipelines::NetworkMode network,
                                           pipelines::SandboxNetwork where, InnerProgram which) {
  auto program = InnerStageExecutable(which);
  if (!program.Ok()) return program.Err();
  spdlog::debug("inner stage: {}", program->string());
  return InnerStage{std::move(program.Value()), network, where};
}

SandboxChild::ProgramSource InnerStage::SeccompProgram() const {
  return [network = network, where = where]() -> base::Result<std::vector<sock_filter>> {
    auto filter = pipelines::BuildSeccompFilter(network, where);
    if (!filter.Ok()) return filter.Err();
    return pipelines::ExportFilterBpf(filter.Value());
  };
}

base::Status HoldPlaceholders(const std::vector<pipelines::Protection>& protections,
                              pipelines::Placeholders& placeholders) {
  for (const auto& p : protections) {
    if (p.kind != pipelines::ProtectionKind::kBlockMissing) continue;
    if (auto held = placeholders.Acquire(p.path); !held) return held.Err();
  }
  for (const auto& p : protections) spdlog::debug("protected: {} ({})", p.path.string(), p.why);
  return base::Ok{};
}

}  // namespace sandgate::supervisor
