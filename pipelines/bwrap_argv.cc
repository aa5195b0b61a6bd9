#include "pipelines/bwrap_argv.h"

#include "pipelines/mount_plan.h"

namespace sandgate::pipelines {
namespace {

const char* BwrapFlag(MountKind kind) {
  return kind == MountKind::kWritableBind ? "--bind" : "--ro-bind";
}

std::string BwrapSource(const PlannedMount& mount) {
  return mount.kind == MountKind::kDevNullReadOnly ? "/dev/null" : mount.path.string();
}

}  // namespace

std::vector<std::string> BuildBwrapArgv(const SandboxSpec& spec,
                                        const std::vector<Protection>& protections,
                                        const InnerStageLaunch& inner, InnerAction action) {
  std::vector<std::string> argv = {
      // No controlling terminal: TIOCSTI could otherwise push keystrokes into the caller's shell.
      "--new-session",
      "--die-with-parent",
      // bwrap started by root keeps every capability inside. A user namespace whose root has no
      // capabilities, and which cannot create further user namespaces, leaves the command none
      // and no way to gain them back.
      "--unshare-user",
      "--disable-userns",
      "--cap-drop", "ALL",
      "--unshare-pid",
  };
  if (spec.network != NetworkMode::kOn) argv.push_back("--unshare-net");
  argv.insert(argv.end(), {"--ro-bind", "/", "/"});
  for (const auto& mount : PlanMounts(spec.writable_roots, protections)) {
    argv.insert(argv.end(), {BwrapFlag(mount.kind), BwrapSource(mount), mount.path.string()});
  }
  // After the binds, so that a writable root "/" cannot hide them.
  argv.insert(argv.end(), {"--dev", "/dev"});
  if (spec.proc == ProcMount::kFresh) argv.insert(argv.end(), {"--proc", "/proc"});
  argv.insert(argv.end(), {"--chdir", spec.cwd.string()});
  argv.insert(argv.end(), {"--", inner.self_exe.string(), kInnerSubcommand});
  argv.push_back(std::string("--network=") + ToString(spec.network));
  argv.push_back("--handoff-fd=" + std::to_string(inner.handoff_fd));
  argv.push_back("--stderr-fd=" + std::to_string(inner.stderr_fd));
  if (action == InnerAction::kProbe) {
    argv.push_back("--probe");
  } else {
    argv.push_back("--");
    argv.insert(argv.end(), spec.command.begin(), spec.command.end());
  }
  return argv;
}

}  // namespace sandgate::pipelines
