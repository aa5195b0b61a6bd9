// The JSON-RPC approver: the transport (a reader thread for blocking inputs, a write queue that
// never blocks the loop), the request/response bookkeeping and the controller's requests. Over
// 600 lines because the transport and the protocol state share one lifetime and one loop;
// the pure parts (framing, codec) are in approvals/jsonrpc.cc and approvals/protocol.cc.
#include "supervisor/control/jsonrpc_approver.h"

#include <fcntl.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <exception>
#include <utility>
#include <variant>

#include "approvals/answer.h"
#include "approvals/controller_requests.h"
#include "approvals/protocol.h"

namespace sandgate::supervisor {
namespace {

using nlohmann::json;

constexpr std::size_t kReadChunk = std::size_t{64} << 10;
// Reads per readable event before going back to the loop, so that a chatty controller cannot
// starve the seccomp listener.
constexpr int kReadsPerWakeup = 16;
// ClassifyLine strips a trailing "\r" before measuring a line, so one more byte may arrive.
constexpr std::size_t kMaxRawLineBytes = approvals::kMaxLineBytes + 1;

// write(2) to a pipe whose reader is gone raises SIGPIPE, which would kill sandgate unless the
// process ignores it. Keep it blocked in this thread for the write and swallow the one we caused,
// so the error arrives as EPIPE whatever the process-wide disposition is. (Sockets use
// MSG_NOSIGNAL instead.)
ssize_t WriteWithoutSigpipe(int fd, const iovec* parts, int count) noexcept {
  sigset_t sigpipe;
  sigemptyset(&sigpipe);
  sigaddset(&sigpipe, SIGPIPE);
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &sigpipe, &old);
  const ssize_t n = ::writev(fd, parts, count);
  const int saved = errno;
  if (n < 0 && saved == EPIPE && !was_pending) {
    const timespec zero{};
    while (sigtimedwait(&sigpipe, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = saved;
  return n;
}

base::Result<base::UniqueFd> Duplicate(int fd, const char* what) {
  const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) {
    return base::ErrnoError(std::string("fcntl(") + what + " fd=" + std::to_string(fd) +
                            ", F_DUPFD_CLOEXEC)");
  }
  return base::UniqueFd(copy);
}

// Sets O_NONBLOCK and returns the flags to restore later, or nullopt if nothing was changed.
std::optional<int> SetNonBlocking(int fd) noexcept {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return std::nullopt;
  if ((flags & O_NONBLOCK) != 0) return std::nullopt;
  if (::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    spdlog::warn("fcntl(fd={}, F_SETFL, O_NONBLOCK): {}", fd, std::strerror(errno));
    return std::nullopt;
  }
  return flags;
}

void RestoreFlags(const base::UniqueFd& fd, std::optional<int>& flags) noexcept {
  if (fd.Valid() && flags) (void)::fcntl(fd.Get(), F_SETFL, *flags);
  flags.reset();
}

template <typename T>
void CloseHandle(UvHandle<T>*& handle) noexcept {
  if (handle != nullptr) handle->Close();
  handle = nullptr;
}

}  // namespace

JsonRpcApprover::JsonRpcApprover(uv_loop_t* loop, int input_fd, int output_fd, Callbacks callbacks,
                                 std::size_t max_queued_bytes)
    : loop_(loop),
      input_fd_arg_(input_fd),
      output_fd_arg_(output_fd),
      callbacks_(std::move(callbacks)),
      max_queued_bytes_(max_queued_bytes) {}

JsonRpcApprover::~JsonRpcApprover() { Close(); }

base::Status JsonRpcApprover::Start() {
  if (started_ || closed_) return base::Error{EALREADY, "JsonRpcApprover::Start"};
  started_ = true;
  auto input = Duplicate(input_fd_arg_, "input");
  if (!input) return input.Err();
  auto output = Duplicate(output_fd_arg_, "output");
  if (!output) return output.Err();
  input_ = std::move(input).Value();
  output_ = std::move(output).Value();
  read_buffer_.resize(kReadChunk);

  hangup_timer_ = UvHandle<uv_timer_t>::Create();
  if (const int rc = uv_timer_init(loop_, hangup_timer_->Get()); rc != 0) {
    CloseHandle(hangup_timer_);
    return base::Error{-rc, "uv_timer_init"};
  }
  hangup_timer_->Bind(this);

  // Output. uv_poll_init itself switches the fd to non-blocking, so remember the flags first.
  struct stat st {};
  if (::fstat(output_.Get(), &st) != 0) {
    return base::ErrnoError("fstat(output fd=" + std::to_string(output_.Get()) + ")");
  }
  output_is_socket_ = S_ISSOCK(st.st_mode);
  output_flags_ = SetNonBlocking(output_.Get());
  output_poll_ = UvHandle<uv_poll_t>::Create();
  if (const int rc = uv_poll_init(loop_, output_poll_->Get(), output_.Get()); rc == 0) {
    output_poll_->Bind(this);
    output_pollable_ = true;
  } else if (rc == UV_EPERM) {
    // A regular file or /dev/null: epoll refuses it, and writing to it does not block.
    CloseHandle(output_poll_);
    RestoreFlags(output_, output_flags_);
  } else {
    CloseHandle(output_poll_);
    return base::Error{-rc, "uv_poll_init(output fd=" + std::to_string(output_.Get()) + ")"};
  }

  flush_prepare_ = UvHandle<uv_prepare_t>::Create();
  if (const int rc = uv_prepare_init(loop_, flush_prepare_->Get()); rc != 0) {
    CloseHandle(flush_prepare_);
    return base::Error{-rc, "uv_prepare_init"};
  }
  flush_prepare_->Bind(this);

  // Input.
  input_flags_ = SetNonBlocking(input_.Get());
  input_poll_ = UvHandle<uv_poll_t>::Create();
  if (const int rc = uv_poll_init(loop_, input_poll_->Get(), input_.Get()); rc == 0) {
    input_poll_->Bind(this);
    const int start_rc =
        uv_poll_start(input_poll_->Get(), UV_READABLE, [](uv_poll_t* h, int status, int) noexcept {
          auto* self = static_cast<JsonRpcApprover*>(UvHandle<uv_poll_t>::From(h)->Owner());
          if (status < 0) {
            spdlog::warn("controller input: poll: {}", uv_strerror(status));
            self->OnInputEnd();
            return;
          }
          self->OnReadable();
        });
    if (start_rc != 0) return base::Error{-start_rc, "uv_poll_start(controller input)"};
  } else if (rc == UV_EPERM) {
    // A regular file: read it a chunk per loop iteration until EOF.
    CloseHandle(input_poll_);
    RestoreFlags(input_, input_flags_);
    input_idle_ = UvHandle<uv_idle_t>::Create();
    if (const int idle_rc = uv_idle_init(loop_, input_idle_->Get()); idle_rc != 0) {
      CloseHandle(input_idle_);
      return base::Error{-idle_rc, "uv_idle_init"};
    }
    input_idle_->Bind(this);
    uv_idle_start(input_idle_->Get(), [](uv_idle_t* h) noexcept {
      auto* self = static_cast<JsonRpcApprover*>(UvHandle<uv_idle_t>::From(h)->Owner());
      (void)self->ReadChunk();
    });
  } else {
    CloseHandle(input_poll_);
    return base::Error{-rc, "uv_poll_init(input fd=" + std::to_string(input_.Get()) + ")"};
  }

  // Anything sent before Start.
  if (!queue_.empty()) ScheduleFlush();
  return base::Ok{};
}

// ---- approver interface --------------------------------------------------------------------

void JsonRpcApprover::Ask(const approvals::ApprovalRequest& request, Reply reply) {
  if (closed_ || hung_up_ || output_failed_) {
    spdlog::debug("approval {}: no controller, declined", request.approval_id);
    reply(approvals::answer::Decline{}, approvals::DecisionSource::kCancelled);
    return;
  }
  const std::int64_t id = next_id_++;
  std::string line = approvals::ToLine(approvals::MakeRequest(
      id, approvals::kMethodRequestApproval, approvals::ApprovalRequestParams(request)));
  outstanding_.emplace(id, Outstanding{request.approval_id, std::move(reply)});
  Send(std::move(line), Priority::kEssential);
}

void JsonRpcApprover::Cancel(const std::string& approval_id, approvals::CancelReason reason) {
  bool found = false;
  for (auto it = outstanding_.begin(); it != outstanding_.end();) {
    if (it->second.approval_id == approval_id) {
      it = outstanding_.erase(it);
      found = true;
    } else {
      ++it;
    }
  }
  if (!found) {
    spdlog::debug("approval {}: cancelled, but it is not outstanding", approval_id);
    return;
  }
  Send(approvals::ToLine(
           approvals::MakeNotification(approvals::kMethodApprovalCancelled,
                                       approvals::ApprovalCancelledParams(approval_id, reason))),
       Priority::kEssential);  // one per request, like the request itself
}

void JsonRpcApprover::Notify(const std::string& method, const nlohmann::json& params) {
  const Priority priority = method == approvals::kMethodProcessOutput ? Priority::kProcessOutput
                                                                      : Priority::kNotification;
  Send(approvals::ToLine(approvals::MakeNotification(method, params)), priority);
}

void JsonRpcApprover::WhenFlushed(std::function<void()> done) {
  if (closed_ || !done) return;
  if (queue_.empty() || output_failed_) {
    done();
    return;
  }
  flushed_callbacks_.push_back(std::move(done));
}

void JsonRpcApprover::Close() noexcept {
  if (closed_) return;
  closed_ = true;
  StopInput();
  CloseHandle(output_poll_);
  output_poll_active_ = false;
  CloseHandle(hangup_timer_);
  // What was sent but not yet written gets one try without waiting, as each message used to
  // get when it was sent.
  if (started_ && !output_failed_ && output_.Valid() && !queue_.empty()) (void)WriteQueued();
  CloseHandle(flush_prepare_);
  flush_scheduled_ = false;
  RestoreFlags(output_, output_flags_);
  output_.Reset();
  queue_.clear();
  queued_bytes_ = 0;
  front_written_ = 0;
  outstanding_.clear();
  flushed_callbacks_.clear();
  line_.clear();
}

// ---- input ---------------------------------------------------------------------------------

void JsonRpcApprover::OnReadable() noexcept {
  for (int i = 0; i < kReadsPerWakeup; ++i) {
    if (ReadChunk() == Continue::kNo) return;
  }
}

JsonRpcApprover::Continue JsonRpcApprover::ReadChunk() noexcept {
  if (closed_ || input_done_) return Continue::kNo;
  const ssize_t n = ::read(input_.Get(), read_buffer_.data(), read_buffer_.size());
  if (n > 0) return Consume(std::string_view(read_buffer_.data(), static_cast<std::size_t>(n)));
  if (n == 0) {
    OnInputEnd();
    return Continue::kNo;
  }
  if (errno == EINTR) return Continue::kYes;
  if (errno == EAGAIN || errno == EWOULDBLOCK) return Continue::kNo;
  spdlog::warn("read(controller input fd={}): {}", input_.Get(), std::strerror(errno));
  OnInputEnd();
  return Continue::kNo;
}

// Splits input into lines without ever holding more than one line's limit: an oversized line is
// answered with -32600 as soon as it crosses the limit, and the rest of it is skipped.
JsonRpcApprover::Continue JsonRpcApprover::Consume(std::string_view data) noexcept {
  while (!data.empty()) {
    const std::size_t newline = data.find('\n');
    const bool complete = newline != std::string_view::npos;
    const std::string_view piece = data.substr(0, complete ? newline : data.size());
    data.remove_prefix(complete ? newline + 1 : data.size());
    if (discarding_) {
      if (complete) discarding_ = false;
      continue;
    }
    if (line_.size() + piece.size() > kMaxRawLineBytes) {
      spdlog::info("controller sent a line over {} bytes; skipped", approvals::kMaxLineBytes);
      line_.clear();
      discarding_ = !complete;
      Send(approvals::OversizedLineReply().line, Priority::kEssential);
      continue;
    }
    try {
      line_.append(piece);
    } catch (const std::exception& e) {
      spdlog::error("controller input: {}", e.what());
      line_.clear();
      discarding_ = !complete;
      continue;
    }
    if (!complete) continue;
    const std::string line = std::move(line_);
    line_.clear();
    if (HandleLine(line) == Continue::kNo) return Continue::kNo;
  }
  return Continue::kYes;
}

JsonRpcApprover::Continue JsonRpcApprover::HandleLine(std::string_view line) noexcept {
  const std::weak_ptr<int> alive = alive_;
  try {
    approvals::IncomingMessage message =
        approvals::ClassifyLine(line, approvals::kControllerMethods);
    if (auto* reply = std::get_if<approvals::RpcErrorReply>(&message)) {
      spdlog::info("controller sent a bad line: error {}", reply->code);
      Send(std::move(reply->line), Priority::kEssential);
    } else if (auto* ignored = std::get_if<approvals::RpcIgnored>(&message)) {
      spdlog::debug("controller line ignored: {}", ignored->reason);
    } else if (auto* response = std::get_if<approvals::RpcResponse>(&message)) {
      OnResponse(*response);
    } else if (auto* request = std::get_if<approvals::RpcRequest>(&message)) {
      OnRequest(&request->id, request->method, request->params);
    } else if (auto* notification = std::get_if<approvals::RpcNotification>(&message)) {
      OnRequest(nullptr, notification->method, notification->params);
    }
  } catch (const std::exception& e) {
    // Only allocation can fail above; skip the line rather than stop reading.
    spdlog::error("controller line: {}", e.what());
  }
  if (alive.expired() || closed_ || input_done_) return Continue::kNo;
  return Continue::kYes;
}

void JsonRpcApprover::OnResponse(const approvals::RpcResponse& response) noexcept {
  auto it = response.id.is_number_integer() ? outstanding_.find(response.id.get<std::int64_t>())
                                            : outstanding_.end();
  if (it == outstanding_.end()) {
    spdlog::info("ignoring a response to id {}: no such request outstanding", response.id.dump());
    return;
  }
  Outstanding entry = std::move(it->second);
  outstanding_.erase(it);
  std::string why;
  const approvals::Answer answer = approvals::AnswerFromResponse(response, &why);
  if (!why.empty()) {
    spdlog::info("approval {}: declined: {}", entry.approval_id, why);
  } else {
    spdlog::debug("approval {}: {}", entry.approval_id, approvals::AnswerName(answer));
  }
  try {
    entry.reply(answer, approvals::DecisionSource::kUser);
  } catch (const std::exception& e) {
    spdlog::error("approval {}: reply: {}", entry.approval_id, e.what());
  }
}

// `id` is null for a notification: act on it, answer nothing.
void JsonRpcApprover::OnRequest(const json* id, const std::string& method,
                                const json& params) noexcept {
  const std::weak_ptr<int> alive = alive_;
  const auto unavailable = [&] {
    SendError(id, approvals::kMethodNotFound, method + " is not available in this mode");
  };
  try {
    if (method == approvals::kMethodTerminate) {
      auto parsed = approvals::ParseTerminateParams(params);
      if (auto* problem = std::get_if<approvals::Problem>(&parsed)) {
        return SendError(id, approvals::kInvalidParams, problem->what);
      }
      if (!callbacks_.terminate) return unavailable();
      // Answer first: the controller learns the request was taken before it sees the results.
      SendResult(id, json::object());
      try {
        callbacks_.terminate(std::get<approvals::TerminateRequest>(parsed).signal);
      } catch (const std::exception& e) {
        spdlog::error("sandbox/terminate: {}", e.what());  // answered already: log only
      }
      return;
    }
    if (method == approvals::kMethodPolicyUpdate) {
      auto parsed = approvals::ParsePolicyUpdateParams(params);
      if (auto* problem = std::get_if<approvals::Problem>(&parsed)) {
        return SendError(id, approvals::kInvalidParams, problem->what);
      }
      if (!callbacks_.policy_update) return unavailable();
      const std::optional<std::string> error =
          callbacks_.policy_update(std::get<approvals::RuleLists>(std::move(parsed)));
      if (alive.expired() || closed_) return;
      if (error) return SendError(id, approvals::kInvalidParams, *error);
      return SendResult(id, json::object());
    }
    if (method == approvals::kMethodWriteStdin) {
      auto parsed = approvals::ParseWriteStdinParams(params);
      if (auto* problem = std::get_if<approvals::Problem>(&parsed)) {
        return SendError(id, approvals::kInvalidParams, problem->what);
      }
      if (!callbacks_.write_stdin) return unavailable();
      auto& request = std::get<approvals::WriteStdinRequest>(parsed);
      callbacks_.write_stdin(std::move(request.data), request.close);
      if (alive.expired() || closed_) return;
      return SendResult(id, json::object());
    }
    // ClassifyLine only lets known methods through.
    SendError(id, approvals::kMethodNotFound, method);
  } catch (const std::exception& e) {
    spdlog::error("controller request {}: {}", method, e.what());
    if (alive.expired() || closed_) return;
    SendError(id, approvals::kInternalError, e.what());
  }
}

void JsonRpcApprover::OnInputEnd() noexcept {
  if (input_done_ || closed_) return;
  input_done_ = true;
  const std::weak_ptr<int> alive = alive_;
  // A last line without its newline still counts.
  if (!discarding_ && !line_.empty()) {
    const std::string last = std::move(line_);
    line_.clear();
    (void)HandleLine(last);
    if (alive.expired() || closed_) return;
  }
  StopInput();
  HangUp();
}

void JsonRpcApprover::StopInput() noexcept {
  input_done_ = true;
  CloseHandle(input_poll_);
  CloseHandle(input_idle_);
  RestoreFlags(input_, input_flags_);
  input_.Reset();
}

void JsonRpcApprover::HangUp() noexcept {
  if (hung_up_ || closed_) return;
  hung_up_ = true;
  spdlog::info("the controller hung up ({} approval requests outstanding)", outstanding_.size());
  if (!callbacks_.hangup) return;
  try {
    callbacks_.hangup();
  } catch (const std::exception& e) {
    spdlog::error("hangup callback: {}", e.what());
  }
}

// ---- output --------------------------------------------------------------------------------

void JsonRpcApprover::SendResult(const json* id, json result) noexcept {
  if (id == nullptr) return;  // a notification gets no answer
  try {
    Send(approvals::ToLine(approvals::MakeResultResponse(*id, std::move(result))),
         Priority::kEssential);
  } catch (const std::exception& e) {
    spdlog::error("controller response: {}", e.what());
  }
}

void JsonRpcApprover::SendError(const json* id, int code, std::string_view detail) noexcept {
  if (id == nullptr) {
    spdlog::info("controller notification not carried out: error {} {}", code, detail);
    return;
  }
  try {
    Send(approvals::ErrorResponseLine(*id, code, detail), Priority::kEssential);
  } catch (const std::exception& e) {
    spdlog::error("controller response: {}", e.what());
  }
}

void JsonRpcApprover::Send(std::string line, Priority priority) noexcept {
  if (closed_ || output_failed_) return;
  try {
    line.push_back('\n');
    if (queue_.empty() && started_) {
      // Written just before the loop next waits, together with whatever else this iteration
      // sends: one write for a burst of requests and decisions instead of one per line.
      queued_bytes_ += line.size();
      queue_.push_back({std::move(line), priority});
      return ScheduleFlush();
    }
    // Over the cap: new process/output is dropped (what was queued stays a contiguous run);
    // anything else first makes room by dropping queued process/output.
    if (queued_bytes_ + line.size() > max_queued_bytes_ &&
        (priority == Priority::kProcessOutput || !MakeRoom(line.size()))) {
      if (priority != Priority::kEssential) {
        if (dropped_messages_ == 0) {
          spdlog::warn("the controller is not reading: over {} bytes queued, dropping messages",
                       max_queued_bytes_);
        }
        ++dropped_messages_;
        dropped_bytes_ += line.size();
        return;
      }
      // Requests and responses are kept regardless: there are few of them, and dropping one
      // would leave a request unanswered.
    }
    queued_bytes_ += line.size();
    queue_.push_back({std::move(line), priority});
  } catch (const std::exception& e) {
    spdlog::error("controller output: {}", e.what());
  }
}

// Drops queued process/output, oldest first, until `incoming` more bytes fit. The front entry
// stays when it is partly written (the controller must not see half a line).
bool JsonRpcApprover::MakeRoom(std::size_t incoming) noexcept {
  auto it = queue_.begin();
  if (it != queue_.end() && front_written_ > 0) ++it;
  while (it != queue_.end() && queued_bytes_ + incoming > max_queued_bytes_) {
    if (it->priority != Priority::kProcessOutput) {
      ++it;
      continue;
    }
    if (dropped_messages_ == 0) {
      spdlog::warn("the controller is not reading: over {} bytes queued, dropping process/output",
                   max_queued_bytes_);
    }
    ++dropped_messages_;
    dropped_bytes_ += it->bytes.size();
    queued_bytes_ -= it->bytes.size();
    it = queue_.erase(it);
  }
  return queued_bytes_ + incoming <= max_queued_bytes_;
}

void JsonRpcApprover::StartOutputPoll() noexcept {
  if (output_poll_active_ || output_poll_ == nullptr) return;
  const int rc =
      uv_poll_start(output_poll_->Get(), UV_WRITABLE, [](uv_poll_t* h, int status, int) noexcept {
        auto* self = static_cast<JsonRpcApprover*>(UvHandle<uv_poll_t>::From(h)->Owner());
        if (status < 0) return self->OnOutputFailed(-status);
        self->OnWritable();
      });
  if (rc != 0) return OnOutputFailed(-rc);
  output_poll_active_ = true;
}

void JsonRpcApprover::ScheduleFlush() noexcept {
  // A regular file (a transcript) never blocks and has no poll: written at once.
  if (!output_pollable_) return OnWritable();
  if (flush_scheduled_ || output_poll_active_ || flush_prepare_ == nullptr) return;
  const int rc = uv_prepare_start(flush_prepare_->Get(), [](uv_prepare_t* h) noexcept {
    auto* self = static_cast<JsonRpcApprover*>(UvHandle<uv_prepare_t>::From(h)->Owner());
    uv_prepare_stop(h);
    self->flush_scheduled_ = false;
    self->OnWritable();
  });
  if (rc != 0) return OnOutputFailed(-rc);
  flush_scheduled_ = true;
}

std::ptrdiff_t JsonRpcApprover::WriteQueued() noexcept {
  constexpr int kMaxParts = 64;
  iovec parts[kMaxParts];
  int count = 0;
  std::size_t offset = front_written_;
  for (const Outgoing& entry : queue_) {
    if (count == kMaxParts) break;
    parts[count].iov_base = const_cast<char*>(entry.bytes.data() + offset);
    parts[count].iov_len = entry.bytes.size() - offset;
    ++count;
    offset = 0;
  }
  for (;;) {
    ssize_t n;
    if (output_is_socket_) {
      msghdr message{};
      message.msg_iov = parts;
      message.msg_iovlen = static_cast<std::size_t>(count);
      n = ::sendmsg(output_.Get(), &message, MSG_NOSIGNAL);
    } else {
      n = WriteWithoutSigpipe(output_.Get(), parts, count);
    }
    if (n > 0) return static_cast<std::ptrdiff_t>(n);
    const int error = n < 0 ? errno : EIO;
    if (error == EINTR) continue;
    if ((error == EAGAIN || error == EWOULDBLOCK) && output_pollable_) return 0;
    spdlog::warn("write(controller output fd={}, {} bytes queued): {}", output_.Get(),
                 queued_bytes_, std::strerror(error));
    OnOutputFailed(error);
    return -1;
  }
}

void JsonRpcApprover::OnWritable() noexcept {
  while (!queue_.empty()) {
    const std::ptrdiff_t written = WriteQueued();
    if (written < 0) return;
    if (written == 0) {
      StartOutputPoll();  // full: wait until the controller reads
      return;
    }
    // Drop what went out: whole lines, then part of the next.
    auto left = static_cast<std::size_t>(written);
    queued_bytes_ -= left;
    while (left > 0) {
      Outgoing& front = queue_.front();
      const std::size_t rest = front.bytes.size() - front_written_;
      if (left < rest) {
        front_written_ += left;
        break;
      }
      left -= rest;
      queue_.pop_front();
      front_written_ = 0;
    }
  }
  if (output_poll_active_) {
    uv_poll_stop(output_poll_->Get());
    output_poll_active_ = false;
  }
  if (dropped_messages_ > 0) {
    spdlog::warn("the controller caught up; {} messages ({} bytes) were dropped", dropped_messages_,
                 dropped_bytes_);
    dropped_messages_ = 0;
    dropped_bytes_ = 0;
  }
  RunFlushedCallbacks();
}

// Can happen inside Ask/Notify: what follows (flushed callbacks, hangup) is deferred to the loop
// so that no caller is re-entered.
void JsonRpcApprover::OnOutputFailed(int error) noexcept {
  if (output_failed_) return;
  output_failed_ = true;
  spdlog::warn("cannot write to the controller ({}); treating it as gone", std::strerror(error));
  queue_.clear();
  queued_bytes_ = 0;
  front_written_ = 0;
  if (output_poll_active_) {
    uv_poll_stop(output_poll_->Get());
    output_poll_active_ = false;
  }
  if (hangup_timer_ == nullptr) return;
  uv_timer_start(
      hangup_timer_->Get(),
      [](uv_timer_t* t) noexcept {
        auto* self = static_cast<JsonRpcApprover*>(UvHandle<uv_timer_t>::From(t)->Owner());
        const std::weak_ptr<int> alive = self->alive_;
        self->RunFlushedCallbacks();
        if (alive.expired() || self->closed_) return;
        self->HangUp();
      },
      0, 0);
}

void JsonRpcApprover::RunFlushedCallbacks() noexcept {
  if (flushed_callbacks_.empty()) return;
  const std::weak_ptr<int> alive = alive_;
  auto callbacks = std::move(flushed_callbacks_);
  flushed_callbacks_.clear();
  for (auto& callback : callbacks) {
    try {
      callback();
    } catch (const std::exception& e) {
      spdlog::error("flushed callback: {}", e.what());
    }
    if (alive.expired()) return;
  }
}

}  // namespace sandgate::supervisor
