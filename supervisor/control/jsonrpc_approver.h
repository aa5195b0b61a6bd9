#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "approvals/jsonrpc.h"
#include "approvals/policy.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "supervisor/control/approver.h"
#include "supervisor/loop/uv_handle.h"

namespace sandgate::supervisor {

// The approver for `--approvals stdio` and `--approvals fd:N`: a controller speaking JSON-RPC
// 2.0, one JSON object per line (SPEC "Protocol").
//
// Input is read with a uv_poll_t and read(2), so it works for pipes, sockets and ttys alike; a
// regular file or /dev/null (which epoll refuses) is read from a uv_idle_t, one chunk per loop
// iteration, until EOF. Output never blocks the loop: a line is written at once when the fd
// takes it and otherwise queued in order and written when the fd is writable (uv_poll_t). If
// the controller stops reading, the queue is capped (`max_queued_bytes`): process/output is
// dropped first, then other notifications; requests, responses and network/approvalCancelled
// are always kept.
//
// The approver works on dup()s of the fds it is given (so the same fd may be passed as input and
// output, as in fd:N mode) and leaves the originals to the caller. It sets O_NONBLOCK on the
// shared file descriptions it polls and restores the old flags on Close().
//
// Loop thread only. Every callback runs on the loop thread; a callback may call back into the
// approver, and may even destroy it.
class JsonRpcApprover final : public Approver {
 public:
  struct Callbacks {
    // sandbox/terminate: send `signal` to the sandbox. The result {} is sent before this runs.
    std::function<void(int signal)> terminate;
    // policy/update, with every rule already parsed (all or nothing). Returns nullopt when the
    // rules were applied, else the reason, which the controller receives as a -32602 error.
    std::function<std::optional<std::string>(approvals::RuleLists lists)> policy_update;
    // process/writeStdin: `data` (raw bytes, base64 already decoded) for the command's stdin,
    // then close it when `close`.
    std::function<void(std::string data, bool close)> write_stdin;
    // The controller is gone: EOF or an error on input, or an error writing to it. Runs exactly
    // once, never from inside Ask/Cancel/Notify. Pending Asks are not answered by the approver:
    // the owner declines them (Mediator::CancelAll); later Asks are declined at once with source
    // `cancelled`.
    std::function<void()> hangup;
  };
  // A request whose callback is empty gets -32601 (for instance process/writeStdin in fd:N mode).

  static constexpr std::size_t kDefaultMaxQueuedBytes = std::size_t{64} << 20;

  JsonRpcApprover(uv_loop_t* loop, int input_fd, int output_fd, Callbacks callbacks,
                  std::size_t max_queued_bytes = kDefaultMaxQueuedBytes);
  ~JsonRpcApprover() override;
  JsonRpcApprover(const JsonRpcApprover&) = delete;
  JsonRpcApprover& operator=(const JsonRpcApprover&) = delete;

  // Duplicates the fds and starts reading. Call once.
  base::Status Start();

  // Sends network/requestApproval; `reply` runs with the controller's answer (source `user`),
  // once. An error response or an unknown decision is a decline. After a hang-up (or Close)
  // `reply` runs at once with decline, source `cancelled`.
  void Ask(const approvals::ApprovalRequest& request, Reply reply) override;
  // Forgets the request (its reply never runs) and sends network/approvalCancelled, if it was
  // still outstanding.
  void Cancel(const std::string& approval_id, approvals::CancelReason reason) override;
  void Notify(const std::string& method, const nlohmann::json& params) override;
  [[nodiscard]] bool WantsNotifications() const override { return true; }

  // Runs `done` once everything queued so far has been written (at once if nothing is queued),
  // or writing has failed. For sending sandbox/exited before exiting. Dropped by Close().
  void WhenFlushed(std::function<void()> done);

  // Stops reading and writing, forgets outstanding requests without answering them and closes
  // the handles (freed from their close callbacks: run the loop afterwards). Idempotent.
  void Close() noexcept;

