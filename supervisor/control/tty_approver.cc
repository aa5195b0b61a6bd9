#include "supervisor/control/tty_approver.h"

#include <fcntl.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <utility>
#include <variant>

#include "approvals/address.h"
#include "approvals/answer.h"
#include "approvals/destination.h"
#include "approvals/policy.h"
#include "approvals/rule.h"
#include "approvals/utf8.h"

namespace sandgate::supervisor {
namespace {

// Limits on what one prompt shows of each untrusted field, in bytes before escaping, so that a
// 100 KiB argv cannot bury the question.
constexpr std::size_t kMaxNameBytes = 128;
constexpr std::size_t kMaxHostBytes = 256;
constexpr std::size_t kMaxPathBytes = 256;
constexpr std::size_t kMaxCommandBytes = 200;
// Output the terminal has not taken (it is stopped, ^S): prompts beyond this are dropped.
constexpr std::size_t kMaxQueuedOutput = std::size_t{64} << 10;
// Reads per wakeup: each returns the keys typed so far.
constexpr int kReadsPerWakeup = 16;
constexpr char kEscape = '\x1b';
constexpr int kDefaultEofKey = 0x04;  // ^D

constexpr std::string_view kKeysHint = "\nsandgate: press one of the keys in brackets (no Enter)\n";
constexpr std::string_view kNothingToSaveHint =
    "\nsandgate: no rule can be saved for this destination: press another key\n";

void AppendHex(unsigned char byte, std::string& out) {
  constexpr std::string_view kHex = "0123456789abcdef";
  out += "\\x";
  out += kHex[byte >> 4];
  out += kHex[byte & 0xfU];
}

// The length of the UTF-8 sequence `lead` starts, or 0 when it cannot start one.
std::size_t SequenceLength(unsigned char lead) {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

// The code point of one valid UTF-8 sequence of 2 to 4 bytes.
std::uint32_t CodePoint(std::string_view sequence) {
  const auto byte = [&](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(sequence[k]));
  };
  std::uint32_t value = 0;
  switch (sequence.size()) {
    case 2:
      value = byte(0) & 0x1fU;
      break;
    case 3:
      value = byte(0) & 0x0fU;
      break;
    default:
      value = byte(0) & 0x07U;
      break;
  }
  for (std::size_t k = 1; k < sequence.size(); ++k) value = (value << 6) | (byte(k) & 0x3fU);
  return value;
}

// Characters that are valid text but act on the terminal or on how the line reads: C1 controls
// (U+009B is CSI on terminals that honour 8-bit controls), zero-width and bidirectional
// formatting characters, and the Unicode line and paragraph separators.
bool IsDisguisingCodePoint(std::uint32_t c) {
  return (c >= 0x80 && c <= 0x9f) || c == 0x061c || (c >= 0x200b && c <= 0x200f) ||
         (c >= 0x2028 && c <= 0x202e) || (c >= 0x2060 && c <= 0x2069) || c == 0xfeff;
}

// At most `max` bytes of `text` (cut at a character boundary, marked "..."), escaped.
std::string Shown(std::string_view text, std::size_t max) {
  if (text.size() <= max) return EscapeForTerminal(text);
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0U) == 0x80U) --cut;
  return EscapeForTerminal(text.substr(0, cut)) + "...";
}

std::string_view BaseName(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string Endpoint(const approvals::Destination& destination) {
  std::string out;
  if (destination.host) {
    out = Shown(*destination.host, kMaxHostBytes);
    if (destination.address) out += " [" + destination.address->ToString() + "]";
  } else if (destination.address) {
    const bool v6 = destination.address->family() == approvals::AddressFamily::kInet6;
    out = v6 ? "[" + destination.address->ToString() + "]" : destination.address->ToString();
  } else {
    out = "an unknown address";
  }
  return out + ":" + std::to_string(destination.port);
}

std::string_view CancelReasonText(approvals::CancelReason reason) {
  switch (reason) {
    case approvals::CancelReason::kTimeout:
      return "no answer in time";
    case approvals::CancelReason::kProcessExited:
      return "the process exited";
    case approvals::CancelReason::kInterrupted:
      return "the program gave up waiting (interrupted)";
  }
  return "cancelled";
}

template <typename T>
void CloseHandle(UvHandle<T>*& handle) noexcept {
  if (handle != nullptr) handle->Close();
  handle = nullptr;
}

// The mode a question is asked in: each key arrives as it is typed, unechoed; ISIG stays as it
// was, so ^C still signals. IEXTEN goes too, or ^V and ^O would be taken by the terminal.
termios QuestionMode(termios mode) {
  mode.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | ECHONL | IEXTEN);
  mode.c_cc[VMIN] = 1;
  mode.c_cc[VTIME] = 0;
  return mode;
}

