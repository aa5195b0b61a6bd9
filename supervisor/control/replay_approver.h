#pragma once

#include "approvals/replay.h"
#include "supervisor/control/approver.h"

namespace sandgate::supervisor {

// --approvals replay:FILE: answers from a script of expected requests, in order (SPEC "Replay").
class ReplayApprover final : public Approver {
 public:
  explicit ReplayApprover(approvals::ReplayApprover script) : script_(std::move(script)) {}

  void Ask(const approvals::ApprovalRequest& request, Reply reply) override {
    reply(script_.Next(request.destination), approvals::DecisionSource::kUser);
  }
  void Cancel(const std::string&, approvals::CancelReason) override {}

  [[nodiscard]] const approvals::ReplayApprover& script() const { return script_; }

 private:
  approvals::ReplayApprover script_;
};

}  // namespace sandgate::supervisor
