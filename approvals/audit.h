#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "approvals/decision.h"
#include "approvals/destination.h"

namespace sandgate::approvals {

// One mediated attempt, as written to --audit-log when it is decided.
struct AuditEntry {
  std::chrono::system_clock::time_point time;  // when it was decided; passed in for tests
  int pid = 0;
  std::string exe;
  Destination destination;
  Decision decision = Decision::kDeny;
  DecisionSource source = DecisionSource::kDefault;
  std::optional<std::string> rule;
  std::optional<std::string> approval_id;
  std::optional<std::string> proxy;  // route: the proxy used, password redacted
  std::chrono::microseconds latency{0};  // from the held syscall to the decision
};

// "2024-05-01T12:34:56.789Z": RFC 3339, UTC, milliseconds (truncated, never rounded up into
// the next second).
[[nodiscard]] std::string FormatRfc3339Millis(std::chrono::system_clock::time_point time);

// The record with SPEC's fields in SPEC's order (ordered_json, so log lines read the same way
// every time): time, pid, exe, destination, decision, source, rule, approvalId, latencyMs.
// Absent rule/approvalId are null rather than missing, so every line has the same keys.
// latencyMs keeps microsecond precision (e.g. 0.042): policy decisions take well under 1 ms.
[[nodiscard]] nlohmann::ordered_json AuditRecord(const AuditEntry& entry);

// The record as one line, without the newline.
[[nodiscard]] std::string AuditLine(const AuditEntry& entry);

}  // namespace sandgate::approvals
