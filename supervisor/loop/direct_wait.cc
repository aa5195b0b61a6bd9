#include "supervisor/loop/direct_wait.h"

#include <poll.h>

#include <algorithm>
#include <array>

namespace sandgate::supervisor {

// What this relies on: uv_backend_timeout answers 0 while started watchers wait to be added to
// libuv's epoll set (so the epoll fd slept on here reflects every one of them), and all of
// libuv's readiness is in that epoll set. Checked in libuv 1.44's src/unix/core.c and epoll.c,
// Debian 12's; any other libuv is left to wait alone until it is checked too.
bool DirectWait::Checked() noexcept {
  constexpr unsigned kChecked = (1U << 8) | 44U;  // major, minor
  return ((UV_VERSION_HEX >> 8) == kChecked) && ((uv_version() >> 8) == kChecked);
}

base::Status DirectWait::Start() {
  if (!Checked()) return base::Ok{};  // no sleep of its own: the loop waits in libuv alone
  prepare_ = UvHandle<uv_prepare_t>::Create();
  if (const int rc = uv_prepare_init(loop_, prepare_->Get()); rc != 0) {
    prepare_->Close();
    prepare_ = nullptr;
    return base::Error{-rc, "uv_prepare_init(direct wait)"};
  }
  prepare_->Bind(this);
  uv_prepare_start(prepare_->Get(), [](uv_prepare_t* h) noexcept {
    static_cast<DirectWait*>(UvHandle<uv_prepare_t>::From(h)->Owner())->BeforePoll();
  });
  uv_unref(prepare_->Base());
  return base::Ok{};
}

void DirectWait::Close() noexcept {
  if (prepare_ != nullptr) prepare_->Close();
  prepare_ = nullptr;
  fds_.clear();
}

void DirectWait::Watch(int fd) {
  if (std::find(fds_.begin(), fds_.end(), fd) == fds_.end()) fds_.push_back(fd);
}

void DirectWait::Unwatch(int fd) noexcept { std::erase(fds_, fd); }

void DirectWait::BeforePoll() noexcept {
  if (fds_.empty()) return;  // nothing to gain over libuv's own wait
  const int timeout = uv_backend_timeout(loop_);
  if (timeout == 0) return;  // libuv will not sleep either
  constexpr std::size_t kMaxFds = 8;  // more are woken through the epoll set only
  std::array<pollfd, kMaxFds + 1> set{};
  set[0] = {uv_backend_fd(loop_), POLLIN, 0};
  const std::size_t count = std::min(fds_.size(), kMaxFds);
  for (std::size_t i = 0; i < count; ++i) set[i + 1] = {fds_[i], POLLIN, 0};
  ++sleeps_;
  // Whatever wakes it (a watched fd, the epoll set, a signal, the timeout), libuv's own poll
  // comes next; it sleeps on as usual if the wake-up was for nothing libuv watches.
  static_cast<void>(::poll(set.data(), count + 1, timeout));
  // The sleep took time libuv did not see: its timers and its own poll's timeout count from now.
  uv_update_time(loop_);
}

}  // namespace sandgate::supervisor
