#include "pipelines/bwrap_argv.h"

#include <algorithm>

namespace sandgate::pipelines {
namespace fs = std::filesystem;
namespace {

struct MountOp {
  fs::path path;
  int order;  // 0 = writable bind, 1 = protection: at equal paths the protection wins
  const char* flag;
  std::string source;
};

std::vector<MountOp> SortedMounts(const SandboxSpec& spec, const std::vector<Protection>& protections) {
  std::vector<MountOp> ops;
  for (const auto& root : spec.writable_roots) ops.push_back({root, 0, "--bind", root.string()});
  for (const auto& p : protections) {
    if (p.kind == ProtectionKind::kReadOnly) {
      ops.push_back({p.path, 1, "--ro-bind", p.path.string()});
    } else {
      ops.push_back({p.path, 1, "--ro-bind", "/dev/null"});
    }
  }
  std::stable_sort(ops.begin(), ops.end(), [](const MountOp& a, const MountOp& b) {
    if (a.path != b.path) return a.path < b.path;
    return a.order < b.order;
  });
  return ops;
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
  for (const auto& op : SortedMounts(spec, protections)) {
    argv.insert(argv.end(), {op.flag, op.source, op.path.string()});
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
