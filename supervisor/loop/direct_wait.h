#pragma once

#include <uv.h>

#include <vector>

#include "base/result.h"
#include "supervisor/loop/uv_handle.h"

namespace sandgate::supervisor {

// Lets the loop sleep in poll(2) on libuv's epoll fd together with a few fds watched directly,
// instead of in epoll_wait alone.
//
// Why: the seccomp listener wakes its waiters "on the current CPU" when it is asked to
// (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP), so the supervisor runs where the notifying thread just
// blocked, with warm caches and no cross-CPU wake-up. epoll passes that hint on to nobody: its
// own waiter is woken the ordinary way, often on the other, idle CPU, which on a VM costs an
// IPI and tens of µs. A thread sleeping in poll(2) on the listener itself gets the hint.
//
// How, without changing libuv's order of work: a prepare handle started before any other, so
// that it runs after all of them (libuv runs prepare handles newest first; the JSON-RPC
// approver's flush is one, and must have written before anyone sleeps). It sleeps only when
// libuv itself would sleep: uv_backend_timeout is 0 while callbacks are pending, idle handles
// run, handles close or fds wait to be added to the epoll set. It sleeps at most until libuv's
// next timer, then refreshes libuv's clock; libuv's own epoll_wait that follows finds the
// event ready and runs the callbacks as always. A watched fd should also be on the loop (a
// uv_poll_t): readiness that nothing takes ends this sleep at once every time, and libuv then
// sleeps in epoll_wait as it would without this (slower again, never a spin).
//
// Loop thread only. The prepare handle is unreferenced: it never keeps the loop alive.
class DirectWait {
 public:
  explicit DirectWait(uv_loop_t* loop) : loop_(loop) {}
  ~DirectWait() { Close(); }
  DirectWait(const DirectWait&) = delete;
  DirectWait& operator=(const DirectWait&) = delete;

  // Start before any other prepare handle of the loop.
  base::Status Start();
  void Close() noexcept;

  // `fd` is slept on directly from now on, until Unwatch.
  void Watch(int fd);
  void Unwatch(int fd) noexcept;

  // Whether this libuv is one whose loop this was checked against (direct_wait.cc); with any
  // other, it never sleeps and the loop waits in libuv alone.
  [[nodiscard]] static bool Checked() noexcept;

  // How many times the loop went to sleep here (for tests).
  [[nodiscard]] unsigned long Sleeps() const noexcept { return sleeps_; }

 private:
  void BeforePoll() noexcept;

  uv_loop_t* loop_;
  UvHandle<uv_prepare_t>* prepare_ = nullptr;
  std::vector<int> fds_;
  unsigned long sleeps_ = 0;
};

}  // namespace sandgate::supervisor
