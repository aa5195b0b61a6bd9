#include "pipelines/legacy_argv.h"

namespace sandgate::pipelines {
namespace {

const char* MountPrefix(MountKind kind) {
  switch (kind) {
    case MountKind::kWritableBind:
      return "--mount=rw:";
    case MountKind::kReadOnlyBind:
      return "--mount=ro:";
    case MountKind::kDevNullReadOnly:
      return "--mount=null:";
  }
  return "--mount=ro:";
}

}  // namespace

const char* ToString(LegacyNamespaces namespaces) {
  switch (namespaces) {
    case LegacyNamespaces::kRoot:
      return "root";
    case LegacyNamespaces::kUser:
      return "user";
    case LegacyNamespaces::kNone:
      return "none";
  }
  return "none";
}

bool HasNetworkNamespace(const SandboxSpec& spec, const LegacyShape& shape) {
  return shape.namespaces != LegacyNamespaces::kNone && spec.network != NetworkMode::kOn;
}

std::vector<std::string> BuildLegacyArgv(const SandboxSpec& spec,
                                         const std::vector<Protection>& protections,
                                         const LegacyShape& shape, const InnerStageLaunch& inner,
                                         InnerAction action) {
  std::vector<std::string> argv = {kInnerSubcommand};
  argv.push_back(std::string("--network=") + ToString(spec.network));
  argv.push_back("--handoff-fd=" + std::to_string(inner.handoff_fd));
  argv.push_back("--stderr-fd=" + std::to_string(inner.stderr_fd));
  argv.push_back(std::string("--legacy=") + ToString(shape.namespaces));
  argv.push_back("--landlock-abi=" + std::to_string(shape.landlock_abi));
  argv.push_back("--chdir=" + spec.cwd.string());
  // Without a PID namespace there is no /proc of its own to mount.
  if (spec.proc == ProcMount::kNone || shape.namespaces == LegacyNamespaces::kNone) {
    argv.push_back("--no-proc");
  }
  for (const auto& root : spec.writable_roots) argv.push_back("--write=" + root.string());
  if (shape.namespaces != LegacyNamespaces::kNone) {
    for (const auto& mount : PlanMounts(spec.writable_roots, protections)) {
      argv.push_back(MountPrefix(mount.kind) + mount.path.string());
    }
  }
  if (action == InnerAction::kProbe) {
    argv.push_back("--probe");
  } else {
    argv.push_back("--");
    argv.insert(argv.end(), spec.command.begin(), spec.command.end());
  }
  return argv;
}

}  // namespace sandgate::pipelines
