#pragma once

#include <termios.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "approvals/policy.h"
#include "approvals/protocol.h"
#include "approvals/rule.h"
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

// The rule an "always" key saves for `destination`: its host name when known, else the address
// it reaches (IPv6 in brackets), with ":PORT"; "unix:PATH" or "unix-abstract:NAME" for unix
// sockets (glob characters escaped, so the rule names exactly this socket). The rule parses with
// approvals::ParseRule and carries no protocol (the grammar has none, so it covers tcp and udp).
// nullopt when no such rule exists, e.g. a host name with control bytes or an unnamed socket.
[[nodiscard]] std::optional<approvals::Rule> RuleToSave(const approvals::Destination& destination);

// The approver for `--approvals tty`: a person at the controlling terminal answers each request
// (SPEC "--approvals") with one key, no Enter:
//   y allow once (accept)          a allow for the session (acceptForSession)
//   n deny once (decline)          d deny for the session (declineForSession)
//   p always allow, x always deny: applyNetworkPolicyAmendment with persist, saved by whoever
//     handles the answer; offered only after SetCanPersist(true) and only for a destination
//     that RuleToSave can describe
//   c cancel the sandbox
// Upper case works too. Any other key is ignored with a short hint; so are Enter, spaces and a
// whole read that holds an escape sequence (an arrow key's "ESC [ A" must not answer "a"). The
// answer is printed after the question, since the key itself is not echoed. The terminal is
// opened by the approver itself (never the command's stdin/stdout).
//
// Terminal mode: while a question is shown the terminal is non-canonical without echo (ICANON,
// ECHO, ECHONL and IEXTEN off, VMIN 1, VTIME 0; the fd is non-blocking and polled); ISIG is left
// as it was, so ^C still signals sandgate, which forwards it to the command. The mode found when
// the question appeared is put back, exactly, on every way out: after each answer, when the
// question is withdrawn (Cancel), on Close() and so on destruction, when the terminal ends, and
// at exit() as a safety net should a path forget. It is put back with SIGTTOU blocked, so that a
// sandgate sent to the background still restores it instead of stopping. A SIGTERM/SIGINT/SIGHUP
// to sandgate is forwarded to the command (supervisor/child), whose end withdraws the question
// and ends the run through Close(). After SIGCONT (a shell's "fg" after ^Z; shells reset the
// mode when a job stops) the question's mode is set again. Not covered: SIGKILL and crashes
// (interactive shells such as bash put their own mode back when a foreground job dies of a
// signal; otherwise `stty sane`). If the terminal has no mode to change (tcgetattr fails, e.g.
// not a terminal) the keys are read as they come, which on a canonical terminal means after
// Enter.
//
// One request is shown at a time; the others wait in order. The terminal is read only while a
// question is shown, so the command keeps its terminal input otherwise. Input typed before a
// question appeared is discarded (tcflush) so that a keystroke meant for a withdrawn question
// or for the command cannot answer a question the person has not seen; so is the rest of a read
// after the key that answered.
//
// The terminal's EOF key (^D) or an error on the terminal ends it: everything waiting and every
// later request is declined with source `cancelled`, as when a controller hangs up.
//
// The poll and signal handles are unreferenced: the approver never keeps a loop alive by itself.
//
// Loop thread only. `reply` callbacks run on the loop thread and may call back into the
// approver, or destroy it.
class TtyApprover final : public Approver {
 public:
  explicit TtyApprover(uv_loop_t* loop, std::string tty_path = std::string(kDefaultTtyPath));
  ~TtyApprover() override;
  TtyApprover(const TtyApprover&) = delete;
  TtyApprover& operator=(const TtyApprover&) = delete;

  // Whether an answer can be saved for later runs (there is a policy file to save to): offers the
  // "always" keys. Off by default.
  void SetCanPersist(bool can_persist) noexcept { can_persist_ = can_persist; }

  // Opens the terminal. Call once, before Ask.
  base::Status Start();

  // Shows the request now, or queues it behind the one shown. After the terminal ended (or
  // Close) `reply` runs at once with decline, source `cancelled`.
  void Ask(const approvals::ApprovalRequest& request, Reply reply) override;
  // A queued request is dropped quietly; the shown one is withdrawn with a line saying why and
  // the next one is shown. Its reply never runs.
  void Cancel(const std::string& approval_id, approvals::CancelReason reason) override;

  // Withdraws the question shown (with a line saying so) and puts the terminal's mode back,
  // forgets the others without answering them, closes the handles (freed from their close
  // callbacks: run the loop afterwards) and the terminal. Idempotent.
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
  [[nodiscard]] std::string Choices() const;
  void OnPollEvent(int status, int events) noexcept;
  void ReadInput() noexcept;
  // Keys typed while the front request is shown, in one read.
  void HandleKeys(std::string_view keys) noexcept;
  // A persisting key: the amendment, or a hint when there is nothing to save.
  void AnswerAlways(approvals::AmendmentAction action) noexcept;
  // `said` is printed after the question, as the key is not echoed.
  void Answer(approvals::Answer answer, std::string_view said) noexcept;
  // The question's terminal mode on and off (see the class comment).
  void EnterQuestionMode() noexcept;
  void RestoreMode() noexcept;
  void OnContinued() noexcept;
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
  UvHandle<uv_signal_t>* continued_ = nullptr;  // SIGCONT
  std::string end_reason_;
  bool can_persist_ = false;

  // The terminal's mode when the question appeared, while the question's own mode is set.
  std::optional<termios> saved_mode_;
  termios question_mode_{};
  int eof_key_ = 0x04;  // ^D, or the terminal's VEOF; -1 when it has none

  std::deque<Entry> queue_;  // the front is shown when showing_
  bool showing_ = false;
  std::optional<approvals::Rule> shown_rule_;  // what an "always" key would save, if offered
  std::string out_;                            // text the terminal has not taken yet
  bool output_failed_ = false;

  bool started_ = false;
  bool ended_ = false;
  bool closed_ = false;
  // Expires when the approver is destroyed: checked after running a reply.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace sandgate::supervisor
