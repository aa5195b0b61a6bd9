#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "approvals/destination.h"

namespace sandgate::approvals {

// What the coalescing key names: a host beats an address (two connects to different addresses
// of github.com:443 are one question for a human), a unix socket is its path or abstract name.
enum class PendingTargetKind { kHost, kAddress, kUnixPath, kUnixAbstract, kNone };

// Identical pending requests share one prompt: same target, protocol and port.
struct PendingKey {
  PendingTargetKind kind = PendingTargetKind::kNone;
  std::string target;  // canonical host, address text, normalized path or abstract name
  Protocol protocol = Protocol::kTcp;
  std::uint16_t port = 0;

  // clang-tidy's modernize-use-nullptr misreads the literal 0 of the synthesized comparison.
  // NOLINTNEXTLINE(modernize-use-nullptr)
  friend auto operator<=>(const PendingKey&, const PendingKey&) = default;
};

[[nodiscard]] PendingKey PendingKeyFor(const Destination& destination);

// The supervisor's id for one held syscall.
using RequestId = std::uint64_t;

enum class PromptNeed { kSendPrompt, kJoinedExisting };

struct PendingAdd {
  PromptNeed need = PromptNeed::kSendPrompt;
  std::string approval_id;
};

enum class PromptState { kStillWaited, kOrphaned };

struct PendingRemoval {
  std::string approval_id;
  // kOrphaned: the request was the prompt's last waiter; the prompt is gone from the table and
  // the caller should send network/approvalCancelled for it.
  PromptState prompt = PromptState::kStillWaited;
};

// Open prompts and the requests waiting on each. Approval ids ("a1", "a2", ...) are never
// reused, so a late answer to a finished prompt cannot land on a new one. Not thread-safe.
class PendingTable {
 public:
  // A request id must be unique among pending requests; adding one that is already waiting
  // returns its existing prompt (kJoinedExisting) and changes nothing.
  PendingAdd Add(const PendingKey& key, RequestId request);
  // The prompt was answered: removes it and returns its waiters in arrival order (empty for an
  // unknown or already resolved id).
  std::vector<RequestId> Resolve(std::string_view approval_id);
  // The request went away (its process exited, its timer fired). nullopt if it was not waiting.
  std::optional<PendingRemoval> Remove(RequestId request);

  [[nodiscard]] std::optional<std::string> ApprovalIdOf(RequestId request) const;
  [[nodiscard]] const PendingKey* KeyOf(std::string_view approval_id) const;
  [[nodiscard]] std::size_t prompt_count() const { return prompts_.size(); }
  [[nodiscard]] std::size_t request_count() const { return approval_of_request_.size(); }

 private:
  struct Prompt {
    PendingKey key;
    std::vector<RequestId> waiters;
  };

  std::uint64_t next_id_ = 1;
  std::map<PendingKey, std::string> prompt_for_key_;
  std::map<std::string, Prompt, std::less<>> prompts_;
  std::unordered_map<RequestId, std::string> approval_of_request_;
};

}  // namespace sandgate::approvals
