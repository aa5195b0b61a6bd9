#include "approvals/pending.h"

#include <algorithm>
#include <utility>

#include "approvals/domain.h"
#include "approvals/path_glob.h"

namespace sandgate::approvals {

PendingKey PendingKeyFor(const Destination& destination) {
  PendingKey key;
  key.protocol = destination.protocol;
  if (destination.protocol == Protocol::kUnix) {
    if (destination.unix_path) {
      key.kind = PendingTargetKind::kUnixPath;
      key.target = NormalizeAbsolutePath(*destination.unix_path).value_or(*destination.unix_path);
    } else if (destination.unix_abstract) {
      key.kind = PendingTargetKind::kUnixAbstract;
      key.target = *destination.unix_abstract;
    }
    return key;
  }
  key.port = destination.port;
  if (destination.host) {
    key.kind = PendingTargetKind::kHost;
    key.target = CanonicalHostName(*destination.host);
  } else if (destination.address) {
    key.kind = PendingTargetKind::kAddress;
    key.target = destination.address->ToString();
  }
  return key;
}

PendingAdd PendingTable::Add(const PendingKey& key, RequestId request) {
  if (const auto existing = approval_of_request_.find(request);
      existing != approval_of_request_.end()) {
    return {PromptNeed::kJoinedExisting, existing->second};
  }
  if (const auto open = prompt_for_key_.find(key); open != prompt_for_key_.end()) {
    prompts_.find(open->second)->second.waiters.push_back(request);
    approval_of_request_.emplace(request, open->second);
    return {PromptNeed::kJoinedExisting, open->second};
  }
  std::string approval_id = "a" + std::to_string(next_id_++);
  prompt_for_key_.emplace(key, approval_id);
  prompts_.emplace(approval_id, Prompt{key, {request}});
  approval_of_request_.emplace(request, approval_id);
  return {PromptNeed::kSendPrompt, std::move(approval_id)};
}

std::vector<RequestId> PendingTable::Resolve(std::string_view approval_id) {
  const auto it = prompts_.find(approval_id);
  if (it == prompts_.end()) {
    return {};
  }
  std::vector<RequestId> waiters = std::move(it->second.waiters);
  prompt_for_key_.erase(it->second.key);
  prompts_.erase(it);
  for (const RequestId request : waiters) {
    approval_of_request_.erase(request);
  }
  return waiters;
}

std::optional<PendingRemoval> PendingTable::Remove(RequestId request) {
  const auto found = approval_of_request_.find(request);
  if (found == approval_of_request_.end()) {
    return std::nullopt;
  }
  PendingRemoval removal{found->second, PromptState::kStillWaited};
  approval_of_request_.erase(found);

  const auto prompt = prompts_.find(removal.approval_id);
  std::vector<RequestId>& waiters = prompt->second.waiters;
  waiters.erase(std::remove(waiters.begin(), waiters.end(), request), waiters.end());
  if (waiters.empty()) {
    prompt_for_key_.erase(prompt->second.key);
    prompts_.erase(prompt);
    removal.prompt = PromptState::kOrphaned;
  }
  return removal;
}

std::optional<std::string> PendingTable::ApprovalIdOf(RequestId request) const {
  const auto found = approval_of_request_.find(request);
  if (found == approval_of_request_.end()) {
    return std::nullopt;
  }
  return found->second;
}

const PendingKey* PendingTable::KeyOf(std::string_view approval_id) const {
  const auto it = prompts_.find(approval_id);
  return it == prompts_.end() ? nullptr : &it->second.key;
}

}  // namespace sandgate::approvals
