#include "supervisor/run.h"

#include <spdlog/spdlog.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include "pipelines/bwrap_argv.h"
#include "pipelines/placeholders.h"
#include "pipelines/protected_paths.h"
#include "supervisor/child.h"
#include "supervisor/exit_status.h"
#include "vendor/bubblewrap/bwrap_diagnosis.h"
#include "vendor/bubblewrap/bwrap_locator.h"
#include "vendor/bubblewrap/bwrap_probe.h"
#include "vendor/bubblewrap/userns_check.h"

namespace sandgate::supervisor {
namespace fs = std::filesystem;
namespace {

int Fail(const std::string& reason) {
  std::fprintf(stderr, "sandgate: %s\n", reason.c_str());
  return kExitSandgateFailed;
}

// One bwrap run on a private loop. The loop must end with every handle closed.
base::Result<ChildOutcome> RunOnce(const fs::path& bwrap, const std::vector<std::string>& argv) {
  uv_loop_t loop;
  if (int rc = uv_loop_init(&loop); rc != 0) return base::Error{-rc, "uv_loop_init"};
  std::optional<ChildOutcome> outcome;
  base::Status started = base::Ok{};
  {
    SandboxChild child(&loop);
    started = child.Start(bwrap, argv, [&outcome](const ChildOutcome& o) { outcome = o; });
    if (started.Ok()) uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // lets the close callbacks free the handles
  if (int rc = uv_loop_close(&loop); rc != 0) spdlog::error("uv_loop_close: {}", uv_strerror(rc));
  if (!started.Ok()) return started.Err();
  if (!outcome) return base::Error{0, "bwrap finished without an outcome"};
  return *outcome;
}

std::string ExplainSetupFailure(const fs::path& bwrap, const ChildOutcome& outcome) {
  if (outcome.inner_failure) return "sandbox setup failed: " + *outcome.inner_failure;
  // Only now is it worth two more process starts to find out what bwrap can do.
  auto info = bubblewrap::ProbeBwrap(bwrap);
  return "sandbox setup failed: " +
         bubblewrap::DiagnoseSetupFailure(info.Ok() ? &info.Value() : nullptr,
                                          outcome.bwrap_stderr_tail);
}

}  // namespace

int RunSandbox(const RunConfig& config) {
  pipelines::SandboxSpec spec = config.sandbox;
  if (spec.network == pipelines::NetworkMode::kApprove) {
    spdlog::warn(
        "--network approve: connection mediation is not built yet; the command gets an empty "
        "network namespace (its own loopback only) and every other connection fails");
  }

  auto bwrap = bubblewrap::LocateBwrap(config.bwrap_path, std::getenv("SANDGATE_BWRAP"),
                                       std::getenv("PATH"));
  if (!bwrap.Ok()) return Fail(bwrap.Err().Message());
  if (auto userns = bubblewrap::CheckUserNamespaces(); !userns) return Fail(userns.Err().Message());

  auto protections = pipelines::FindProtections(spec.writable_roots);
  if (!protections.Ok()) return Fail(protections.Err().Message());
  pipelines::Placeholders placeholders;
  for (const auto& p : protections.Value()) {
    if (p.kind != pipelines::ProtectionKind::kBlockMissing) continue;
    if (auto held = placeholders.Acquire(p.path); !held) return Fail(held.Err().Message());
  }
  for (const auto& p : protections.Value()) spdlog::debug("protected: {} ({})", p.path.string(), p.why);

  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return Fail("cannot find the sandgate binary: /proc/self/exe: " + ec.message());
  const pipelines::InnerStageLaunch inner{self, pipelines::kBwrapHandoffFd,
                                          pipelines::kBwrapStderrFd};

  auto outcome = RunOnce(bwrap.Value(), pipelines::BuildBwrapArgv(spec, protections.Value(), inner));
  if (!outcome.Ok()) return Fail(outcome.Err().Message());

  if (!outcome->reached_inner && !outcome->inner_failure && spec.proc == pipelines::ProcMount::kFresh) {
    // Restrictive containers forbid a fresh /proc. Whether that is what failed is settled by a
    // probe without it rather than by matching bwrap's wording.
    spec.proc = pipelines::ProcMount::kNone;
    auto probe = RunOnce(bwrap.Value(), pipelines::BuildBwrapArgv(spec, protections.Value(), inner,
                                                                 pipelines::InnerAction::kProbe));
    if (probe.Ok() && probe->reached_inner && probe->exit_code == 0) {
      std::fprintf(stderr,
                   "sandgate: mounting a fresh /proc failed; running without it (as with "
                   "--no-proc)\n");
      outcome = RunOnce(bwrap.Value(), pipelines::BuildBwrapArgv(spec, protections.Value(), inner));
      if (!outcome.Ok()) return Fail(outcome.Err().Message());
    }
  }
  if (!outcome->reached_inner || outcome->inner_failure) {
    return Fail(ExplainSetupFailure(bwrap.Value(), outcome.Value()));
  }
  return ExitCodeFromWaitStatus(outcome->exit_code, outcome->term_signal);
}

}  // namespace sandgate::supervisor
