#include "approvals/controller_requests.h"

#include <csignal>
#include <utility>

#include "approvals/json_util.h"
#include "approvals/signals.h"

namespace sandgate::approvals {
namespace {

using nlohmann::json;

// Linux's highest signal number (SIGRTMAX with glibc); a fixed bound keeps this pure.
constexpr std::int64_t kMaxSignal = 64;

std::optional<Problem> ReadRuleTexts(const json& params, const char* key,
                                     std::vector<std::string>& out) {
  const json* list = FindMember(params, key);
  if (list == nullptr) {
    return std::nullopt;
  }
  if (!list->is_array()) {
    return Problem{std::string("\"") + key + "\" must be an array of rules"};
  }
  for (const json& item : *list) {
    if (!item.is_string()) {
      return Problem{std::string("\"") + key + "\" must hold strings"};
    }
    out.push_back(item.get<std::string>());
  }
  return std::nullopt;
}

}  // namespace

std::variant<TerminateRequest, Problem> ParseTerminateParams(const json& params) {
  TerminateRequest request{SIGTERM};
  if (params.is_null()) {
    return request;
  }
  if (auto p = CheckMembers(params, {"signal"})) {
    return *p;
  }
  const json* signal = FindMember(params, "signal");
  if (signal == nullptr || signal->is_null()) {
    return request;
  }
  if (signal->is_string()) {
    const auto number = SignalNumber(signal->get_ref<const std::string&>());
    if (!number) {
      return Problem{"unknown signal \"" + signal->get<std::string>() + "\""};
    }
    request.signal = *number;
    return request;
  }
  std::int64_t number = 0;
  if (auto p = ReadInteger(params, "signal", 1, kMaxSignal, number)) {
    return Problem{p->what + " (or a name such as \"SIGTERM\")"};
  }
  request.signal = static_cast<int>(number);
  return request;
}

std::variant<RuleLists, Problem> ParsePolicyUpdateParams(const json& params) {
  if (auto p = CheckMembers(params, {"allow", "deny", "route"})) {
    return *p;
  }
  RuleTexts texts;
  if (auto p = ReadRuleTexts(params, "allow", texts.allow)) {
    return *p;
  }
  if (auto p = ReadRuleTexts(params, "deny", texts.deny)) {
    return *p;
  }
  if (auto p = ReadRuleTexts(params, "route", texts.route)) {
    return *p;
  }
  auto lists = ParseRuleLists(texts);
  if (auto* error = std::get_if<RuleError>(&lists)) {
    return Problem{std::move(error->message)};
  }
  return std::get<RuleLists>(std::move(lists));
}

std::variant<WriteStdinRequest, Problem> ParseWriteStdinParams(const json& params) {
  if (auto p = CheckMembers(params, {"data", "encoding", "close"})) {
    return *p;
  }
  WriteStdinRequest request;
  const json* data = FindMember(params, "data");
  const json* close = FindMember(params, "close");
  if (data == nullptr && close == nullptr) {
    return Problem{"expected \"data\" or \"close\""};
  }
  if (close != nullptr) {
    if (!close->is_boolean()) {
      return Problem{"\"close\" must be a boolean"};
    }
    request.close = close->get<bool>();
  }
  if (data != nullptr) {
    if (auto p = ReadString(params, "data", request.data)) {
      return *p;
    }
  }
  if (auto p = DecodeDataEncoding(params, request.data)) {
    return *p;
  }
  return request;
}

}  // namespace sandgate::approvals
