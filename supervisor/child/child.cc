#include "supervisor/child/child.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstring>

#include "pipelines/handoff.h"
#include "supervisor/child/spawn.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace sandgate::supervisor {
namespace {

constexpr size_t kStderrTailBytes = 4096;
constexpr size_t kMaxHeldStderrBytes = 64 * 1024;
constexpr std::array kForwardedSignals = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
// How long a sandbox that was ended during its setup may take to reach "ready" before bwrap is
// killed anyway (a setup stuck for good).
constexpr std::chrono::milliseconds kSetupGrace{5000};

void WriteAll(int fd, const char* data, size_t size) noexcept {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    size -= static_cast<size_t>(n);
  }
}

int PidfdSendSignal(int pidfd, int sig) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

template <typename T>
SandboxChild* OwnerOf(T* handle) {
  return static_cast<SandboxChild*>(UvHandle<T>::From(handle)->Owner());
}

}  // namespace

base::Status SandboxChild::Start(const std::filesystem::path& bwrap,
                                 const std::vector<std::string>& args,
                                 const ProgramSource& seccomp_program,
                                 FinishedCallback on_finished, ReadyCallback on_ready,
                                 ChildStdio stdio) {
  on_finished_ = std::move(on_finished);
  caller_stderr_ = stdio.err;
  on_ready_ = std::move(on_ready);
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return base::ErrnoError("socketpair(handoff)");
  }
  handoff_.Reset(pair[0]);
  base::UniqueFd inner_end(pair[1]);
  int one = 1;
  // The kernel then stamps each message with the sender's pid, translated into our pid namespace.
  if (::setsockopt(handoff_.Get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0) {
    return base::ErrnoError("setsockopt(SO_PASSCRED)");
  }
  if (::fcntl(handoff_.Get(), F_SETFL, O_NONBLOCK) != 0) return base::ErrnoError("fcntl(O_NONBLOCK)");

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return base::ErrnoError("pipe2(stderr)");
  base::UniqueFd stderr_read(pipe_fds[0]);
  base::UniqueFd stderr_write(pipe_fds[1]);

  auto spawned =
      SpawnBwrap(bwrap, args, {stdio.in, stdio.out, stderr_write.Get(), inner_end.Get(), stdio.err});
  if (!spawned.Ok()) return spawned.Err();
  bwrap_pidfd_ = std::move(spawned->pidfd);
  spdlog::debug("bwrap started, pid {}", spawned->pid);
  // Compiled now, while bwrap builds the sandbox (milliseconds before the inner stage reads it),
  // rather than before the spawn, on the start's critical path.
  if (auto sent = SendProgram(seccomp_program); !sent) return sent;

  exit_poll_ = UvHandle<uv_poll_t>::Create();
  if (int rc = uv_poll_init(loop_, exit_poll_->Get(), bwrap_pidfd_.Get()); rc != 0) {
    return base::Error{-rc, "uv_poll_init(pidfd)"};
  }
  exit_poll_->Bind(this);
  uv_poll_start(exit_poll_->Get(), UV_READABLE,
                [](uv_poll_t* h, int, int) { OwnerOf(h)->OnBwrapExited(); });

  handoff_poll_ = UvHandle<uv_poll_t>::Create();
  if (int rc = uv_poll_init(loop_, handoff_poll_->Get(), handoff_.Get()); rc != 0) {
    return base::Error{-rc, "uv_poll_init(handoff)"};
  }
  handoff_poll_->Bind(this);
  uv_poll_start(handoff_poll_->Get(), UV_READABLE,
                [](uv_poll_t* h, int, int) { OwnerOf(h)->OnHandoffReadable(); });

  stderr_pipe_ = UvHandle<uv_pipe_t>::Create();
  if (int rc = uv_pipe_init(loop_, stderr_pipe_->Get(), 0); rc != 0) {
    return base::Error{-rc, "uv_pipe_init"};
  }
  stderr_pipe_->Bind(this);
  if (int rc = uv_pipe_open(stderr_pipe_->Get(), stderr_read.Get()); rc != 0) {
    return base::Error{-rc, "uv_pipe_open"};
  }
  (void)stderr_read.Release();  // the pipe handle owns it now
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(stderr_pipe_->Get()),
      [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
        buf->base = new (std::nothrow) char[suggested];
        buf->len = buf->base ? suggested : 0;
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        OwnerOf(reinterpret_cast<uv_pipe_t*>(s))->OnStderrData(nread, buf);
        delete[] buf->base;
      });

  for (int sig : kForwardedSignals) {
    auto* handle = UvHandle<uv_signal_t>::Create();
    signals_.push_back(handle);
    if (int rc = uv_signal_init(loop_, handle->Get()); rc != 0) return base::Error{-rc, "uv_signal_init"};
    handle->Bind(this);
    uv_signal_start(handle->Get(), [](uv_signal_t* h, int signum) { OwnerOf(h)->ForwardSignal(signum); },
                    sig);
  }
  return base::Ok{};
}

