#pragma once

#include <sys/types.h>
#include <uv.h>

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "supervisor/loop/direct_wait.h"
#include "supervisor/loop/uv_handle.h"

namespace sandgate::supervisor {

// One seccomp user notification: a thread of the sandbox is blocked in `syscall` until answered.
struct Notification {
  std::uint64_t id = 0;
  pid_t tid = 0;  // thread id, in the supervisor's pid namespace
  int syscall = -1;
  std::array<std::uint64_t, 6> args{};
};

// How the supervisor and the sandbox's threads wake each other.
struct NotifyWakeUps {
  // Hand each answered thread the CPU directly (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, Linux 6.6),
  // where the kernel has it. It halves the cost of an allowed connect here; the supervisor goes
  // back to waiting right after an answer, so the CPU is free to take.
  bool sync = true;
  // Not null: keep each round trip on one CPU. The loop sleeps on the listener itself, so a
  // notification wakes the supervisor where the notifying thread just blocked (direct_wait.h),
  // and the supervisor stays on that CPU while the thread installs a socket (InstallFd), rather
  // than being moved to the other CPU when the thread wakes it. Needs `sync` to matter.
  DirectWait* same_cpu = nullptr;
};

// Whether the supervisor has anything else in hand while it installs a socket. Only a round trip
// alone is held on one CPU: in a burst the supervisor does not sleep between answers, so the
// scheduler has nothing to move, and the hold would only cost its three syscalls per socket
// (measured: ~8 % more decisions/s without it in a burst of 1,000 approvals).
enum class RoundTrip { kAlone, kInABurst };

// The seccomp listener on the loop. Receives every pending notification as soon as the fd is
// readable and hands each to the handler, which must answer it exactly once, now or later, with
// one of the Respond* calls (an answer to a notification whose thread was interrupted or died is
// a harmless no-op). Single-threaded: loop thread only.
class NotifyListener {
 public:
  using Handler = std::function<void(const Notification&)>;

  NotifyListener(uv_loop_t* loop, base::UniqueFd listener, Handler handler, NotifyWakeUps wake_ups);
  ~NotifyListener() { Close(); }
  NotifyListener(const NotifyListener&) = delete;
  NotifyListener& operator=(const NotifyListener&) = delete;

  base::Status Start();
  void Close() noexcept;

  // Is the notification (and so the memory and fd table it refers to) still current? Call after
  // reading anything from the target and before trusting it.
  [[nodiscard]] bool IdValid(std::uint64_t id) const noexcept;

  // The syscall returns -1 with errno `error`.
  void RespondError(std::uint64_t id, int error) noexcept;
  // The syscall returns `value`.
  void RespondValue(std::uint64_t id, std::int64_t value) noexcept;
  // Answers `value` (error 0) or -1 with `error`, and says whether the answer reached the
  // syscall (false: it was interrupted or its thread is gone, and nobody got it).
  [[nodiscard]] bool Deliver(std::uint64_t id, std::int64_t value, int error) noexcept;
  // The kernel runs the syscall itself, re-reading its arguments: only where whatever they could
  // have been changed to cannot reach anything outside the sandbox.
  void RespondContinue(std::uint64_t id) noexcept;
  // Installs `source_fd` (ours) in the target at exactly `target_fd`, replacing what was there.
  [[nodiscard]] base::Status InstallFd(std::uint64_t id, int source_fd, int target_fd,
                                       bool cloexec, RoundTrip round_trip) noexcept;
  // While the handler runs: whether this wake-up's receive has another notification queued
  // behind the one handed over (it is received next, before the loop goes round).
  [[nodiscard]] bool MoreQueued() const noexcept { return more_queued_; }

 private:
  static constexpr int kReceivedPerWakeUp = 16;
  void OnReadable() noexcept;
  [[nodiscard]] bool Readable() const noexcept;
  bool Send(std::uint64_t id, std::int64_t value, int error, std::uint32_t flags) noexcept;

  uv_loop_t* loop_;
  base::UniqueFd fd_;
  // The kernel's struct seccomp_notif may be larger than the one we were compiled with
  // (SECCOMP_GET_NOTIF_SIZES); receive into a buffer of the kernel's size.
  std::vector<std::uint8_t> recv_buffer_;
  Handler handler_;
  NotifyWakeUps wake_ups_;
  UvHandle<uv_poll_t>* poll_ = nullptr;
  bool more_queued_ = false;
};

}  // namespace sandgate::supervisor
