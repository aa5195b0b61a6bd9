#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "approvals/decision.h"
#include "approvals/destination.h"
#include "approvals/problem.h"

namespace sandgate::approvals {

// Messages sandgate sends to its controller (SPEC "Protocol"), as JSON-RPC params objects;
// wrap them with MakeRequest / MakeNotification (jsonrpc.h). The Parse* functions here are the
// controller's side of the same messages: tests and C++ controllers use them, and they keep
// each encoder honest through round trips.

inline constexpr int kProtocolVersion = 1;

// sandgate -> controller
inline constexpr std::string_view kMethodSandboxStarted = "sandbox/started";
inline constexpr std::string_view kMethodRequestApproval = "network/requestApproval";
inline constexpr std::string_view kMethodDecision = "network/decision";
inline constexpr std::string_view kMethodApprovalCancelled = "network/approvalCancelled";
inline constexpr std::string_view kMethodProcessOutput = "process/output";
inline constexpr std::string_view kMethodSandboxExited = "sandbox/exited";
// controller -> sandgate
inline constexpr std::string_view kMethodTerminate = "sandbox/terminate";
inline constexpr std::string_view kMethodPolicyUpdate = "policy/update";
inline constexpr std::string_view kMethodWriteStdin = "process/writeStdin";
// The methods sandgate answers; pass to ClassifyLine.
inline constexpr std::array<std::string_view, 3> kControllerMethods = {
    kMethodTerminate, kMethodPolicyUpdate, kMethodWriteStdin};

// {"host": string|null, "names": [string], "address": string|null, "port": int|null, "protocol",
// "family": "inet"|"inet6"|"unix", "path": (unix only; an abstract name is written "@name")}.
// "family" is the family of the normalized address: a v4-mapped IPv6 destination reports
// "inet". "names" is always written (possibly empty); the parser takes it as optional.
[[nodiscard]] nlohmann::json DestinationToJson(const Destination& destination);
[[nodiscard]] std::variant<Destination, Problem> DestinationFromJson(const nlohmann::json& json);

struct ProcessInfo {
  int pid = 0;
  std::string exe;
  std::vector<std::string> argv;
  std::string cwd;

  friend bool operator==(const ProcessInfo&, const ProcessInfo&) = default;
};

struct ApprovalRequest {
  std::string approval_id;
  ProcessInfo process;
  Destination destination;
  std::string reason = "not_allowed";
  std::vector<std::string> available_decisions;

  friend bool operator==(const ApprovalRequest&, const ApprovalRequest&) = default;
};

// Every decision name a controller may answer with, in SPEC order.
[[nodiscard]] std::vector<std::string> AllDecisionNames();

[[nodiscard]] nlohmann::json ApprovalRequestParams(const ApprovalRequest& request);
[[nodiscard]] std::variant<ApprovalRequest, Problem> ParseApprovalRequestParams(
    const nlohmann::json& params);

// network/decision. "approvalId" and "rule" are left out when absent, as SPEC says "when".
struct DecisionNotice {
  std::optional<std::string> approval_id;
  int pid = 0;
  Destination destination;
  Decision decision = Decision::kDeny;
  DecisionSource source = DecisionSource::kDefault;
  std::optional<std::string> rule;
  std::optional<std::string> proxy;  // route: the proxy used, password redacted
};

[[nodiscard]] nlohmann::json DecisionNoticeParams(const DecisionNotice& notice);

// kInterrupted: the held syscall was interrupted by a signal and not made again for the same
// destination (the thread went on to something else): nobody waits for the answer any more.
enum class CancelReason { kProcessExited, kTimeout, kInterrupted };

[[nodiscard]] nlohmann::json ApprovalCancelledParams(std::string_view approval_id,
                                                     CancelReason reason);

struct StartedInfo {
  int pid = 0;
  std::string pipeline;  // "bwrap" or "legacy"
  std::string network;   // "off", "approve" or "on"
};

[[nodiscard]] nlohmann::json SandboxStartedParams(const StartedInfo& info);

struct ExitInfo {
  int exit_code = 0;
  std::optional<int> signal;  // the signal the command died of
};

// "signal" is the signal's name ("SIGKILL") or null.
[[nodiscard]] nlohmann::json SandboxExitedParams(const ExitInfo& info);

enum class OutputStream { kStdout, kStderr };

struct ProcessOutput {
  OutputStream stream = OutputStream::kStdout;
  std::string data;  // raw bytes

  friend bool operator==(const ProcessOutput&, const ProcessOutput&) = default;
};

// "data" is the text itself when it is valid UTF-8, else base64 with "encoding":"base64".
[[nodiscard]] nlohmann::json ProcessOutputParams(const ProcessOutput& output);
[[nodiscard]] std::variant<ProcessOutput, Problem> ParseProcessOutputParams(
    const nlohmann::json& params);

}  // namespace sandgate::approvals