  [[nodiscard]] std::size_t QueuedBytes() const noexcept { return queued_bytes_; }
  [[nodiscard]] std::size_t OutstandingRequests() const noexcept { return outstanding_.size(); }
  [[nodiscard]] bool HungUp() const noexcept { return hung_up_; }

 private:
  // What may be dropped when the controller does not read (lowest first).
  enum class Priority { kProcessOutput, kNotification, kEssential };
  struct Outgoing {
    std::string bytes;  // one line, with its "\n"
    Priority priority;
  };
  struct Outstanding {
    std::string approval_id;
    Reply reply;
  };
  enum class Continue { kYes, kNo };

  // Input.
  void OnReadable() noexcept;
  Continue ReadChunk() noexcept;
  Continue Consume(std::string_view data) noexcept;
  Continue HandleLine(std::string_view line) noexcept;
  void OnResponse(const approvals::RpcResponse& response) noexcept;
  void OnRequest(const nlohmann::json* id, const std::string& method,
                 const nlohmann::json& params) noexcept;
  void OnInputEnd() noexcept;
  void StopInput() noexcept;
  void HangUp() noexcept;

  // Output.
  void Send(std::string line, Priority priority) noexcept;
  void SendResult(const nlohmann::json* id, nlohmann::json result) noexcept;
  void SendError(const nlohmann::json* id, int code, std::string_view detail) noexcept;
  bool MakeRoom(std::size_t incoming) noexcept;
  // Writes the queue (in one gathering write) just before the loop next waits; to a regular
  // file, at once.
  void ScheduleFlush() noexcept;
  // Writes as much of the queue as the fd takes now, without removing it: bytes written (0:
  // the fd is full), or -1 after a failure (reported).
  std::ptrdiff_t WriteQueued() noexcept;
  void StartOutputPoll() noexcept;
  void OnWritable() noexcept;
  void OnOutputFailed(int error) noexcept;
  void RunFlushedCallbacks() noexcept;

  uv_loop_t* loop_;
  int input_fd_arg_;
  int output_fd_arg_;
  Callbacks callbacks_;
  std::size_t max_queued_bytes_;

  // Expires when the approver is destroyed: callers of user callbacks check it before touching
  // members again.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);

  base::UniqueFd input_;
  base::UniqueFd output_;
  std::optional<int> input_flags_;  // F_GETFL before we set O_NONBLOCK, restored on Close
  std::optional<int> output_flags_;
  bool output_is_socket_ = false;  // send(MSG_NOSIGNAL) instead of write
  bool output_pollable_ = false;   // false: a regular file, written synchronously
  UvHandle<uv_poll_t>* input_poll_ = nullptr;
  UvHandle<uv_idle_t>* input_idle_ = nullptr;
  UvHandle<uv_poll_t>* output_poll_ = nullptr;
  UvHandle<uv_timer_t>* hangup_timer_ = nullptr;
  bool output_poll_active_ = false;
  UvHandle<uv_prepare_t>* flush_prepare_ = nullptr;
  bool flush_scheduled_ = false;

  std::vector<char> read_buffer_;
  std::string line_;         // the line being assembled (at most one line's limit)
  bool discarding_ = false;  // inside an oversized line: skip to its newline
  bool input_done_ = false;

  std::deque<Outgoing> queue_;
  std::size_t front_written_ = 0;  // bytes of queue_.front() already written
  std::size_t queued_bytes_ = 0;   // unwritten bytes in queue_
  std::size_t dropped_messages_ = 0;
  std::size_t dropped_bytes_ = 0;
  bool output_failed_ = false;
  std::vector<std::function<void()>> flushed_callbacks_;

  std::map<std::int64_t, Outstanding> outstanding_;  // by JSON-RPC request id
  std::int64_t next_id_ = 1;

  bool started_ = false;
  bool hung_up_ = false;
  bool closed_ = false;
};

}  // namespace sandgate::supervisor