base::Status SandboxChild::SendProgram(const ProgramSource& seccomp_program) {
  auto program = seccomp_program();
  if (!program.Ok()) return program.Err();
  // One datagram, read by the inner stage first thing; an empty socket takes it whole (at most
  // 32 KiB against a far larger send buffer). No SIGPIPE: our copy of the inner end is still
  // open here, but a failed write must be an error, never the end of the supervisor.
  char tag = pipelines::kHandoffProgram;
  iovec parts[2] = {{&tag, 1},
                    {program->data(), program->size() * sizeof(sock_filter)}};
  msghdr message{};
  message.msg_iov = parts;
  message.msg_iovlen = 2;
  const auto expected = static_cast<ssize_t>(1 + parts[1].iov_len);
  if (ssize_t n = ::sendmsg(handoff_.Get(), &message, MSG_NOSIGNAL); n != expected) {
    return n < 0 ? base::ErrnoError("sendmsg(handoff, seccomp program)")
                 : base::Error{EMSGSIZE, "seccomp program not sent whole"};
  }
  return base::Ok{};
}

void SandboxChild::ForwardSignal(int sig) noexcept {
  if (command_pidfd_) {
    spdlog::debug("forwarding signal {} to the command", sig);
    if (PidfdSendSignal(command_pidfd_.Get(), sig) == 0 || errno == ESRCH) return;
  }
  if (!bwrap_pidfd_ || exited_) return;
  // Every forwarded signal ends a sandbox whose command has not started: it never starts.
  if (!outcome_.reached_inner) return StopBeforeStart(sig);
  spdlog::debug("forwarding signal {} to bwrap", sig);
  PidfdSendSignal(bwrap_pidfd_.Get(), sig);
}

void SandboxChild::Kill() noexcept {
  if (!bwrap_pidfd_ || exited_) return;
  if (!outcome_.reached_inner) return StopBeforeStart(SIGKILL);
  PidfdSendSignal(bwrap_pidfd_.Get(), SIGKILL);
}

// bwrap killed while it sets up may leave its half-made sandbox behind (its child sets its
// parent-death signal only after the clone), so the sandbox is ended at "ready" instead, before
// the command is let go. A setup that never gets there is killed after kSetupGrace all the same.
void SandboxChild::StopBeforeStart(int sig) noexcept {
  if (outcome_.stopped_before_start == 0) outcome_.stopped_before_start = sig;
  if (setup_timer_ != nullptr) return;
  spdlog::debug("signal {} before the sandbox is ready: it ends at ready", sig);
  setup_timer_ = UvHandle<uv_timer_t>::Create();
  uv_timer_init(loop_, setup_timer_->Get());
  setup_timer_->Bind(this);
  uv_timer_start(
      setup_timer_->Get(),
      [](uv_timer_t* t) {
        auto* self = OwnerOf(t);
        if (!self->exited_ && self->bwrap_pidfd_) PidfdSendSignal(self->bwrap_pidfd_.Get(), SIGKILL);
      },
      kSetupGrace.count(), 0);
}

void SandboxChild::OnBwrapExited() noexcept {
  siginfo_t info{};
  if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(bwrap_pidfd_.Get()), &info,
               WEXITED | WNOHANG) != 0 ||
      info.si_pid == 0) {
    return;  // spurious wakeup
  }
  if (info.si_code == CLD_EXITED) {
    outcome_.exit_code = info.si_status;
  } else {
    outcome_.term_signal = info.si_status;
  }
  spdlog::debug("bwrap exited: code {} signal {}", outcome_.exit_code, outcome_.term_signal);
  exited_ = true;
  exit_poll_->Close();
  exit_poll_ = nullptr;
  MaybeFinish();
}

void SandboxChild::OnHandoffReadable() noexcept { DrainHandoff(); }

void SandboxChild::DrainHandoff() noexcept {
  while (handoff_) {
    char data[pipelines::kHandoffMaxMessage];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    iovec iov{data, sizeof data};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(handoff_.Get(), &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {  // EOF: the inner stage exec'd or died
      if (handoff_poll_) handoff_poll_->Close();
      handoff_poll_ = nullptr;
      handoff_.Reset();
      return;
    }
    std::string_view message(data, static_cast<size_t>(n));
    if (message[0] == pipelines::kHandoffFailed) {
      outcome_.inner_failure = std::string(message.substr(1));
      continue;
    }
    if (message[0] != pipelines::kHandoffReady) {
      spdlog::warn("unexpected handoff message from the inner stage ignored");
      continue;
    }
    pid_t pid = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred{};
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        pid = cred.pid;
      }
    }
    OnReady(message.substr(1), pid);
  }
}

