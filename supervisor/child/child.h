#pragma once

#include <linux/filter.h>
#include <uv.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "supervisor/loop/uv_handle.h"

namespace sandgate::supervisor {

// How one bwrap run ended.
struct ChildOutcome {
  bool reached_inner = false;                // the inner stage reported "ready"
  std::optional<std::string> inner_failure;  // setup failed inside the sandbox
  int exit_code = 0;                         // of bwrap (which passes on the command's)
  int term_signal = 0;                       // bwrap itself died of this signal
  std::string bwrap_stderr_tail;             // last bytes bwrap wrote, to explain failures
  // The signal (forwarded, or SIGKILL from Kill) that ended the sandbox before the command
  // started; 0 if none did.
  int stopped_before_start = 0;
};

// One bwrap process on a libuv loop: spawns it, answers the inner stage's handoff, forwards
// SIGINT/SIGTERM/SIGHUP/SIGQUIT to the command (or to bwrap before the command exists), reaps
// bwrap through its pidfd, and reports once when bwrap is gone and its stderr is drained.
//
// Single-threaded: everything runs on the loop thread. The object must outlive the loop run;
// Close() (also from the destructor) closes every handle, which the loop then frees.
// The command's stdin/stdout/stderr: the caller's by default, pipes in --approvals stdio.
struct ChildStdio {
  int in = 0;
  int out = 1;
  int err = 2;
};

class SandboxChild {
 public:
  using FinishedCallback = std::function<void(const ChildOutcome&)>;
  // The inner stage is ready and waits: `listener` is the seccomp listener copied out of it in
  // mode approve (invalid otherwise). The command starts only if this returns Ok; an error ends
  // the sandbox before the command runs and becomes the setup failure (exit 125).
  using ReadyCallback = std::function<base::Status(base::UniqueFd listener)>;
  // Gives the seccomp program the inner stage loads (pipelines/handoff.h).
  using ProgramSource = std::function<base::Result<std::vector<sock_filter>>()>;

  explicit SandboxChild(uv_loop_t* loop) : loop_(loop) {}
  ~SandboxChild() { Close(); }
  SandboxChild(const SandboxChild&) = delete;
  SandboxChild& operator=(const SandboxChild&) = delete;

  // bwrap's stderr is held back until the inner stage reports ready, then echoed: when setup
  // fails, the supervisor explains it in one line instead of bwrap's raw messages.
  // `seccomp_program` is called once bwrap is spawned, so that the filter is compiled while bwrap
  // builds the sandbox; what it gives goes to the inner stage first thing (pipelines/handoff.h).
  // If it fails, Start does, and bwrap goes before the inner stage could run anything.
  base::Status Start(const std::filesystem::path& bwrap, const std::vector<std::string>& args,
                     const ProgramSource& seccomp_program, FinishedCallback on_finished,
                     ReadyCallback on_ready = {}, ChildStdio stdio = {});
  // The command's pid (valid once it reported ready), for sandbox/started.
  [[nodiscard]] pid_t CommandPid() const noexcept { return command_pid_; }

  // Sends `sig` to the command. Before the command exists, ends the sandbox at "ready" instead,
  // so the command never starts (see StopBeforeStart).
  void ForwardSignal(int sig) noexcept;
  // Ends the whole sandbox (SIGKILL to bwrap, whose pid namespace takes everything along); before
  // the inner stage is ready, at "ready", so that the command never starts.
  void Kill() noexcept;

  void Close() noexcept;

 private:
  base::Status SendProgram(const ProgramSource& seccomp_program);
  void OnBwrapExited() noexcept;
  void OnHandoffReadable() noexcept;
  void OnStderrData(ssize_t nread, const uv_buf_t* buf) noexcept;
  void DrainHandoff() noexcept;
  // Handles "R[<fd>]": pidfd on the command, listener copy, then the go-ahead.
  void OnReady(std::string_view listener_fd, pid_t pid) noexcept;
  void Abort(std::string reason) noexcept;
  void StopBeforeStart(int sig) noexcept;
  void MaybeFinish() noexcept;

  uv_loop_t* loop_;
  FinishedCallback on_finished_;
  ReadyCallback on_ready_;
  base::UniqueFd bwrap_pidfd_;
  base::UniqueFd command_pidfd_;
  pid_t command_pid_ = 0;
  int caller_stderr_ = 2;  // where held-back bwrap output goes once the command runs
  base::UniqueFd handoff_;
  UvHandle<uv_poll_t>* exit_poll_ = nullptr;
  UvHandle<uv_poll_t>* handoff_poll_ = nullptr;
  UvHandle<uv_pipe_t>* stderr_pipe_ = nullptr;
  std::vector<UvHandle<uv_signal_t>*> signals_;
  std::string held_stderr_;  // bwrap's output before "ready"
  ChildOutcome outcome_;
  UvHandle<uv_timer_t>* setup_timer_ = nullptr;  // see StopBeforeStart
  bool exited_ = false;
  bool stderr_done_ = false;
  bool finished_ = false;
};

}  // namespace sandgate::supervisor
