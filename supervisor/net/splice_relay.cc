#include "supervisor/net/splice_relay.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <utility>

namespace sandgate::supervisor {
namespace {

// What one splice asks for; the kernel moves at most what the pipe holds (64 KiB by default).
constexpr std::size_t kSpliceBytes = std::size_t{1} << 20;
// Fills and drains of one direction per wakeup before going back to the loop, so that one fast
// stream cannot starve the others (the poll is level-triggered and fires again at once).
constexpr int kRoundsPerWakeup = 16;

// splice(2) into a socket cannot say MSG_NOSIGNAL: writing to a peer that is gone raises
// SIGPIPE, whose default action would end sandgate (the disposition must stay the default: the
// command inherits it). So SIGPIPE is blocked in this thread while a relay moves data, and one
// raised meanwhile (the splice then fails with EPIPE) is taken back, unless one was already
// pending before: that one belongs to someone else.
class SigpipeHeld {
 public:
  SigpipeHeld() noexcept {
    sigemptyset(&sigpipe_);
    sigaddset(&sigpipe_, SIGPIPE);
    sigemptyset(&old_);
    pthread_sigmask(SIG_BLOCK, &sigpipe_, &old_);
    // Unblocked, a pending SIGPIPE would have been delivered already: only ask when it was
    // blocked before.
    if (sigismember(&old_, SIGPIPE) == 1) {
      sigset_t pending;
      sigemptyset(&pending);
      was_pending_ = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
    }
  }
  ~SigpipeHeld() {
    if (raised_ && !was_pending_) {
      const timespec zero{};
      while (sigtimedwait(&sigpipe_, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeHeld(const SigpipeHeld&) = delete;
  SigpipeHeld& operator=(const SigpipeHeld&) = delete;

  void Raised() noexcept { raised_ = true; }

 private:
  sigset_t sigpipe_{};
  sigset_t old_{};
  bool was_pending_ = false;
  bool raised_ = false;
};

// The SigpipeHeld of the callback that is running (one at a time: loop thread only).
SigpipeHeld* current_sigpipe = nullptr;

ssize_t Splice(int in, int out, std::size_t bytes) noexcept {
  ssize_t n;
  do {
    n = ::splice(in, nullptr, out, nullptr, bytes, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EPIPE && current_sigpipe != nullptr) current_sigpipe->Raised();
  return n;
}

}  // namespace

void CloseWithReset(base::UniqueFd socket) noexcept {
  if (!socket) return;
  const linger abort{1, 0};
  if (::setsockopt(socket.Get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort) != 0) {
    spdlog::debug("setsockopt(fd={}, SO_LINGER, {{1, 0}}): {}", socket.Get(), std::strerror(errno));
  }
}

SpliceRelay::SpliceRelay(uv_loop_t* loop, base::UniqueFd a, base::UniqueFd b, Ended ended)
    : loop_(loop), ended_(std::move(ended)) {
  sides_[0].socket = std::move(a);
  sides_[1].socket = std::move(b);
}

base::Status SpliceRelay::Start() {
  for (auto& direction : directions_) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
      auto error = base::ErrnoError("pipe2(O_NONBLOCK)");
      Close();
      return error;
    }
    direction.pipe_read.Reset(fds[0]);
    direction.pipe_write.Reset(fds[1]);
  }
  for (auto& side : sides_) {
    // The relay writes whatever arrived at once; Nagle's delay on top of the peers' own would
    // only hold small messages (a dev server's live-reload pings) back.
    const int one = 1;
    ::setsockopt(side.socket.Get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    side.poll = UvHandle<uv_poll_t>::Create();
    if (int rc = uv_poll_init_socket(loop_, side.poll->Get(), side.socket.Get()); rc != 0) {
      Close();
      return base::Error{-rc, "uv_poll_init_socket"};
    }
    side.poll->Bind(this);
  }
  if (!Watch()) {
    Close();
    return base::Error{EINVAL, "uv_poll_start"};
  }
  return base::Ok{};
}

void SpliceRelay::OnPoll(uv_poll_t* handle, int status, int events) noexcept {
  auto* self = static_cast<SpliceRelay*>(UvHandle<uv_poll_t>::From(handle)->Owner());
  const int side = handle == self->sides_[0].poll->Get() ? 0 : 1;
  // libuv reports POLLERR as a status (and has stopped the poll): a reset, or an error.
  if (status < 0) return self->Finish(Outcome::kReset);
  bool ok = true;
  {
    SigpipeHeld held;
    current_sigpipe = &held;
    if ((events & UV_READABLE) != 0) ok = self->Pump(side);
    if (ok && (events & UV_WRITABLE) != 0) ok = self->Pump(1 - side);
    current_sigpipe = nullptr;
  }
  if (!ok) return self->Finish(Outcome::kReset);
  if (self->directions_[0].shut && self->directions_[1].shut) {
    return self->Finish(Outcome::kClosed);
  }
  if (!self->Watch()) self->Finish(Outcome::kReset);
}

bool SpliceRelay::Pump(int from) noexcept {
  Direction& d = directions_[from];
  const int in = sides_[from].socket.Get();
  const int out = sides_[1 - from].socket.Get();
  for (int round = 0; round < kRoundsPerWakeup; ++round) {
    if (d.buffered == 0) {
      if (d.eof) break;
      // The pipe is empty, so EAGAIN can only mean that the socket has nothing now.
      const ssize_t n = Splice(in, d.pipe_write.Get(), kSpliceBytes);
      if (n < 0 && errno == EAGAIN) break;
      if (n < 0) return false;
      if (n == 0) {
        d.eof = true;
        break;
      }
      d.buffered = static_cast<std::size_t>(n);
    }
    while (d.buffered > 0) {
      const ssize_t n = Splice(d.pipe_read.Get(), out, d.buffered);
      if (n < 0 && errno == EAGAIN) return true;  // the destination is full: wait for it
      if (n <= 0) return false;
      d.buffered -= static_cast<std::size_t>(n);
    }
  }
  if (d.eof && d.buffered == 0 && !d.shut) {
    if (::shutdown(out, SHUT_WR) != 0) return false;
    d.shut = true;
  }
  return true;
}

bool SpliceRelay::Watch() noexcept {
  for (int i = 0; i < 2; ++i) {
    int wanted = 0;
    if (!directions_[i].eof && directions_[i].buffered == 0) wanted |= UV_READABLE;
    if (directions_[1 - i].buffered > 0) wanted |= UV_WRITABLE;
    Side& side = sides_[i];
    if (wanted == side.events) continue;
    const int rc = wanted == 0 ? uv_poll_stop(side.poll->Get())
                               : uv_poll_start(side.poll->Get(), wanted, &SpliceRelay::OnPoll);
    if (rc != 0) {
      spdlog::warn("uv_poll_start(fd={}): {}", side.socket.Get(), uv_strerror(rc));
      return false;
    }
    side.events = wanted;
  }
  return true;
}

void SpliceRelay::Finish(Outcome outcome) noexcept {
  Release(outcome);
  // Last: the owner may destroy the relay from here.
  if (auto ended = std::move(ended_)) ended(outcome);
}

void SpliceRelay::Close() noexcept { Release(Outcome::kReset); }

void SpliceRelay::Release(Outcome outcome) noexcept {
  if (over_) return;
  over_ = true;
  for (auto& side : sides_) {
    // The poll goes first: libuv must not watch an fd that is closed (or already reused).
    if (side.poll != nullptr) std::exchange(side.poll, nullptr)->Close();
    if (outcome == Outcome::kReset) {
      CloseWithReset(std::move(side.socket));
    } else {
      side.socket.Reset();
    }
  }
  for (auto& direction : directions_) {
    direction.pipe_read.Reset();
    direction.pipe_write.Reset();
  }
}

}  // namespace sandgate::supervisor
