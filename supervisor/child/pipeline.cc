#include "supervisor/child/pipeline.h"

#include <spdlog/spdlog.h>

#include <system_error>

namespace sandgate::supervisor {

base::Result<std::filesystem::path> SandgateExecutable() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return base::Error{0, "cannot find the sandgate binary: /proc/self/exe: " + ec.message()};
  return self;
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
