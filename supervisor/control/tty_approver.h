#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "approvals/protocol.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "supervisor/control/approver.h"
#include "supervisor/loop/uv_handle.h"

namespace sandgate::supervisor {

inline constexpr std::string_view kDefaultTtyPath = "/dev/tty";

// Opens the terminal the way the tty approver uses it: O_RDWR | O_CLOEXEC | O_NOCTTY |
// O_NONBLOCK. A fresh open file description, so O_NONBLOCK never reaches the command's stdio.
[[nodiscard]] base::Result<base::UniqueFd> OpenTerminal(const std::string& path);

// Text from the sandbox (exe names, argv, host names, paths) made safe to print on a terminal:
// bytes below 0x20, 0x7f, bytes that are not part of valid UTF-8, C1 controls (U+0080..U+009F,
// which some terminals obey like ESC [) and bidirectional overrides (which can make a name read
// as another) become \xNN per byte; '\' becomes "\\" so that an escape cannot be forged.
[[nodiscard]] std::string EscapeForTerminal(std::string_view text);

// What the person is asked, escaped, without the "sandgate: " prefix and without the choices:
// "curl (pid 1234) wants tcp github.com [140.82.112.3]:443  [curl -sS https://github.com/]".
[[nodiscard]] std::string DescribeRequest(const approvals::ApprovalRequest& request);

// The approver for `--approvals tty`: a person at the controlling terminal answers each request
// (SPEC "--approvals"). The terminal is opened by the approver itself (never the command's
// stdin/stdout) and left in whatever mode it is in: it is read line by line, which is what a
// terminal in canonical mode delivers.
//
// One request is shown at a time; the others wait in order. The terminal is read only while a
// question is shown, so the command keeps its terminal input otherwise. Input typed before a
// question appeared is discarded (tcflush) so that a keystroke meant for a withdrawn question
// or for the command cannot answer a question the person has not seen.
//
// EOF (^D on an empty line) or an error on the terminal ends it: everything waiting and every
// later request is declined with source `cancelled`, as when a controller hangs up.
//
// The poll handle is unreferenced: the approver never keeps a loop alive by itself.
//
// Loop thread only. `reply` callbacks run on the loop thread and may call back into the
// approver, or destroy it.
class TtyApprover final : public Approver {
 public:
  explicit TtyApprover(uv_loop_t* loop, std::string tty_path = std::string(kDefaultTtyPath));
  ~TtyApprover() override;
  TtyApprover(const TtyApprover&) = delete;
  TtyApprover& operator=(const TtyApprover&) = delete;

  // Opens the terminal. Call once, before Ask.
  base::Status Start();

  // Shows the request now, or queues it behind the one shown. After the terminal ended (or
  // Close) `reply` runs at once with decline, source `cancelled`.
  void Ask(const approvals::ApprovalRequest& request, Reply reply) override;
  // A queued request is dropped quietly; the shown one is withdrawn with a line saying why and
  // the next one is shown. Its reply never runs.
  void Cancel(const std::string& approval_id, approvals::CancelReason reason) override;
  // Decisions are not echoed: the person saw their own answer.

  // Withdraws the question shown (with a line saying so), forgets the others without answering
  // them, closes the handle (freed from its close callback: run the loop afterwards) and the
  // terminal. Idempotent.
  void Close() noexcept;

  // Requests shown or waiting.
  [[nodiscard]] std::size_t Pending() const noexcept { return queue_.size(); }
  // The terminal reached EOF or failed.
  [[nodiscard]] bool Ended() const noexcept { return ended_; }

 private:
  struct Entry {
    approvals::ApprovalRequest request;
    Reply reply;
  };

  void ShowNext() noexcept;
  void PrintChoices() noexcept;
  void OnPollEvent(int status, int events) noexcept;
  void ReadInput() noexcept;
  // A complete line arrived while the front request is shown.
  void HandleLine(std::string_view line) noexcept;
  void Answer(approvals::Answer answer) noexcept;
  void End(std::string_view why) noexcept;
  // End from the next loop iteration: for failures found inside Ask or Cancel.
  void EndSoon(std::string why) noexcept;
  void Write(std::string_view text) noexcept;
  void Flush() noexcept;
  void UpdatePoll() noexcept;

  uv_loop_t* loop_;
  std::string tty_path_;
  base::UniqueFd tty_;
  UvHandle<uv_poll_t>* poll_ = nullptr;
  int poll_events_ = 0;  // what poll_ is started for (0: stopped)
  UvHandle<uv_timer_t>* end_timer_ = nullptr;
  std::string end_reason_;

  std::deque<Entry> queue_;  // the front is shown when showing_
  bool showing_ = false;
  std::uint64_t shown_serial_ = 0;  // counts questions shown, to notice that one was answered
  std::string line_;                // the answer being read (bytes before its '\n')
  bool overlong_ = false;           // the line being read went past the limit: it is not an answer
  std::string out_;                 // text the terminal has not taken yet
  bool output_failed_ = false;

  bool started_ = false;
  bool ended_ = false;
  bool closed_ = false;
  // Expires when the approver is destroyed: checked after running a reply.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace sandgate::supervisor
