#include "supervisor/machine_report.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "pipelines/bwrap_argv.h"
#include "pipelines/landlock.h"
#include "pipelines/legacy_stage.h"
#include "pipelines/seccomp_probe.h"
#include "vendor/bubblewrap/bwrap_locator.h"
#include "vendor/bubblewrap/bwrap_probe.h"
#include "supervisor/child/pipeline.h"
#include "vendor/bubblewrap/userns_check.h"

namespace sandgate::supervisor {
namespace {

std::string YesNo(bool yes) { return yes ? "yes" : "no"; }

// The legacy pipeline's shape here, or why it cannot run (mirrors LegacyPipeline::Prepare).
std::string LegacyVerdict(const MachineFacts& f) {
  if (f.landlock_abi < pipelines::kMinimumLandlockAbi) {
    return "unavailable (needs Landlock ABI " + std::to_string(pipelines::kMinimumLandlockAbi) + ")";
  }
  if (!f.seccomp_listener) return "unavailable (no seccomp listener)";
  if (f.root) return "namespaces of root (mount, PID, network), Landlock, seccomp";
  if (f.user_namespaces) {
    return "a user namespace with mount, PID and network namespaces, Landlock, seccomp";
  }
  if (f.landlock_abi < pipelines::kLandlockScopeAbi) {
    return "unavailable without user namespaces (needs Landlock ABI " +
           std::to_string(pipelines::kLandlockScopeAbi) + " to scope signals and abstract sockets)";
  }
  return "no namespaces: Landlock and seccomp only, on the host's network (mediated), --read-only "
         "or writable roots without protected names";
}

std::string BwrapVerdict(const MachineFacts& f) {
  if (f.bwrap_path.empty()) return "unavailable (" + f.bwrap_error + ")";
  if (!f.root && !f.user_namespaces) {
    return "unavailable (user namespaces: " + f.user_namespaces_error + ")";
  }
  if (!f.seccomp_listener) return "unavailable (no seccomp listener)";
  return "available";
}

}  // namespace

MachineFacts GatherMachineFacts(const std::optional<std::string>& bwrap_path) {
  MachineFacts f;
  utsname name{};
  if (::uname(&name) == 0) f.kernel = std::string(name.sysname) + " " + name.release;
  f.root = ::geteuid() == 0;
  if (auto abi = pipelines::ProbeLandlockAbi(); abi.Ok()) {
    f.landlock_abi = abi.Value();
  } else {
    f.landlock_error = abi.Err().Message();
  }
  if (auto userns = pipelines::ProbeUserNamespace(); userns) {
    f.user_namespaces = true;
  } else if (auto sysctl = bubblewrap::CheckUserNamespaces(); !sysctl) {
    f.user_namespaces_error = sysctl.Err().Message();
  } else {
    f.user_namespaces_error = userns.Err().Message();
  }
  const auto seccomp = pipelines::ProbeSeccompFeatures();
  f.seccomp_listener = seccomp.listener;
  f.wait_killable_recv = seccomp.wait_killable_recv;
  f.sync_wake_up = seccomp.sync_wake_up;
  f.seccomp_error = seccomp.error;
  if (auto inner = InnerStageExecutable(); inner.Ok()) f.inner_stage = inner->string();
  auto bwrap = bubblewrap::LocateBwrap(bwrap_path, std::getenv("SANDGATE_BWRAP"), std::getenv("PATH"));
  if (bwrap.Ok()) {
    f.bwrap_path = bwrap.Value().string();
    if (auto info = bubblewrap::ProbeBwrap(bwrap.Value()); info.Ok()) {
      f.bwrap_version = info->version.ToString();
    } else {
      f.bwrap_error = info.Err().Message();
    }
  } else {
    f.bwrap_error = bwrap.Err().Message();
  }
  return f;
}

std::string FormatMachineReport(const MachineFacts& f) {
  std::string out;
  auto line = [&out](const std::string& key, const std::string& value) {
    out += key + ": " + value + "\n";
  };
  line("kernel", f.kernel.empty() ? "unknown" : f.kernel);
  line("running as", f.root ? "root" : "an unprivileged user");
  line("landlock abi", f.landlock_abi > 0 ? std::to_string(f.landlock_abi)
                                          : "none (" + f.landlock_error + ")");
  line("user namespaces", f.user_namespaces ? "yes" : "no (" + f.user_namespaces_error + ")");
  line("seccomp listener", f.seccomp_listener ? "yes" : "no (" + f.seccomp_error + ")");
  line("seccomp wait_killable_recv", YesNo(f.wait_killable_recv));
  line("seccomp sync_wake_up", YesNo(f.sync_wake_up));
  if (f.bwrap_path.empty()) {
    line("bwrap", "not found (" + f.bwrap_error + ")");
  } else {
    line("bwrap", f.bwrap_path + (f.bwrap_version.empty() ? " (version unknown: " + f.bwrap_error + ")"
                                                          : " " + f.bwrap_version));
  }
  const bool small = f.inner_stage.ends_with(std::string("/") + pipelines::kInnerStageProgram);
  line("inner stage", f.inner_stage.empty() ? "unknown"
                      : small ? f.inner_stage
                              : f.inner_stage + " (no sandgate-inner next to it: slower starts)");
  line("pipeline bwrap", BwrapVerdict(f));
  line("pipeline legacy", LegacyVerdict(f));
  return out;
}

}  // namespace sandgate::supervisor
