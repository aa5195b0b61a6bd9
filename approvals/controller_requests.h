#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "approvals/policy.h"
#include "approvals/problem.h"

namespace sandgate::approvals {

// Params checks for the requests a controller sends (SPEC "controller -> sandgate"). A Problem
// is answered with ErrorResponseLine(id, kInvalidParams, problem.what).

// sandbox/terminate {"signal"?: "SIGTERM" | "TERM" | 15}; SIGTERM when absent.
struct TerminateRequest {
  int signal = 0;
};
[[nodiscard]] std::variant<TerminateRequest, Problem> ParseTerminateParams(
    const nlohmann::json& params);

// policy/update {"allow"?, "deny"?, "route"?: [RULE...]}. All rules parse or none is applied.
[[nodiscard]] std::variant<RuleLists, Problem> ParsePolicyUpdateParams(
    const nlohmann::json& params);

// process/writeStdin {"data"?: string, "encoding"?: "base64", "close"?: bool}; at least one of
// data and close. "encoding" mirrors process/output so binary input can be written too.
struct WriteStdinRequest {
  std::string data;    // raw bytes
  bool close = false;  // close the command's stdin after writing `data`
};
[[nodiscard]] std::variant<WriteStdinRequest, Problem> ParseWriteStdinParams(
    const nlohmann::json& params);

}  // namespace sandgate::approvals
