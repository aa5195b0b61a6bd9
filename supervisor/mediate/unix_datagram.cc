// sendmsg/sendmmsg on a unix datagram socket without a destination: carried out by sandgate,
// because the kernel would read the msghdr again and send to whatever destination another
// thread wrote there in between (a host socket the command may not reach: syslog, the journal).
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "base/unique_fd.h"
#include "supervisor/child/target_process.h"
#include "supervisor/mediate/mediator.h"
#include "supervisor/mediate/request.h"

namespace sandgate::supervisor {
namespace {

// Ancillary data sandgate passes on: fds, a handful of messages' worth.
constexpr std::uint64_t kMaxControl = 4096;

}  // namespace

void Mediator::SendUnixDatagram(std::unique_ptr<Request> request, std::vector<std::uint8_t> data,
                                std::uint64_t control_ptr, std::uint64_t control_len) noexcept {
  const auto id = request->notification.id;
  // The fds the command passes (SCM_RIGHTS), copied out of it and passed on as its own.
  std::vector<base::UniqueFd> passed;
  std::vector<std::uint8_t> control;
  if (control_ptr != 0 && control_len > 0) {
    if (control_len > kMaxControl) return listener_->RespondError(id, ENOBUFS);
    auto given = ReadTargetMemory(request->pid, control_ptr, static_cast<std::size_t>(control_len));
    if (!given.Ok()) return listener_->RespondError(id, EFAULT);
    Process* process = ProcessFor(request->pid);
    if (process == nullptr) return listener_->RespondError(id, EAGAIN);
    control = std::move(given.Value());
    msghdr parsed{};
    parsed.msg_control = control.data();
    parsed.msg_controllen = control.size();
    for (cmsghdr* c = CMSG_FIRSTHDR(&parsed); c != nullptr; c = CMSG_NXTHDR(&parsed, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
        // Credentials (SCM_CREDENTIALS) would have to be sandgate's own: the kernel checks them
        // against the sender, which is sandgate here.
        return listener_->RespondError(id, EPERM);
      }
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      auto* fds = reinterpret_cast<int*>(CMSG_DATA(c));
      for (std::size_t i = 0; i < count; ++i) {
        base::UniqueFd copy(PidfdGetfd(process->pidfd.Get(), fds[i]));
        if (!copy) return listener_->RespondError(id, errno == EBADF ? EBADF : EAGAIN);
        fds[i] = copy.Get();  // in our copy of the control data
        passed.push_back(std::move(copy));
      }
    }
  }
  iovec iov{data.data(), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!control.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
  }
  // Never blocking the loop: a receiver whose queue is full gives EAGAIN, blocking caller or not.
  const ssize_t sent = ::sendmsg(request->socket.Get(), &msg,
                                 request->send_flags | MSG_DONTWAIT | MSG_NOSIGNAL);
  if (sent < 0) return listener_->RespondError(id, errno);
  Answer(*request, sent, request->socket.Get());
}

}  // namespace sandgate::supervisor
