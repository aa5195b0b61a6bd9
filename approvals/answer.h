#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "approvals/jsonrpc.h"
#include "approvals/policy.h"
#include "approvals/problem.h"
#include "approvals/rule.h"

namespace sandgate::approvals {

// A controller's answer to network/requestApproval (SPEC: the result is {"decision": D}).
namespace answer {

struct Accept {
  friend bool operator==(const Accept&, const Accept&) = default;
};
struct AcceptForSession {
  friend bool operator==(const AcceptForSession&, const AcceptForSession&) = default;
};
struct Decline {
  friend bool operator==(const Decline&, const Decline&) = default;
};
struct DeclineForSession {
  friend bool operator==(const DeclineForSession&, const DeclineForSession&) = default;
};
// Terminate the sandbox.
struct Cancel {
  friend bool operator==(const Cancel&, const Cancel&) = default;
};
// Route through a proxy; without a URL the --proxy one is used.
struct Route {
  std::optional<std::string> proxy;
  friend bool operator==(const Route&, const Route&) = default;
};
// applyNetworkPolicyAmendment: a rule for the rest of the session (already parsed, so an
// amendment with a bad rule never gets this far: it is declined); with `persist` also saved to
// the policy file for later runs.
struct Amendment {
  Rule rule;
  AmendmentAction action = AmendmentAction::kDeny;
  bool persist = false;
  friend bool operator==(const Amendment&, const Amendment&) = default;
};

}  // namespace answer

using Answer =
    std::variant<answer::Accept, answer::AcceptForSession, answer::Decline,
                 answer::DeclineForSession, answer::Cancel, answer::Route, answer::Amendment>;

// "accept", "route", ... for logs.
[[nodiscard]] std::string_view AnswerName(const Answer& answer);

// Strict: the decision value D itself. For replay files, where a typo must be an error.
[[nodiscard]] std::variant<Answer, Problem> ParseAnswer(const nlohmann::json& decision);

// Lenient, for live responses: a JSON-RPC error, a result without "decision", or an unknown or
// malformed decision all count as Decline (SPEC). `why_declined`, when given, receives the
// reason for such a fallback (and is left alone otherwise), for the log.
[[nodiscard]] Answer AnswerFromResponse(const RpcResponse& response,
                                        std::string* why_declined = nullptr);

// The controller's side: D, and the whole {"decision": D} result.
[[nodiscard]] nlohmann::json AnswerToJson(const Answer& answer);
[[nodiscard]] nlohmann::json ApprovalResult(const Answer& answer);

// "http://..." or "socks5://..." with something after the scheme. The full URL is parsed by
// the supervisor's proxy code; this only keeps obvious garbage from being accepted as a route.
[[nodiscard]] bool LooksLikeProxyUrl(std::string_view url);

}  // namespace sandgate::approvals