// tcsetattr from a background process group raises SIGTTOU, which would stop sandgate while it
// puts the terminal back; with the signal blocked the kernel lets the change through.
int RestoreEvenInBackground(int fd, const termios& mode) noexcept {
  sigset_t ttou;
  sigset_t old;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  const bool blocked = ::pthread_sigmask(SIG_BLOCK, &ttou, &old) == 0;
  int rc = 0;
  do {
    rc = ::tcsetattr(fd, TCSANOW, &mode);
  } while (rc != 0 && errno == EINTR);
  const int error = errno;
  if (blocked) ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = error;
  return rc;
}

// The exit() safety net: the mode to put back should the process exit while a question is shown
// without any of the approver's own paths having run. One slot: a process has one terminal
// approver (a second one asking at the same time is not covered). Trivially destructible, so it
// is still there for atexit handlers that run after static destructors.
struct ExitRestore {
  const void* owner = nullptr;
  int fd = -1;
  pid_t pid = 0;  // a forked child that calls exit() must leave its parent's terminal alone
  termios mode{};
};

ExitRestore& TheExitRestore() noexcept {
  static ExitRestore slot;
  return slot;
}

void RestoreAtExit() noexcept {
  const ExitRestore& slot = TheExitRestore();
  if (slot.owner != nullptr && slot.pid == ::getpid()) {
    (void)RestoreEvenInBackground(slot.fd, slot.mode);
  }
}

void ArmExitRestore(const void* owner, int fd, const termios& mode) noexcept {
  static const bool registered = std::atexit(RestoreAtExit) == 0;
  ExitRestore& slot = TheExitRestore();
  if (!registered || (slot.owner != nullptr && slot.owner != owner)) return;
  slot = ExitRestore{owner, fd, ::getpid(), mode};
}

void DisarmExitRestore(const void* owner) noexcept {
  ExitRestore& slot = TheExitRestore();
  if (slot.owner == owner) slot.owner = nullptr;
}

}  // namespace

std::optional<approvals::Rule> RuleToSave(const approvals::Destination& destination) {
  // Session memory's rule for the destination, through the grammar: that drops the protocol it
  // carries and refuses what a policy file could not hold (a name with control bytes, say).
  const auto exact = approvals::ExactRuleFor(destination);
  if (!exact) return std::nullopt;
  auto parsed = approvals::ParseRule(exact->text);
  if (auto* rule = std::get_if<approvals::Rule>(&parsed)) return std::move(*rule);
  return std::nullopt;
}

base::Result<base::UniqueFd> OpenTerminal(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return base::ErrnoError("open(" + path + ")");
  return base::UniqueFd(fd);
}

std::string EscapeForTerminal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte == '\\') {
      out += "\\\\";
      ++i;
    } else if (byte < 0x20 || byte == 0x7f) {
      AppendHex(byte, out);
      ++i;
    } else if (byte < 0x80) {
      out += text[i];
      ++i;
    } else {
      const std::size_t length = SequenceLength(byte);
      if (length == 0 || i + length > text.size() ||
          !approvals::IsValidUtf8(text.substr(i, length))) {
        AppendHex(byte, out);  // not UTF-8: this byte alone, then look again at the next
        ++i;
        continue;
      }
      const std::string_view sequence = text.substr(i, length);
      if (IsDisguisingCodePoint(CodePoint(sequence))) {
        for (const char c : sequence) AppendHex(static_cast<unsigned char>(c), out);
      } else {
        out += sequence;
      }
      i += length;
    }
  }
  return out;
}

