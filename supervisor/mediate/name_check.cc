// DNS names the forwarder asks about: refused by deny rules, asked about in --dns-strict mode.
#include "supervisor/mediate/mediator.h"


#include <cerrno>

#include "approvals/protocol.h"
#include "supervisor/mediate/answered_attempts.h"
#include "supervisor/mediate/request.h"

namespace sandgate::supervisor {
namespace {

using approvals::Decision;
using approvals::DecisionSource;
using Clock = std::chrono::steady_clock;

}  // namespace

void Mediator::CheckName(const NameQuestion& question,
                         std::function<void(NameVerdict)> done) noexcept {
  // One memory for both transports: a name is a name, whichever way it is asked.
  approvals::Destination asked;
  asked.host = question.name;
  asked.port = 53;
  asked.protocol = approvals::Protocol::kUdp;
  auto refuse = [&](DecisionSource source, std::optional<std::string> rule) {
    Request record;
    record.kind = Kind::kName;
    record.received = Clock::now();
    record.destination = asked;
    Record(record, Decision::kDeny, source, rule);
    ExplainDenial(record, source, rule, std::nullopt);  // before the answer the resolver reports
    done(NameVerdict::kRefuse);
  };
  auto name = engine_.DecideName(question.name);
  if (name.refuse) return refuse(DecisionSource::kPolicy, name.rule);
  if (!options_.dns_strict) return done(NameVerdict::kResolve);
  auto decision = engine_.Decide(asked);
  const auto source = decision.source == approvals::RuleOrigin::kSession ? DecisionSource::kSession
                                                                         : DecisionSource::kPolicy;
  if (decision.verdict == approvals::Verdict::kDeny) return refuse(source, decision.rule);
  if (decision.verdict != approvals::Verdict::kAsk || name.covered) {
    return done(NameVerdict::kResolve);
  }
  auto request = std::make_unique<Request>();
  request->id = next_request_++;
  request->kind = Kind::kName;
  request->received = Clock::now();
  request->destination = asked;
  request->on_name_decided = [done = std::move(done)](bool resolve) {
    done(resolve ? NameVerdict::kResolve : NameVerdict::kRefuse);
  };
  Mediate(std::move(request));
}

}  // namespace sandgate::supervisor
