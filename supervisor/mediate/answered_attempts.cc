#include "supervisor/mediate/answered_attempts.h"

#include <iterator>

namespace sandgate::supervisor {

bool AttemptSignature::Matches(const AttemptSignature& other) const {
  const auto& a = destination;
  const auto& b = other.destination;
  return syscall == other.syscall && fd == other.fd && a.address == b.address &&
         a.port == b.port && a.protocol == b.protocol && a.unix_path == b.unix_path &&
         a.unix_abstract == b.unix_abstract;
}

void AnsweredAttempts::Remember(pid_t tid, AnsweredAttempt attempt) {
  attempt.expiry = std::chrono::steady_clock::now() + kKeep;
  by_thread_.insert_or_assign(tid, std::move(attempt));
}

std::optional<AnsweredAttempt> AnsweredAttempts::TakeFor(pid_t tid,
                                                         const AttemptSignature& signature) {
  auto it = by_thread_.find(tid);
  if (it == by_thread_.end()) return std::nullopt;
  std::optional<AnsweredAttempt> out;
  if (it->second.signature.Matches(signature)) out = std::move(it->second);
  by_thread_.erase(it);
  return out;
}

std::optional<AnsweredAttempt> AnsweredAttempts::TakeInstalled(pid_t tid, int syscall, int fd,
                                                               std::uint64_t cookie) {
  auto it = by_thread_.find(tid);
  if (it == by_thread_.end() || !it->second.installed) return std::nullopt;
  std::optional<AnsweredAttempt> out;
  const auto& signature = it->second.signature;
  if (signature.syscall == syscall && signature.fd == fd && *it->second.installed == cookie) {
    out = std::move(it->second);
  }
  by_thread_.erase(it);
  return out;
}

void AnsweredAttempts::Expire(std::chrono::steady_clock::time_point now) {
  for (auto it = by_thread_.begin(); it != by_thread_.end();) {
    it = it->second.expiry <= now ? by_thread_.erase(it) : std::next(it);
  }
}

}  // namespace sandgate::supervisor