std::string DescribeRequest(const approvals::ApprovalRequest& request) {
  const approvals::ProcessInfo& process = request.process;
  std::string_view name = BaseName(process.exe);
  if (name.empty() && !process.argv.empty()) name = BaseName(process.argv.front());
  std::string out;
  if (process.pid > 0) {
    out = (name.empty() ? std::string("a process") : Shown(name, kMaxNameBytes)) + " (pid " +
          std::to_string(process.pid) + ")";
  } else {
    out = name.empty() ? std::string("the sandbox") : Shown(name, kMaxNameBytes);
  }
  const approvals::Destination& destination = request.destination;
  if (request.reason == "dns_query") {
    out += " wants to resolve ";
    if (destination.host) {
      out += Shown(*destination.host, kMaxHostBytes);
    } else if (destination.address) {
      out += destination.address->ToString();
    } else {
      out += "a name";
    }
  } else if (destination.protocol == approvals::Protocol::kUnix) {
    out += " wants unix ";
    if (destination.unix_path) {
      out += Shown(*destination.unix_path, kMaxPathBytes);
    } else if (destination.unix_abstract) {
      out += "@" + Shown(*destination.unix_abstract, kMaxPathBytes);
    } else {
      out += "an unnamed socket";
    }
  } else {
    out += " wants ";
    out += approvals::ProtocolName(destination.protocol);
    out += " " + Endpoint(destination);
  }
  if (!request.reason.empty() && request.reason != "not_allowed" && request.reason != "dns_query") {
    out += " (" + Shown(request.reason, kMaxNameBytes) + ")";
  }
  if (process.argv.size() > 1) {
    std::string command;
    for (const auto& arg : process.argv) {
      if (!command.empty()) command += ' ';
      command += arg;
      if (command.size() > kMaxCommandBytes) break;
    }
    out += "  [" + Shown(command, kMaxCommandBytes) + "]";
  }
  return out;
}

TtyApprover::TtyApprover(uv_loop_t* loop, std::string tty_path)
    : loop_(loop), tty_path_(std::move(tty_path)) {}

TtyApprover::~TtyApprover() { Close(); }

base::Status TtyApprover::Start() {
  if (started_ || closed_) return base::Error{EALREADY, "TtyApprover::Start"};
  started_ = true;
  auto opened = OpenTerminal(tty_path_);
  if (!opened) return base::Error{opened.Err().errnum, "--approvals tty: " + opened.Err().context};
  tty_ = std::move(opened).Value();
  const auto fail = [this](int rc, const std::string& call) {
    CloseHandle(continued_);
    CloseHandle(end_timer_);
    CloseHandle(poll_);
    tty_.Reset();
    return base::Error{-rc, call};
  };
  poll_ = UvHandle<uv_poll_t>::Create();
  if (const int rc = uv_poll_init(loop_, poll_->Get(), tty_.Get()); rc != 0) {
    return fail(rc, "uv_poll_init(" + tty_path_ + ")");
  }
  poll_->Bind(this);
  // Requests come from the sandbox, whose own handles keep the loop running while it lives.
  uv_unref(poll_->Base());
  end_timer_ = UvHandle<uv_timer_t>::Create();
  if (const int rc = uv_timer_init(loop_, end_timer_->Get()); rc != 0) {
    return fail(rc, "uv_timer_init");
  }
  end_timer_->Bind(this);
  continued_ = UvHandle<uv_signal_t>::Create();
  if (const int rc = uv_signal_init(loop_, continued_->Get()); rc != 0) {
    return fail(rc, "uv_signal_init");
  }
  continued_->Bind(this);
  if (const int rc = uv_signal_start(
          continued_->Get(),
          [](uv_signal_t* h, int) noexcept {
            static_cast<TtyApprover*>(UvHandle<uv_signal_t>::From(h)->Owner())->OnContinued();
          },
          SIGCONT);
      rc != 0) {
    return fail(rc, "uv_signal_start(SIGCONT)");
  }
  uv_unref(continued_->Base());
  return base::Ok{};
}

// ---- approver interface --------------------------------------------------------------------

void TtyApprover::Ask(const approvals::ApprovalRequest& request, Reply reply) {
  if (closed_ || ended_ || !tty_) {
    spdlog::debug("approval {}: no terminal to ask, declined", request.approval_id);
    reply(approvals::answer::Decline{}, approvals::DecisionSource::kCancelled);
    return;
  }
  queue_.push_back(Entry{request, std::move(reply)});
  ShowNext();
}

