#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "approvals/destination.h"
#include "approvals/decision.h"
#include "approvals/proxy_url.h"
#include "base/unique_fd.h"

namespace sandgate::supervisor {

// What makes two held syscalls one attempt (SPEC, Attempts): the same thread making the same
// call on the same fd to the same destination, again after a signal interrupted it.
struct AttemptSignature {
  int syscall = -1;
  int fd = -1;
  approvals::Destination destination;  // host and names are not part of it

  [[nodiscard]] bool Matches(const AttemptSignature& other) const;
};

// An attempt that was decided (or even carried out) while its syscall was interrupted: without
// WAIT_KILLABLE_RECV (kernels before 5.19) a signal storm can interrupt a held connect at any
// moment, also just when the answer comes. Its restart gets this answer instead of a new prompt,
// and a connection sandgate already made for it instead of a second one.
struct AnsweredAttempt {
  AttemptSignature signature;
  approvals::Decision decision = approvals::Decision::kDeny;
  approvals::DecisionSource source = approvals::DecisionSource::kDefault;
  std::optional<std::string> rule;
  std::optional<approvals::ProxyUrl> proxy;
  std::optional<std::string> approval_id;
  // The decision has its audit record and network/decision already (it was being carried out).
  bool recorded = false;
  // Carried out already: the connected host socket, and what the syscall returns once it is
  // installed (a Fast Open's byte count, 0, or -errno such as -EINPROGRESS).
  base::UniqueFd carried;
  std::int64_t result = 0;
  // Carried out and installed, only the answer was lost (interrupted between ADDFD and SEND):
  // the cookie of the socket now at the command's fd. Its restart, on that very socket, just
  // gets `result` (a connect on it would say EISCONN, a Fast Open would send its data again).
  std::optional<std::uint64_t> installed;
  std::chrono::steady_clock::time_point expiry;
};

// One per thread: a thread has one syscall in flight, so one attempt it may restart. Entries
// expire (the thread did not restart it), and a different attempt by the thread replaces them.
// Loop thread only.
class AnsweredAttempts {
 public:
  static constexpr std::chrono::seconds kKeep{5};

  void Remember(pid_t tid, AnsweredAttempt attempt);
  // The answer for `signature` if `tid` has one; a different attempt of `tid` forgets it.
  [[nodiscard]] std::optional<AnsweredAttempt> TakeFor(pid_t tid, const AttemptSignature& signature);
  // The installed attempt of `tid` whose restart this is: the same syscall on the same fd, now
  // holding the very socket installed for it. Another call of `tid` forgets an installed one.
  [[nodiscard]] std::optional<AnsweredAttempt> TakeInstalled(pid_t tid, int syscall, int fd,
                                                             std::uint64_t cookie);
  void Forget(pid_t tid) { by_thread_.erase(tid); }
  void Expire(std::chrono::steady_clock::time_point now);
  [[nodiscard]] bool Empty() const { return by_thread_.empty(); }

 private:
  std::map<pid_t, AnsweredAttempt> by_thread_;
};

}  // namespace sandgate::supervisor
