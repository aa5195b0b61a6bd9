#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>

#include "approvals/answer.h"
#include "approvals/decision.h"
#include "approvals/protocol.h"

namespace sandgate::supervisor {

// Whoever answers approval requests: a JSON-RPC controller, a person at a terminal, a replay
// script, or nobody (auto-deny). Loop thread only.
class Approver {
 public:
  using Reply = std::function<void(approvals::Answer answer, approvals::DecisionSource source)>;
  virtual ~Approver() = default;

  // Asks once. `reply` runs exactly once on the loop thread, later or right away, unless
  // Cancel(approval_id) comes first.
  virtual void Ask(const approvals::ApprovalRequest& request, Reply reply) = 0;
  // The request is moot (process exited, timed out): forget it and tell the controller.
  virtual void Cancel(const std::string& approval_id, approvals::CancelReason reason) = 0;
  // A notification for the controller (network/decision, sandbox/started, ...), if it has one.
  virtual void Notify(const std::string& method, const nlohmann::json& params) {
    (void)method;
    (void)params;
  }
  // Does Notify go anywhere? Lets hot paths skip building a notice nobody reads. An approver
  // that overrides Notify must override this too.
  [[nodiscard]] virtual bool WantsNotifications() const { return false; }
};

// Declines every request at once (source "default"): the mode for headless runs.
class AutoDenyApprover final : public Approver {
 public:
  void Ask(const approvals::ApprovalRequest&, Reply reply) override {
    reply(approvals::answer::Decline{}, approvals::DecisionSource::kDefault);
  }
  void Cancel(const std::string&, approvals::CancelReason) override {}
};

}  // namespace sandgate::supervisor