void TtyApprover::Cancel(const std::string& approval_id, approvals::CancelReason reason) {
  auto it = queue_.begin();
  while (it != queue_.end() && it->request.approval_id != approval_id) ++it;
  if (it == queue_.end()) {
    spdlog::debug("approval {}: cancelled, but it is not waiting", approval_id);
    return;
  }
  if (it != queue_.begin() || !showing_) {
    queue_.erase(it);
    return;
  }
  try {
    // The cursor is after the question: start a new line.
    Write("\nsandgate: withdrawn (" + std::string(CancelReasonText(reason)) +
          "): " + DescribeRequest(it->request) + "\n");
  } catch (const std::exception& e) {
    spdlog::error("tty prompt: {}", e.what());
  }
  RestoreMode();
  queue_.pop_front();
  showing_ = false;
  shown_rule_.reset();
  UpdatePoll();
  ShowNext();
}

void TtyApprover::Close() noexcept {
  if (closed_) return;
  if (showing_ && !queue_.empty()) {
    try {
      Write("\nsandgate: withdrawn (the sandbox ended): " +
            DescribeRequest(queue_.front().request) + "\n");
    } catch (const std::exception& e) {
      spdlog::error("tty prompt: {}", e.what());
    }
  }
  RestoreMode();
  closed_ = true;
  showing_ = false;
  shown_rule_.reset();
  queue_.clear();
  CloseHandle(poll_);
  poll_events_ = 0;
  CloseHandle(end_timer_);
  CloseHandle(continued_);
  tty_.Reset();
  out_.clear();
}

// ---- the terminal's mode -------------------------------------------------------------------

void TtyApprover::EnterQuestionMode() noexcept {
  if (saved_mode_ || !tty_) return;
  termios mode{};
  if (::tcgetattr(tty_.Get(), &mode) != 0) {
    spdlog::debug("tcgetattr({}): {}: keys are read as the terminal delivers them", tty_path_,
                  std::strerror(errno));
    eof_key_ = kDefaultEofKey;
    return;
  }
  eof_key_ = mode.c_cc[VEOF] == _POSIX_VDISABLE ? -1 : mode.c_cc[VEOF];
  question_mode_ = QuestionMode(mode);
  // Saved (and armed for exit) before the change: a change that failed half-way is undone too.
  saved_mode_ = mode;
  ArmExitRestore(this, tty_.Get(), mode);
  if (::tcsetattr(tty_.Get(), TCSANOW, &question_mode_) != 0) {
    spdlog::warn("tcsetattr({}): {}: the question is asked in the terminal's own mode", tty_path_,
                 std::strerror(errno));
  }
}

void TtyApprover::RestoreMode() noexcept {
  if (!saved_mode_) return;
  if (tty_ && RestoreEvenInBackground(tty_.Get(), *saved_mode_) != 0) {
    // EIO after a hang-up: there is no terminal left to care.
    spdlog::log(errno == EIO ? spdlog::level::debug : spdlog::level::warn,
                "tcsetattr({}) putting the terminal's mode back: {}", tty_path_,
                std::strerror(errno));
  }
  saved_mode_.reset();
  DisarmExitRestore(this);
}

// A shell that stopped sandgate (^Z) put its own mode on the terminal; after "fg" the question
// needs its mode again. In the background (after "bg") the terminal is not sandgate's to change;
// a terminal that is not sandgate's controlling one has no foreground to ask about.
void TtyApprover::OnContinued() noexcept {
  if (!saved_mode_ || !tty_) return;
  const pid_t foreground = ::tcgetpgrp(tty_.Get());
  if (foreground >= 0 && foreground != ::getpgrp()) return;
  if (::tcsetattr(tty_.Get(), TCSANOW, &question_mode_) != 0) {
    spdlog::debug("tcsetattr({}) after SIGCONT: {}", tty_path_, std::strerror(errno));
  }
}

// ---- prompting -----------------------------------------------------------------------------

void TtyApprover::ShowNext() noexcept {
  if (showing_ || queue_.empty() || ended_ || closed_) return;
  showing_ = true;
  try {
    shown_rule_ = can_persist_ ? RuleToSave(queue_.front().request.destination) : std::nullopt;
  } catch (const std::exception& e) {
    spdlog::error("tty prompt: {}", e.what());
    shown_rule_.reset();
  }
  EnterQuestionMode();
  // Whatever was typed before this question appeared was not typed in answer to it.
  (void)::tcflush(tty_.Get(), TCIFLUSH);
  try {
    std::string text = "sandgate: " + DescribeRequest(queue_.front().request);
    if (queue_.size() > 1) text += "  (" + std::to_string(queue_.size() - 1) + " more waiting)";
    text += "\n" + Choices();
    Write(text);
  } catch (const std::exception& e) {
    spdlog::error("tty prompt: {}", e.what());
  }
  UpdatePoll();
}

