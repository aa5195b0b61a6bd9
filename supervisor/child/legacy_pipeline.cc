#include "supervisor/child/legacy_pipeline.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

#include <algorithm>
#include <utility>

#include "pipelines/landlock.h"
#include "pipelines/legacy_stage.h"
#include "pipelines/mount_plan.h"

namespace sandgate::supervisor {

std::optional<std::string> WhyLegacyShapeFalls(
    const pipelines::SandboxSpec& spec, const pipelines::LegacyShape& shape,
    const std::vector<pipelines::PlannedMount>& mounts,
    const std::vector<pipelines::Protection>& protections, const std::string& no_userns_reason) {
  if (shape.namespaces != pipelines::LegacyNamespaces::kNone) return std::nullopt;
  const std::string remedy =
      "; enable user namespaces, run sandgate as root, or use --pipeline bwrap where it works";
  for (const auto& mount : mounts) {
    const bool root_itself =
        mount.kind == pipelines::MountKind::kWritableBind &&
        std::find(spec.writable_roots.begin(), spec.writable_roots.end(), mount.path) !=
            spec.writable_roots.end();
    if (root_itself) continue;  // Landlock makes a writable root writable; no mount needed
    std::string what = mount.path.string();
    auto protection = std::find_if(protections.begin(), protections.end(),
                                   [&](const auto& p) { return p.path == mount.path; });
    if (protection != protections.end()) {
      what += " (" + protection->why + ")";
    } else {
      what += " (a directory above a protected path, which must stay where it is)";
    }
    return "the legacy pipeline cannot keep " + what +
           " read-only: that takes a mount namespace, and " + no_userns_reason + remedy +
           "; a sandbox without writable roots (--read-only) needs none";
  }
  if (shape.landlock_abi < pipelines::kLandlockScopeAbi) {
    return "without namespaces only Landlock ABI " +
           std::to_string(pipelines::kLandlockScopeAbi) +
           " (Linux 6.12) keeps signals and abstract unix sockets inside the sandbox, and this "
           "kernel has ABI " +
           std::to_string(shape.landlock_abi) + "; " + no_userns_reason + remedy;
  }
  return std::nullopt;
}

LegacyPipeline::LegacyPipeline(pipelines::SandboxSpec spec) : spec_(std::move(spec)) {}

base::Status LegacyPipeline::Prepare() {
  auto abi = pipelines::ProbeLandlockAbi();
  if (!abi.Ok()) return base::Error{0, "the legacy pipeline needs Landlock: " + abi.Err().Message()};
  if (abi.Value() < pipelines::kMinimumLandlockAbi) {
    return base::Error{0, "the legacy pipeline needs Landlock ABI " +
                              std::to_string(pipelines::kMinimumLandlockAbi) +
                              " (Linux 6.2, which controls truncate) and this kernel has ABI " +
                              std::to_string(abi.Value())};
  }
  shape_.landlock_abi = abi.Value();

  std::string no_userns_reason;
  if (::geteuid() == 0) {
    shape_.namespaces = pipelines::LegacyNamespaces::kRoot;
  } else if (auto userns = pipelines::ProbeUserNamespace(); userns) {
    shape_.namespaces = pipelines::LegacyNamespaces::kUser;
  } else {
    shape_.namespaces = pipelines::LegacyNamespaces::kNone;
    no_userns_reason = "user namespaces are unavailable here (" + userns.Err().Message() + ")";
  }

  auto protections = pipelines::FindProtections(spec_.writable_roots, spec_.cwd, spec_.read_only_files);
  if (!protections.Ok()) return protections.Err();
  protections_ = std::move(protections.Value());
  const auto mounts = pipelines::PlanMounts(spec_.writable_roots, protections_);
  if (auto why = WhyLegacyShapeFalls(spec_, shape_, mounts, protections_, no_userns_reason)) {
    return base::Error{0, *why};
  }
  // (Without namespaces there is no missing name to hold: it would have needed a mount.)
  if (auto held = HoldPlaceholders(protections_, placeholders_); !held) return held;
  if (shape_.namespaces == pipelines::LegacyNamespaces::kNone &&
      spec_.proc == pipelines::ProcMount::kFresh) {
    // Not silently weaker: the command sees the host's process list (Landlock still keeps it
    // from tracing, signalling or reading the memory of any process outside the sandbox).
    std::fprintf(stderr,
                 "sandgate: no PID namespace here (%s): the command sees the host's processes, "
                 "as with --no-proc\n",
                 no_userns_reason.c_str());
  }
  spdlog::debug("legacy pipeline: namespaces {}, Landlock ABI {}",
                pipelines::ToString(shape_.namespaces), shape_.landlock_abi);
  auto inner = PrepareInnerStage(spec_.network, OwnNetworkNamespace()
                                                    ? pipelines::SandboxNetwork::kOwnNamespace
                                                    : pipelines::SandboxNetwork::kHost,
                                 InnerProgram::kSandgate);
  if (!inner.Ok()) return inner.Err();
  inner_ = std::move(inner.Value());
  return base::Ok{};
}

StageLaunch LegacyPipeline::Stage(pipelines::InnerAction action) const {
  const pipelines::InnerStageLaunch inner{inner_.program, pipelines::kBwrapHandoffFd,
                                          pipelines::kBwrapStderrFd};
  return {inner_.program, pipelines::BuildLegacyArgv(spec_, protections_, shape_, inner, action),
          inner_.SeccompProgram()};
}

std::string LegacyPipeline::ExplainSetupFailure(const ChildOutcome& outcome) const {
  if (outcome.inner_failure) return "sandbox setup failed: " + *outcome.inner_failure;
  std::string why = "sandbox setup failed: the legacy inner stage ended before it was ready (";
  why += outcome.term_signal != 0 ? "signal " + std::to_string(outcome.term_signal)
                                  : "exit " + std::to_string(outcome.exit_code);
  why += ")";
  if (!outcome.bwrap_stderr_tail.empty()) why += ": " + outcome.bwrap_stderr_tail;
  return why;
}

bool LegacyPipeline::OwnNetworkNamespace() const {
  return pipelines::HasNetworkNamespace(spec_, shape_);
}

}  // namespace sandgate::supervisor
