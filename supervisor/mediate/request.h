#pragma once

// The mediator's request and what the files of supervisor/mediate/ share about it. Private to
// those files: nothing else includes this.

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "approvals/decision.h"
#include "approvals/destination.h"
#include "base/unique_fd.h"
#include "supervisor/mediate/mediator.h"

namespace sandgate::supervisor {

struct Mediator::ExitWatch {
  Mediator* mediator;
  pid_t pid;
};

struct Mediator::Process {
  base::UniqueFd pidfd;
  base::UniqueFd proc_dir;  // its /proc/PID (OpenProcDir); invalid when it could not be opened
  UvHandle<uv_poll_t>* exit_poll = nullptr;
};

struct Mediator::Request {
  RequestId id = 0;
  Kind kind = Kind::kConnect;
  Notification notification;
  pid_t pid = 0;  // thread group
  int fd = -1;    // the command's fd number
  base::UniqueFd socket;  // our copy of the command's socket
  SocketShape shape;
  bool host_socket = false;  // a socket sandgate itself created and installed earlier
  sockaddr_storage address{};
  socklen_t address_len = 0;
  approvals::Destination destination;
  std::vector<std::uint8_t> payload;  // sendto: the datagram, read before the decision
  int send_flags = 0;
  // TCP Fast Open (sendto with MSG_FASTOPEN): decided as a connect, carried out as connect plus
  // a send of `payload`; the syscall returns how much was sent.
  bool fast_open = false;
  // sendmmsg: where the command's mmsghdr array is (only its first message is carried out).
  std::uint64_t batch_address = 0;
  std::chrono::steady_clock::time_point received;
  std::optional<std::string> approval_id;
  std::function<void(bool resolve)> on_name_decided;  // kName
  base::UniqueFd unix_target;  // unix path connects: O_PATH handle of the resolved socket
  // A DNS query redirected to the forwarder (dns_redirect.cc): the nameserver it was for, which
  // Place remembers with the socket it installs.
  std::optional<sockaddr_storage> dns_nameserver;
  // Set (and recorded) once decided; what CarryOut carries out.
  struct Decided {
    approvals::Decision decision = approvals::Decision::kDeny;
    approvals::DecisionSource source = approvals::DecisionSource::kDefault;
    std::optional<std::string> rule;
    std::optional<approvals::ProxyUrl> proxy;
    // A route that could not be carried out, and so was denied: why.
    std::optional<std::string> why;
  };
  std::optional<Decided> decided;
  bool seen_dead = false;  // a sweep found its notification gone (see Sweep)
};

// sandgate ran out of fds or memory: the command's syscall fails the way a connect or send
// under resource pressure does (EAGAIN), never with an errno it cannot return.
inline bool OutOfResources(int error) { return error == EMFILE || error == ENFILE || error == ENOMEM; }

// Our copy of the command's fd `fd` (pidfd_getfd), or -1 with errno set.
inline int PidfdGetfd(int pidfd, int fd) {
  return static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, fd, 0));
}

// The unix socket a sockaddr_un names, as given (a path is resolved later, for connects).
[[nodiscard]] approvals::Destination UnixDestination(const sockaddr_storage& sa, socklen_t len);

}  // namespace sandgate::supervisor