std::string TtyApprover::Choices() const {
  if (shown_rule_) {
    return "sandgate: allow: [y] once [a] session [p] always   deny: [n] once [d] session "
           "[x] always   [c] cancel sandbox? ";
  }
  return "sandgate: allow: [y] once [a] session   deny: [n] once [d] session   [c] cancel "
         "sandbox? ";
}

void TtyApprover::OnPollEvent(int status, int events) noexcept {
  if (status < 0) {
    spdlog::warn("poll({}): {}", tty_path_, uv_strerror(status));
    return End(uv_strerror(status));
  }
  if ((events & UV_WRITABLE) != 0) Flush();
  if ((events & (UV_READABLE | UV_DISCONNECT)) != 0) ReadInput();
}

void TtyApprover::ReadInput() noexcept {
  const std::weak_ptr<int> alive = alive_;
  char buffer[256];
  for (int i = 0; i < kReadsPerWakeup; ++i) {
    if (!showing_ || ended_ || closed_) return;
    const ssize_t n = ::read(tty_.Get(), buffer, sizeof buffer);
    if (n == 0) return End("end of input");
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      return End(std::strerror(errno));
    }
    HandleKeys(std::string_view(buffer, static_cast<std::size_t>(n)));
    if (alive.expired() || closed_) return;
  }
}

void TtyApprover::HandleKeys(std::string_view keys) noexcept {
  bool hint = false;
  for (const char key : keys) {
    // An escape sequence (an arrow or function key) arrives in one read; its letters are not
    // keys ("ESC [ A" is the up arrow, not "a").
    if (key == kEscape) {
      hint = true;
      break;
    }
    if (eof_key_ >= 0 && static_cast<unsigned char>(key) == eof_key_) return End("end of input");
    switch (key) {
      case 'y':
      case 'Y':
        return Answer(approvals::answer::Accept{}, "allow once");
      case 'a':
      case 'A':
        return Answer(approvals::answer::AcceptForSession{}, "allow for this session");
      case 'n':
      case 'N':
        return Answer(approvals::answer::Decline{}, "deny once");
      case 'd':
      case 'D':
        return Answer(approvals::answer::DeclineForSession{}, "deny for this session");
      case 'c':
      case 'C':
        return Answer(approvals::answer::Cancel{}, "cancel the sandbox");
      case 'p':
      case 'P':
        if (can_persist_) return AnswerAlways(approvals::AmendmentAction::kAllow);
        hint = true;
        break;
      case 'x':
      case 'X':
        if (can_persist_) return AnswerAlways(approvals::AmendmentAction::kDeny);
        hint = true;
        break;
      case '\r':
      case '\n':
      case ' ':
      case '\t':
        break;  // Enter out of habit: not a key, and not worth a hint
      default:
        hint = true;
        break;
    }
  }
  if (!hint) return;
  try {
    Write(std::string(kKeysHint) + Choices());
  } catch (const std::exception& e) {
    spdlog::error("tty prompt: {}", e.what());
  }
}

void TtyApprover::AnswerAlways(approvals::AmendmentAction action) noexcept {
  try {
    if (!shown_rule_) {
      Write(std::string(kNothingToSaveHint) + Choices());
      return;
    }
    const bool allow = action == approvals::AmendmentAction::kAllow;
    std::string said = std::string(allow ? "always allow " : "always deny ") +
                       EscapeForTerminal(shown_rule_->text);
    Answer(approvals::answer::Amendment{*shown_rule_, action, true}, said);
  } catch (const std::exception& e) {
    spdlog::error("tty prompt: {}", e.what());
  }
}

void TtyApprover::Answer(approvals::Answer answer, std::string_view said) noexcept {
  if (!showing_ || queue_.empty()) return;
  try {
    Write(std::string(said) + "\n");
  } catch (const std::exception& e) {
    spdlog::error("tty prompt: {}", e.what());
  }
  RestoreMode();
  Entry entry = std::move(queue_.front());
  queue_.pop_front();
  showing_ = false;
  shown_rule_.reset();
  UpdatePoll();
  spdlog::debug("approval {}: {} (terminal)", entry.request.approval_id,
                approvals::AnswerName(answer));
  const std::weak_ptr<int> alive = alive_;
  try {
    entry.reply(std::move(answer), approvals::DecisionSource::kUser);
  } catch (const std::exception& e) {
    spdlog::error("approval {}: reply: {}", entry.request.approval_id, e.what());
  }
  if (alive.expired() || closed_) return;
  ShowNext();
}

