// Requests that wait for an answer, and attempts whose syscall a signal interrupted: the
// waiting table (by request and by thread), the sweep, and the answers kept for restarts.
#include "supervisor/mediate/mediator.h"

#include <spdlog/spdlog.h>
#include <sys/syscall.h>

#include <cerrno>
#include <vector>

#include "approvals/protocol.h"
#include "supervisor/mediate/answered_attempts.h"
#include "supervisor/mediate/request.h"

namespace sandgate::supervisor {
namespace {

using approvals::Decision;
using approvals::DecisionSource;
using Clock = std::chrono::steady_clock;

}  // namespace

std::unique_ptr<Mediator::Request> Mediator::Withdraw(RequestId id,
                                                      approvals::CancelReason reason) noexcept {
  auto removal = pending_.Remove(id);
  auto request = TakeWaiting(id);
  if (removal && removal->prompt == approvals::PromptState::kOrphaned) {
    if (auto timer = timers_.find(removal->approval_id); timer != timers_.end()) {
      timer->second->Close();
      timers_.erase(timer);
    }
    approver_.Cancel(removal->approval_id, reason);
  }
  return request;
}

void Mediator::AddWaiting(std::unique_ptr<Request> request) noexcept {
  const RequestId id = request->id;
  if (request->kind != Kind::kName) waiting_by_tid_[request->notification.tid] = id;
  waiting_.emplace(id, std::move(request));
  EnsureSweep();
}

void Mediator::EnsureSweep() noexcept {
  if (sweep_ != nullptr) return;
  sweep_ = UvHandle<uv_timer_t>::Create();
  uv_timer_init(loop_, sweep_->Get());
  sweep_->Bind(this);
  uv_timer_start(
      sweep_->Get(),
      [](uv_timer_t* t) { static_cast<Mediator*>(UvHandle<uv_timer_t>::From(t)->Owner())->Sweep(); },
      kSweepInterval.count(), kSweepInterval.count());
}

std::unique_ptr<Mediator::Request> Mediator::TakeWaiting(RequestId id) noexcept {
  auto node = waiting_.extract(id);
  if (node.empty()) return nullptr;
  auto request = std::move(node.mapped());
  if (auto it = waiting_by_tid_.find(request->notification.tid);
      it != waiting_by_tid_.end() && it->second == id) {
    waiting_by_tid_.erase(it);
  }
  return request;
}

void Mediator::DropInterrupted(RequestId id) noexcept {
  // The kernel has answered it already (EINTR, or a restart as a new notification): no
  // decision, no record, and our copy of the socket goes now.
  if (Withdraw(id, approvals::CancelReason::kInterrupted)) {
    spdlog::debug("request {}: its syscall was interrupted; dropped", id);
  }
}

void Mediator::Sweep() noexcept {
  // What a signal interrupted and the thread never made again: found here. Only when it was
  // dead at two sweeps in a row: a restart comes microseconds after the signal handler, and a
  // request caught in between must keep its prompt for that restart to join.
  std::vector<RequestId> dead;
  for (const auto& [id, request] : waiting_) {
    if (request->kind == Kind::kName || listener_->IdValid(request->notification.id)) continue;
    if (request->seen_dead) dead.push_back(id);
    request->seen_dead = true;
  }
  for (RequestId id : dead) DropInterrupted(id);
  answered_.Expire(Clock::now());
  if (waiting_.empty() && answered_.Empty()) {
    sweep_->Close();
    sweep_ = nullptr;
  }
}

void Mediator::KeepForRestart(const Request& request, base::UniqueFd carried,
                              std::int64_t result) noexcept {
  AnsweredAttempt attempt;
  attempt.signature = SignatureOf(request);
  attempt.decision = request.decided->decision;
  attempt.source = request.decided->source;
  attempt.rule = request.decided->rule;
  attempt.proxy = request.decided->proxy;
  attempt.approval_id = request.approval_id;
  attempt.recorded = true;
  attempt.carried = std::move(carried);
  attempt.result = result;
  answered_.Remember(request.notification.tid, std::move(attempt));
  EnsureSweep();
}

void Mediator::Resume(std::unique_ptr<Request> request, AnsweredAttempt answered) noexcept {
  spdlog::debug("request {}: the restart of an attempt answered already", request->id);
  request->approval_id = answered.approval_id;
  if (!answered.recorded) {
    return Carry(std::move(request), answered.decision, answered.source, std::move(answered.rule),
                 std::move(answered.proxy));
  }
  request->decided =
      Request::Decided{answered.decision, answered.source, answered.rule, answered.proxy, {}};
  if (!answered.carried) return CarryOut(std::move(request));
  switch (Place(*request, answered.carried)) {
    case Placed::kInterrupted:
      answered_.Remember(request->notification.tid, std::move(answered));
      return EnsureSweep();
    case Placed::kFailed:
      return;
    case Placed::kYes:
      break;
  }
  Answer(*request, answered.result, answered.carried.Get());
}

}  // namespace sandgate::supervisor