void SandboxChild::OnReady(std::string_view listener_fd, pid_t pid) noexcept {
  outcome_.reached_inner = true;
  WriteAll(caller_stderr_, held_stderr_.data(), held_stderr_.size());
  held_stderr_.clear();
  command_pid_ = pid;
  // The inner stage waits for our answer, so `pid` is alive and still the inner stage.
  if (pid > 0) command_pidfd_.Reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!command_pidfd_) {
    int err = errno;
    if (!listener_fd.empty()) {
      return Abort(std::string("pidfd_open(inner stage): ") + std::strerror(err));
    }
    spdlog::warn("pidfd_open(command pid {}): {}", pid, std::strerror(err));
  }
  base::UniqueFd listener;
  if (!listener_fd.empty()) {
    int remote = -1;
    auto [end, ec] = std::from_chars(listener_fd.data(), listener_fd.data() + listener_fd.size(), remote);
    if (ec != std::errc() || end != listener_fd.data() + listener_fd.size()) {
      return Abort("malformed ready message from the inner stage");
    }
    listener.Reset(static_cast<int>(::syscall(SYS_pidfd_getfd, command_pidfd_.Get(), remote, 0)));
    if (!listener) {
      return Abort(std::string("pidfd_getfd(seccomp listener): ") + std::strerror(errno));
    }
  }
  if (outcome_.stopped_before_start != 0) {
    PidfdSendSignal(bwrap_pidfd_.Get(), SIGKILL);
    return;
  }
  if (on_ready_) {
    // No go-ahead on failure: the inner stage waits for it and dies with bwrap instead.
    if (auto ready = on_ready_(std::move(listener)); !ready) return Abort(ready.Err().Message());
  }
  const char ack = pipelines::kHandoffAck;
  WriteAll(handoff_.Get(), &ack, 1);
}

// Setup cannot be completed safely (e.g. without the listener nothing could be mediated): the
// command must not start. Killing bwrap takes the whole sandbox with it.
void SandboxChild::Abort(std::string reason) noexcept {
  outcome_.inner_failure = std::move(reason);
  if (bwrap_pidfd_ && !exited_) PidfdSendSignal(bwrap_pidfd_.Get(), SIGKILL);
}

void SandboxChild::OnStderrData(ssize_t nread, const uv_buf_t* buf) noexcept {
  if (nread < 0) {  // EOF or error: either way bwrap has nothing more to say
    stderr_pipe_->Close();
    stderr_pipe_ = nullptr;
    stderr_done_ = true;
    MaybeFinish();
    return;
  }
  const auto size = static_cast<size_t>(nread);
  if (outcome_.reached_inner) {
    WriteAll(caller_stderr_, buf->base, size);
  } else if (held_stderr_.size() < kMaxHeldStderrBytes) {
    held_stderr_.append(buf->base, std::min(size, kMaxHeldStderrBytes - held_stderr_.size()));
  }
  outcome_.bwrap_stderr_tail.append(buf->base, size);
  if (outcome_.bwrap_stderr_tail.size() > kStderrTailBytes) {
    outcome_.bwrap_stderr_tail.erase(0, outcome_.bwrap_stderr_tail.size() - kStderrTailBytes);
  }
}

void SandboxChild::MaybeFinish() noexcept {
  if (finished_ || !exited_ || !stderr_done_) return;
  finished_ = true;
  DrainHandoff();  // a failure report may still sit in the socket
  Close();
  auto callback = std::move(on_finished_);
  if (callback) callback(outcome_);
}

void SandboxChild::Close() noexcept {
  // Only on an abnormal path (Start failed half-way, owner gave up) is bwrap still running here;
  // it must not outlive its supervisor.
  if (bwrap_pidfd_ && !exited_) {
    PidfdSendSignal(bwrap_pidfd_.Get(), SIGKILL);
    siginfo_t info{};
    ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(bwrap_pidfd_.Get()), &info, WEXITED);
    exited_ = true;
  }
  if (exit_poll_) exit_poll_->Close();
  if (setup_timer_) setup_timer_->Close();
  if (handoff_poll_) handoff_poll_->Close();
  if (stderr_pipe_) stderr_pipe_->Close();
  for (auto* s : signals_) s->Close();
  exit_poll_ = nullptr;
  setup_timer_ = nullptr;
  handoff_poll_ = nullptr;
  stderr_pipe_ = nullptr;
  signals_.clear();
}

}  // namespace sandgate::supervisor