// Declines everything waiting, and from now on everything asked. Runs from loop callbacks only
// (never inside Ask or Cancel), so the replies do not re-enter a caller.
void TtyApprover::End(std::string_view why) noexcept {
  if (ended_ || closed_) return;
  ended_ = true;
  // The person is told on the terminal when it still takes output; the log is for when not.
  const bool told = showing_ && !output_failed_ && tty_;
  if (told) {
    Write("\nsandgate: no more answers from the terminal: network requests are declined\n");
  }
  spdlog::log(told ? spdlog::level::info : spdlog::level::warn,
              "no more answers from the terminal {} ({}): declining {} waiting and all later "
              "approval requests",
              tty_path_, why, queue_.size());
  RestoreMode();
  showing_ = false;
  shown_rule_.reset();
  std::deque<Entry> entries = std::move(queue_);
  queue_.clear();
  CloseHandle(poll_);
  poll_events_ = 0;
  CloseHandle(continued_);
  tty_.Reset();
  out_.clear();
  const std::weak_ptr<int> alive = alive_;
  for (auto& entry : entries) {
    try {
      entry.reply(approvals::answer::Decline{}, approvals::DecisionSource::kCancelled);
    } catch (const std::exception& e) {
      spdlog::error("approval {}: reply: {}", entry.request.approval_id, e.what());
    }
    if (alive.expired()) return;
  }
}

// ---- output --------------------------------------------------------------------------------

void TtyApprover::Write(std::string_view text) noexcept {
  if (!tty_ || output_failed_) return;
  if (out_.size() + text.size() > kMaxQueuedOutput) {
    spdlog::warn("the terminal {} is not taking output; a prompt line was dropped", tty_path_);
    return;
  }
  try {
    out_.append(text);
  } catch (const std::exception& e) {
    spdlog::error("tty prompt: {}", e.what());
    return;
  }
  Flush();
}

void TtyApprover::Flush() noexcept {
  while (!out_.empty() && tty_ && !output_failed_) {
    const ssize_t n = ::write(tty_.Get(), out_.data(), out_.size());
    if (n > 0) {
      out_.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    const int error = n < 0 ? errno : EIO;
    if (error == EINTR) continue;
    if (error == EAGAIN || error == EWOULDBLOCK) break;
    spdlog::warn("write({}): {}", tty_path_, std::strerror(error));
    output_failed_ = true;
    out_.clear();
    // A person who cannot see the questions cannot answer them.
    EndSoon("cannot write to it");
  }
  UpdatePoll();
}

void TtyApprover::UpdatePoll() noexcept {
  if (poll_ == nullptr || closed_) return;
  int wanted = 0;
  if (showing_ && !ended_) wanted |= UV_READABLE;
  if (!out_.empty() && !output_failed_) wanted |= UV_WRITABLE;
  if (wanted == poll_events_) return;
  poll_events_ = wanted;
  if (wanted == 0) {
    uv_poll_stop(poll_->Get());
    return;
  }
  const int rc =
      uv_poll_start(poll_->Get(), wanted, [](uv_poll_t* h, int status, int events) noexcept {
        static_cast<TtyApprover*>(UvHandle<uv_poll_t>::From(h)->Owner())
            ->OnPollEvent(status, events);
      });
  if (rc != 0) {
    spdlog::warn("uv_poll_start({}): {}", tty_path_, uv_strerror(rc));
    poll_events_ = 0;
    EndSoon(uv_strerror(rc));
  }
}

void TtyApprover::EndSoon(std::string why) noexcept {
  if (end_timer_ == nullptr || ended_ || closed_ || uv_is_active(end_timer_->Base()) != 0) return;
  end_reason_ = std::move(why);
  uv_timer_start(
      end_timer_->Get(),
      [](uv_timer_t* t) noexcept {
        auto* self = static_cast<TtyApprover*>(UvHandle<uv_timer_t>::From(t)->Owner());
        self->End(self->end_reason_);
      },
      0, 0);
}

}  // namespace sandgate::supervisor
