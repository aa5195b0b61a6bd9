#include "supervisor/run.h"

#include <spdlog/spdlog.h>
#include <uv.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <string_view>
#include <filesystem>
#include <memory>
#include <optional>

#include "base/read_file.h"
#include "pipelines/bwrap_argv.h"
#include "supervisor/control/approver.h"
#include "supervisor/control/audit_log.h"
#include "supervisor/child/bwrap_pipeline.h"
#include "supervisor/child/legacy_pipeline.h"
#include "supervisor/child/child.h"
#include "supervisor/control/jsonrpc_approver.h"
#include "supervisor/mediate/mediator.h"
#include "supervisor/net/publish_relay.h"
#include "supervisor/child/output_pump.h"
#include "supervisor/control/replay_approver.h"
#include "supervisor/control/tty_approver.h"
#include "supervisor/exit_status.h"
#include "supervisor/policy_save.h"

namespace sandgate::supervisor {
namespace fs = std::filesystem;
namespace {

int Fail(const std::string& reason) {
  std::fprintf(stderr, "sandgate: %s\n", reason.c_str());
  return kExitSandgateFailed;
}

// What a run needs around it for mediation and the controller; outlives the run (session
// memory, replay script). `approver` is null for the JSON-RPC and tty modes, whose approver
// lives on the run's loop. A controller (stdio, fd:N) gets its protocol in every network mode;
// only mode approve has a mediator.
struct Mediation {
  approvals::Engine* engine = nullptr;
  Approver* approver = nullptr;
  AuditLog* audit = nullptr;
  MediatorOptions options;
  ApprovalsMode mode = ApprovalsMode::kAutoDeny;
  int approvals_fd = -1;
  std::string network;
  bool mediate = false;  // mode approve
  bool explain_denials = true;
  std::optional<std::string> policy_save;  // where persisting amendments go (--policy-save)
  std::string policy_save_refused;          // why the --policy file is not saved to, if it is not
  // --publish: bound before the first run, started at "ready" and stopped at the end of each.
  PublishRelay* publish = nullptr;
  // Keep each notification's round trip on one CPU (NotifyWakeUps::same_cpu); false:
  // SANDGATE_SAME_CPU_ROUND_TRIP=off, for measuring the difference.
  bool same_cpu_round_trip = true;
};

// A denial's line goes where the command's stderr goes: through the pump as process/output in
// --approvals stdio (in order with what the command wrote before), else to the stderr the
// command shares with sandgate.
void WriteDenialLine(OutputPump* pump, const std::string& line) {
  if (pump != nullptr) return pump->Inject(approvals::OutputStream::kStderr, line);
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

// A persisting amendment: saved for later runs, and the controller told whether it was (the
// rule holds for this session either way).
// `refused`: why `path` may not be saved to this run (see RunConfig::policy_save_refused); then
// nothing is written and the controller hears it as a failed save.
void SaveRule(const std::string& path, const std::string& refused, const approvals::Rule& rule,
              approvals::AmendmentAction action, JsonRpcApprover* rpc) {
  const bool allow = action == approvals::AmendmentAction::kAllow;
  nlohmann::json params = {{"host", rule.text}, {"action", allow ? "allow" : "deny"}, {"file", path}};
  std::string error = refused;
  if (error.empty()) {
    if (auto saved = SavePolicyRule(path, rule.text, action); !saved) error = saved.Err().Message();
  }
  if (!error.empty()) {
    spdlog::warn("rule {} not saved, kept for this session only: {}", rule.text, error);
    params["error"] = error;
  }
  if (rpc != nullptr) rpc->Notify("policy/saved", params);
}

// How one run went, from the supervisor's side.
struct RunOutcome {
  ChildOutcome child;
  // The controller closed its end, and the sandbox was ended for it: whatever then failed is
  // not a setup failure (and no reason to try again without /proc).
  bool controller_gone = false;
};

// A pipe whose ends are both CLOEXEC; the spawn dups the child's end into place.
struct Pipe {
  base::UniqueFd read;
  base::UniqueFd write;
};
base::Result<Pipe> MakePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return base::ErrnoError("pipe2");
  return Pipe{base::UniqueFd(fds[0]), base::UniqueFd(fds[1])};
}

// One run of the pipeline's stage on a private loop. The loop must end with every handle closed.
// Whether a failed setup may be tried again without /proc (see RunSandbox).
enum class SetupRetry { kNone, kPossible };

base::Result<RunOutcome> RunOnce(const Pipeline& pipeline, pipelines::InnerAction action,
                                 Mediation* mediation, SetupRetry retry) {
  const StageLaunch stage = pipeline.Stage(action);
  uv_loop_t loop;
  if (int rc = uv_loop_init(&loop); rc != 0) return base::Error{-rc, "uv_loop_init"};
  std::optional<ChildOutcome> outcome;
  bool controller_gone = false;
  base::Status started = base::Ok{};
  {
    // First of the loop's handles: its prepare handle must run after every other (direct_wait.h).
    std::optional<DirectWait> same_cpu;
    if (mediation != nullptr && mediation->mediate && mediation->same_cpu_round_trip) {
      same_cpu.emplace(&loop);
      if (auto s = same_cpu->Start(); !s) return s.Err();
    }
    SandboxChild child(&loop);
    std::unique_ptr<Mediator> mediator;
    std::unique_ptr<JsonRpcApprover> rpc;
    std::unique_ptr<TtyApprover> tty;
    std::unique_ptr<OutputPump> pump;
    base::UniqueFd command_stdin;  // our end of the command's stdin in --approvals stdio
    ChildStdio stdio;
    std::optional<Pipe> in_pipe, out_pipe, err_pipe;
    bool output_done = true;
    auto finish_protocol = [&] {
      // sandbox/exited goes out after the last of the command's output, then the transport
      // closes once its queue is flushed.
      if (!rpc || !outcome || !output_done) return;
      approvals::ExitInfo info;
      const bool setup_failed = !controller_gone && outcome->stopped_before_start == 0 &&
                                (!outcome->reached_inner || outcome->inner_failure);
      if (setup_failed && retry == SetupRetry::kPossible && !outcome->inner_failure) {
        // A sandbox without /proc may follow; it, or sandgate's failure, has the last word.
        return rpc->Close();
      }
      if (setup_failed) {
        info.exit_code = kExitSandgateFailed;  // what sandgate itself will exit with
      } else if (outcome->stopped_before_start != 0) {
        info.exit_code = 128 + outcome->stopped_before_start;
        info.signal = outcome->stopped_before_start;
      } else if (outcome->term_signal != 0) {
        info.exit_code = 128 + outcome->term_signal;
        info.signal = outcome->term_signal;
      } else {
        info.exit_code = outcome->exit_code;
        if (info.exit_code > 128 && info.exit_code < 128 + NSIG) info.signal = info.exit_code - 128;
      }
      rpc->Notify("sandbox/exited", approvals::SandboxExitedParams(info));
      rpc->WhenFlushed([&rpc] { rpc->Close(); });
    };

    Approver* approver = mediation != nullptr ? mediation->approver : nullptr;
    if (mediation != nullptr && mediation->mediate && approver == nullptr &&
        mediation->mode == ApprovalsMode::kTty) {
      tty = std::make_unique<TtyApprover>(&loop);
      // Offers "always" only with a file it may save to.
      tty->SetCanPersist(mediation->policy_save.has_value() && mediation->policy_save_refused.empty());
      if (auto s = tty->Start(); !s) return s.Err();
      approver = tty.get();
    }
    if (mediation != nullptr && (mediation->mode == ApprovalsMode::kStdio ||
                                 mediation->mode == ApprovalsMode::kFd)) {
      const bool stdio_mode = mediation->mode == ApprovalsMode::kStdio;
      const int in_fd = stdio_mode ? STDIN_FILENO : mediation->approvals_fd;
      const int out_fd = stdio_mode ? STDOUT_FILENO : mediation->approvals_fd;
      JsonRpcApprover::Callbacks callbacks;
      callbacks.terminate = [&child](int sig) { child.ForwardSignal(sig); };
      callbacks.policy_update = [engine = mediation->engine](approvals::RuleLists lists) {
        engine->UpdatePolicy(std::move(lists));
        return std::optional<std::string>{};
      };
      if (stdio_mode) {
        callbacks.write_stdin = [&command_stdin](std::string data, bool close) {
          if (command_stdin && !data.empty() &&
              ::write(command_stdin.Get(), data.data(), data.size()) < 0) {
            spdlog::warn("process/writeStdin: {}", std::strerror(errno));
          }
          if (close) command_stdin.Reset();
        };
      }
      callbacks.hangup = [&mediator, &child, &controller_gone] {
        // The controller is gone: nothing can be approved any more.
        controller_gone = true;
        if (mediator) mediator->CancelAll();
        child.Kill();
      };
      rpc = std::make_unique<JsonRpcApprover>(&loop, in_fd, out_fd, std::move(callbacks));
      if (auto s = rpc->Start(); !s) return s.Err();
      approver = rpc.get();
      if (stdio_mode) {
        auto a = MakePipe(), b = MakePipe(), c = MakePipe();
        if (!a.Ok() || !b.Ok() || !c.Ok()) return base::ErrnoError("pipe2(command stdio)");
        in_pipe = std::move(a.Value());
        out_pipe = std::move(b.Value());
        err_pipe = std::move(c.Value());
        command_stdin = std::move(in_pipe->write);
        ::fcntl(command_stdin.Get(), F_SETFL, O_NONBLOCK);
        stdio = {in_pipe->read.Get(), out_pipe->write.Get(), err_pipe->write.Get()};
        output_done = false;
        pump = std::make_unique<OutputPump>(
            &loop, std::move(out_pipe->read), std::move(err_pipe->read),
            [&rpc](const std::string& method, const nlohmann::json& params) {
              if (rpc) rpc->Notify(method, params);
            },
            [&output_done, &finish_protocol] {
              output_done = true;
              finish_protocol();
            });
        if (auto s = pump->Start(); !s) return s.Err();
      }
    }
    if (mediation != nullptr && mediation->mediate) {
      MediatorOptions options = mediation->options;
      if (same_cpu) options.same_cpu = &*same_cpu;
      if (mediation->explain_denials) {
        options.explain_denial = [&pump](const std::string& line) { WriteDenialLine(pump.get(), line); };
      }
      if (mediation->policy_save) {
        options.persist_rule = [&rpc, path = *mediation->policy_save,
                                refused = mediation->policy_save_refused](
                                   const approvals::Rule& rule, approvals::AmendmentAction how) {
          SaveRule(path, refused, rule, how, rpc.get());
        };
      }
      mediator = std::make_unique<Mediator>(&loop, *mediation->engine, *approver, mediation->audit,
                                            std::move(options), [&child] { child.Kill(); });
    }
    PublishRelay* publish = mediation != nullptr ? mediation->publish : nullptr;
    SandboxChild::ReadyCallback on_ready;
    if (mediator || rpc || publish) {
      on_ready = [&](base::UniqueFd listener) -> base::Status {
        if (mediator) {
          // Without mediation nothing could be answered: the command must not start.
          if (auto attached = mediator->Attach(std::move(listener), child.CommandPid()); !attached) {
            return base::Error{attached.Err().errnum, "cannot mediate: " + attached.Err().context};
          }
        }
        if (publish) {
          // Published ports that relay nowhere would be a silent failure: stop before the start.
          if (auto relaying = publish->Start(&loop, child.CommandPid()); !relaying) {
            return base::Error{relaying.Err().errnum, "cannot publish: " + relaying.Err().context};
          }
        }
        if (rpc) {
          rpc->Notify("sandbox/started",
                      approvals::SandboxStartedParams(
                          {child.CommandPid(), pipeline.Name(), mediation->network}));
        }
        return base::Ok{};
      };
    }
    started = child.Start(
        stage.program, stage.args, stage.seccomp_program,
        [&](const ChildOutcome& o) {
          outcome = o;
          if (mediator) mediator->Close();
          if (publish) publish->Stop();  // its listeners would keep the loop running
          finish_protocol();
        },
        on_ready, stdio);
    // The child has its copies; ours must go, or the pump would never see EOF.
    in_pipe.reset();
    if (out_pipe) out_pipe->write.Reset();
    if (err_pipe) err_pipe->write.Reset();
    if (started.Ok()) uv_run(&loop, UV_RUN_DEFAULT);
    if (mediator) mediator->Close();
    if (publish) publish->Stop();
    if (pump) pump->Close();
    if (rpc) rpc->Close();
    if (tty) tty->Close();
  }
  CloseAllHandles(&loop);
  uv_run(&loop, UV_RUN_DEFAULT);  // lets the close callbacks free the handles
  if (int rc = uv_loop_close(&loop); rc != 0) spdlog::error("uv_loop_close: {}", uv_strerror(rc));
  if (!started.Ok()) return started.Err();
  if (!outcome) return base::Error{0, "the sandbox finished without an outcome"};
  return RunOutcome{*outcome, controller_gone};
}

}  // namespace

int RunSandbox(const RunConfig& config) {
  pipelines::SandboxSpec spec = config.sandbox;
  approvals::Engine engine{approvals::RuleSet{}};
  engine.UpdatePolicy(config.rules);
  std::unique_ptr<Approver> approver;
  ReplayApprover* replay = nullptr;
  std::optional<AuditLog> audit;
  Mediation mediation;
  const bool mediate = spec.network == pipelines::NetworkMode::kApprove;
  if (mediate) {
    switch (config.approvals) {
      case ApprovalsMode::kAutoDeny:
        approver = std::make_unique<AutoDenyApprover>();
        break;
      case ApprovalsMode::kReplay: {
        auto content = base::ReadFile(config.replay_file);
        if (!content) return Fail("--approvals replay:" + config.replay_file + ": cannot read it");
        auto script = approvals::ReplayApprover::Parse(*content);
        if (auto* error = std::get_if<approvals::ReplayError>(&script)) {
          return Fail("--approvals replay:" + config.replay_file + ": " + error->message);
        }
        auto owned = std::make_unique<ReplayApprover>(std::get<approvals::ReplayApprover>(std::move(script)));
        replay = owned.get();
        approver = std::move(owned);
        break;
      }
      case ApprovalsMode::kStdio:
      case ApprovalsMode::kFd:
      case ApprovalsMode::kTty:
        break;  // the JSON-RPC and tty approvers live on the run's loop (RunOnce)
    }
    if (config.audit_log) {
      auto opened = AuditLog::Open(*config.audit_log);
      if (!opened.Ok()) return Fail(opened.Err().Message());
      audit.emplace(std::move(opened.Value()));
    }
    MediatorOptions options;
    options.approval_timeout = config.approval_timeout;
    options.proxy = config.proxy;
    options.dns_strict = config.dns_strict;
    // Switches for measuring: on unless set to "off".
    auto switched_on = [](const char* name) {
      const char* value = std::getenv(name);
      return value == nullptr || std::string_view(value) != "off";
    };
    options.sync_wake_up = switched_on("SANDGATE_SECCOMP_SYNC_WAKE_UP");
    mediation.same_cpu_round_trip = switched_on("SANDGATE_SAME_CPU_ROUND_TRIP");
    // The sandbox sees the host's resolv.conf (the root is bound read-only): its nameservers are
    // where the forwarder listens inside, and the first is the default upstream outside.
    auto resolv_conf = base::ReadFile("/etc/resolv.conf");
    options.dns_listen = approvals::ParseNameservers(resolv_conf.value_or(""));
    if (options.dns_listen.empty()) {
      options.dns_listen.push_back(*approvals::Address::Parse("127.0.0.1"));  // the libc default
    }
    options.dns_upstream =
        config.dns_upstream.value_or(approvals::DnsServer{options.dns_listen.front(), 53});
    mediation.approver = approver.get();
    mediation.audit = audit ? &*audit : nullptr;
    mediation.options = std::move(options);
  }
  mediation.engine = &engine;
  mediation.mode = config.approvals;
  mediation.approvals_fd = config.approvals_fd;
  mediation.network = pipelines::ToString(spec.network);
  mediation.mediate = mediate;
  mediation.explain_denials = config.explain_denials;
  mediation.policy_save = config.policy_save;
  mediation.policy_save_refused = config.policy_save_refused;

  std::unique_ptr<Pipeline> chosen;
  if (spec.pipeline == pipelines::Pipeline::kLegacy) {
    chosen = std::make_unique<LegacyPipeline>(spec);
  } else {
    chosen = std::make_unique<BwrapPipeline>(spec, config.bwrap_path);
  }
  Pipeline& pipeline = *chosen;
  if (auto prepared = pipeline.Prepare(); !prepared) return Fail(prepared.Err().Message());
  mediation.options.own_network_namespace = pipeline.OwnNetworkNamespace();
  // Taken before the sandbox starts, so that a port in use stops sandgate before the command
  // runs; closed when RunSandbox returns.
  std::optional<PublishRelay> publish;
  if (!config.publish.empty()) {
    if (!pipeline.OwnNetworkNamespace()) {
      return Fail("--publish needs the sandbox's own network namespace, and without user "
                  "namespaces the legacy pipeline shares the host's");
    }
    publish.emplace(config.publish);
    if (auto bound = publish->Bind(); !bound) return Fail(bound.Err().Message());
    mediation.publish = &*publish;
  }

  auto outcome = RunOnce(pipeline, pipelines::InnerAction::kExecCommand, &mediation,
                         pipeline.CanFallBackWithoutProc() ? SetupRetry::kPossible
                                                           : SetupRetry::kNone);
  if (!outcome.Ok()) return Fail(outcome.Err().Message());

  if (!outcome->controller_gone && outcome->child.stopped_before_start == 0 &&
      !outcome->child.reached_inner && !outcome->child.inner_failure &&
      pipeline.FallBackWithoutProc()) {
    auto probe = RunOnce(pipeline, pipelines::InnerAction::kProbe, nullptr, SetupRetry::kNone);
    if (probe.Ok() && probe->child.reached_inner && probe->child.exit_code == 0) {
      std::fprintf(stderr,
                   "sandgate: mounting a fresh /proc failed; running without it (as with "
                   "--no-proc)\n");
      outcome = RunOnce(pipeline, pipelines::InnerAction::kExecCommand, &mediation,
                        SetupRetry::kNone);
      if (!outcome.Ok()) return Fail(outcome.Err().Message());
    }
  }
  const ChildOutcome& child = outcome->child;
  // A controller that hung up ended the sandbox, before or after the command started: the same
  // either way (SIGKILL, so 137), never a setup failure. So does a signal before the start.
  if (child.stopped_before_start != 0 && !child.inner_failure) {
    return ExitCodeFromWaitStatus(0, child.stopped_before_start);
  }
  if (!outcome->controller_gone && (!child.reached_inner || child.inner_failure)) {
    return Fail(pipeline.ExplainSetupFailure(child));
  }
  const int status = ExitCodeFromWaitStatus(child.exit_code, child.term_signal);
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) == 0) {
    const auto micros = [](const timeval& t) { return t.tv_sec * 1000000L + t.tv_usec; };
    spdlog::debug("supervisor peak RSS: {} KiB; CPU time: {} µs user, {} µs system",
                  usage.ru_maxrss, micros(usage.ru_utime), micros(usage.ru_stime));
  }
  if (replay != nullptr) {
    // One line of JSON on stderr; a script that did not play out exactly fails the run unless
    // the command itself already did.
    std::fprintf(stderr, "%s\n", replay->script().Summary().dump().c_str());
    if (replay->script().Failed() && status == 0) return kExitSandgateFailed;
  }
  return status;
}

}  // namespace sandgate::supervisor
