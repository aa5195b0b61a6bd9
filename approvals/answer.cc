#include "approvals/answer.h"

#include <utility>

#include "approvals/json_util.h"

namespace sandgate::approvals {
namespace {

using nlohmann::json;

constexpr std::string_view kRoute = "route";
constexpr std::string_view kAmendment = "applyNetworkPolicyAmendment";

std::variant<Answer, Problem> ParseRoute(const json& value) {
  if (value.is_null()) {
    return answer::Route{};
  }
  if (auto p = CheckMembers(value, {"proxy"})) {
    return Problem{"\"route\": " + p->what};
  }
  const json* proxy = FindMember(value, "proxy");
  if (proxy == nullptr || proxy->is_null()) {
    return answer::Route{};
  }
  if (!proxy->is_string()) {
    return Problem{"\"route\": \"proxy\" must be a string"};
  }
  const auto& url = proxy->get_ref<const std::string&>();
  if (!LooksLikeProxyUrl(url)) {
    return Problem{"\"route\": proxy \"" + url + "\" is not an http:// or socks5:// URL"};
  }
  return answer::Route{url};
}

std::variant<Answer, Problem> ParseAmendment(const json& value) {
  if (auto p = CheckMembers(value, {"host", "action", "persist"})) {
    return Problem{std::string(kAmendment) + ": " + p->what};
  }
  std::string host;
  std::string action;
  if (auto p = ReadString(value, "host", host)) {
    return Problem{std::string(kAmendment) + ": " + p->what};
  }
  if (auto p = ReadString(value, "action", action)) {
    return Problem{std::string(kAmendment) + ": " + p->what};
  }
  answer::Amendment amendment;
  if (action == "allow") {
    amendment.action = AmendmentAction::kAllow;
  } else if (action == "deny") {
    amendment.action = AmendmentAction::kDeny;
  } else {
    return Problem{std::string(kAmendment) + ": action must be \"allow\" or \"deny\", not \"" +
                   action + "\""};
  }
  auto rule = ParseRule(host);
  if (auto* error = std::get_if<RuleError>(&rule)) {
    return Problem{std::string(kAmendment) + ": " + error->message};
  }
  amendment.rule = std::move(std::get<Rule>(rule));
  if (const json* persist = FindMember(value, "persist"); persist != nullptr) {
    if (!persist->is_boolean()) {
      return Problem{std::string(kAmendment) + ": \"persist\" must be true or false"};
    }
    amendment.persist = persist->get<bool>();
  }
  return amendment;
}

}  // namespace

std::string_view AnswerName(const Answer& answer) {
  struct Namer {
    std::string_view operator()(const answer::Accept&) const { return "accept"; }
    std::string_view operator()(const answer::AcceptForSession&) const {
      return "acceptForSession";
    }
    std::string_view operator()(const answer::Decline&) const { return "decline"; }
    std::string_view operator()(const answer::DeclineForSession&) const {
      return "declineForSession";
    }
    std::string_view operator()(const answer::Cancel&) const { return "cancel"; }
    std::string_view operator()(const answer::Route&) const { return kRoute; }
    std::string_view operator()(const answer::Amendment&) const { return kAmendment; }
  };
  return std::visit(Namer{}, answer);
}

std::variant<Answer, Problem> ParseAnswer(const json& decision) {
  if (decision.is_string()) {
    const auto& name = decision.get_ref<const std::string&>();
    if (name == "accept") {
      return answer::Accept{};
    }
    if (name == "acceptForSession") {
      return answer::AcceptForSession{};
    }
    if (name == "decline") {
      return answer::Decline{};
    }
    if (name == "declineForSession") {
      return answer::DeclineForSession{};
    }
    if (name == "cancel") {
      return answer::Cancel{};
    }
    if (name == kRoute) {
      return answer::Route{};
    }
    return Problem{"unknown decision \"" + name + "\""};
  }
  if (decision.is_object() && decision.size() == 1) {
    const auto it = decision.begin();
    if (it.key() == kRoute) {
      return ParseRoute(it.value());
    }
    if (it.key() == kAmendment) {
      return ParseAmendment(it.value());
    }
    return Problem{"unknown decision \"" + it.key() + "\""};
  }
  return Problem{"a decision must be a string or an object with one member"};
}

Answer AnswerFromResponse(const RpcResponse& response, std::string* why_declined) {
  const auto decline = [&](std::string why) -> Answer {
    if (why_declined != nullptr) {
      *why_declined = std::move(why);
    }
    return answer::Decline{};
  };
  if (const auto* error = std::get_if<RpcError>(&response.outcome)) {
    return decline("JSON-RPC error " + std::to_string(error->code) + ": " + error->message);
  }
  const json& result = std::get<json>(response.outcome);
  const json* decision = FindMember(result, "decision");
  if (decision == nullptr) {
    return decline("result has no \"decision\"");
  }
  auto parsed = ParseAnswer(*decision);
  if (auto* problem = std::get_if<Problem>(&parsed)) {
    return decline(std::move(problem->what));
  }
  return std::get<Answer>(std::move(parsed));
}

json AnswerToJson(const Answer& answer) {
  if (const auto* route = std::get_if<answer::Route>(&answer)) {
    // SPEC's form is the object even without a URL; a bare "route" is accepted on input only.
    if (!route->proxy) {
      return {{kRoute, json::object()}};
    }
    return {{kRoute, {{"proxy", *route->proxy}}}};
  }
  if (const auto* amendment = std::get_if<answer::Amendment>(&answer)) {
    const std::string_view action = amendment->action == AmendmentAction::kAllow ? "allow" : "deny";
    return {{kAmendment,
             {{"host", amendment->rule.text}, {"action", action}, {"persist", amendment->persist}}}};
  }
  return AnswerName(answer);
}

json ApprovalResult(const Answer& answer) { return {{"decision", AnswerToJson(answer)}}; }

bool LooksLikeProxyUrl(std::string_view url) {
  for (const std::string_view scheme :
       {std::string_view("http://"), std::string_view("socks5://")}) {
    if (url.starts_with(scheme) && url.size() > scheme.size()) {
      return true;
    }
  }
  return false;
}

}  // namespace sandgate::approvals
