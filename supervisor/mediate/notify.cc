#include "supervisor/mediate/notify.h"

#include <linux/seccomp.h>
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "base/seccomp_abi.h"
#include "supervisor/mediate/stay_on_this_cpu.h"

namespace sandgate::supervisor {

NotifyListener::NotifyListener(uv_loop_t* loop, base::UniqueFd listener, Handler handler,
                               NotifyWakeUps wake_ups)
    : loop_(loop), fd_(std::move(listener)), handler_(std::move(handler)), wake_ups_(wake_ups) {}

base::Status NotifyListener::Start() {
  seccomp_notif_sizes sizes{};
  if (::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) {
    return base::ErrnoError("seccomp(SECCOMP_GET_NOTIF_SIZES)");
  }
  recv_buffer_.assign(std::max<std::size_t>(sizes.seccomp_notif, sizeof(seccomp_notif)), 0);
  if (wake_ups_.sync) {
    // EINVAL before Linux 6.6: answers are then ordinary wake-ups, correct and slower.
    const bool set = ::ioctl(fd_.Get(), base::kSeccompNotifSetFlags, base::kSeccompSyncWakeUp) == 0;
    spdlog::debug("seccomp listener: synchronous wake-ups {}",
                  set ? "on" : std::string("unavailable: ") + std::strerror(errno));
  }
  poll_ = UvHandle<uv_poll_t>::Create();
  if (int rc = uv_poll_init(loop_, poll_->Get(), fd_.Get()); rc != 0) {
    return base::Error{-rc, "uv_poll_init(seccomp listener)"};
  }
  poll_->Bind(this);
  uv_poll_start(poll_->Get(), UV_READABLE | UV_DISCONNECT, [](uv_poll_t* h, int status, int events) {
    auto* self = static_cast<NotifyListener*>(UvHandle<uv_poll_t>::From(h)->Owner());
    if (status < 0) {
      spdlog::error("seccomp listener poll: {}", uv_strerror(status));
      return self->Close();
    }
    if (events & UV_READABLE) self->OnReadable();
    // Every task that used the filter is gone: nothing will ever arrive again.
    if (events & UV_DISCONNECT) self->Close();
  });
  if (wake_ups_.same_cpu != nullptr) wake_ups_.same_cpu->Watch(fd_.Get());
  return base::Ok{};
}

void NotifyListener::Close() noexcept {
  if (wake_ups_.same_cpu != nullptr) wake_ups_.same_cpu->Unwatch(fd_.Get());
  if (poll_) poll_->Close();
  poll_ = nullptr;
}

void NotifyListener::OnReadable() noexcept {
  // Receive several at once, so that many blocked threads are in the supervisor's hands after
  // one loop iteration; but not all that are ready: the loop goes round between batches, so
  // answers to the first (a controller's, a proxy's) are carried out while a storm of attempts
  // is still being received, rather than after it (the fd is level-triggered and reports again).
  for (int received = 0;;) {
    std::fill(recv_buffer_.begin(), recv_buffer_.end(), 0);  // the kernel insists on zeroes
    if (::ioctl(fd_.Get(), SECCOMP_IOCTL_NOTIF_RECV, recv_buffer_.data()) != 0) {
      if (errno == EINTR) continue;
      // ENOENT: the thread went away between poll and receive, or no task uses the filter any
      // more (then the fd also reports POLLHUP, handled by the caller).
      if (errno != ENOENT) spdlog::debug("SECCOMP_IOCTL_NOTIF_RECV: {}", std::strerror(errno));
      return;
    }
    seccomp_notif notif;
    std::memcpy(&notif, recv_buffer_.data(), sizeof notif);
    Notification n;
    n.id = notif.id;
    n.tid = static_cast<pid_t>(notif.pid);
    n.syscall = notif.data.nr;
    for (size_t i = 0; i < n.args.size(); ++i) n.args[i] = notif.data.args[i];
    // Whether another follows is asked before the handler runs, so that it knows (MoreQueued).
    // One that arrives while the handler runs is received on the loop's next round, as it
    // would be after the 16th: the fd is level-triggered.
    more_queued_ = ++received < kReceivedPerWakeUp && Readable();
    handler_(n);
    if (!more_queued_) return;  // the loop's poll asks again
    more_queued_ = false;
  }
}

bool NotifyListener::Readable() const noexcept {
  // A non-blocking check: the listener fd has no O_NONBLOCK mode, so ask poll.
  pollfd p{fd_.Get(), POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN) != 0;
}

bool NotifyListener::IdValid(std::uint64_t id) const noexcept {
  return ::ioctl(fd_.Get(), SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

bool NotifyListener::Send(std::uint64_t id, std::int64_t value, int error,
                          std::uint32_t flags) noexcept {
  seccomp_notif_resp resp{};
  resp.id = id;
  resp.val = value;
  resp.error = error == 0 ? 0 : -error;
  resp.flags = flags;
  if (::ioctl(fd_.Get(), SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0) {
    // ENOENT: the thread was interrupted by a signal or died; its syscall is gone (or will be
    // restarted and notified anew). Nothing to answer.
    if (errno == ENOENT) {
      spdlog::debug("notification {} no longer pending", id);
    } else {
      spdlog::error("SECCOMP_IOCTL_NOTIF_SEND(id={}): {}", id, std::strerror(errno));
    }
    return false;
  }
  return true;
}

void NotifyListener::RespondError(std::uint64_t id, int error) noexcept {
  static_cast<void>(Send(id, -1, error, 0));
}

void NotifyListener::RespondValue(std::uint64_t id, std::int64_t value) noexcept {
  static_cast<void>(Send(id, value, 0, 0));
}

bool NotifyListener::Deliver(std::uint64_t id, std::int64_t value, int error) noexcept {
  return error != 0 ? Send(id, -1, error, 0) : Send(id, value, 0, 0);
}

void NotifyListener::RespondContinue(std::uint64_t id) noexcept {
  static_cast<void>(Send(id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE));
}

base::Status NotifyListener::InstallFd(std::uint64_t id, int source_fd, int target_fd,
                                       bool cloexec, RoundTrip round_trip) noexcept {
  seccomp_notif_addfd addfd{};
  addfd.id = id;
  addfd.flags = SECCOMP_ADDFD_FLAG_SETFD;
  addfd.srcfd = static_cast<std::uint32_t>(source_fd);
  addfd.newfd = static_cast<std::uint32_t>(target_fd);
  addfd.newfd_flags = cloexec ? O_CLOEXEC : 0;
  // ADDFD waits until the thread has installed the fd; the thread's wake-up of that wait is an
  // ordinary one, which moves the supervisor to the other CPU. Staying put, it resumes here.
  std::optional<StayOnThisCpu> stay;
  if (wake_ups_.same_cpu != nullptr && round_trip == RoundTrip::kAlone) stay.emplace();
  if (::ioctl(fd_.Get(), SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) < 0) {
    return base::ErrnoError("SECCOMP_IOCTL_NOTIF_ADDFD(id=" + std::to_string(id) +
                            ", fd=" + std::to_string(target_fd) + ")");
  }
  return base::Ok{};
}

}  // namespace sandgate::supervisor
