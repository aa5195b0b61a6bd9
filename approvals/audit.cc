#include "approvals/audit.h"

#include <cstddef>
#include <string>

#include "approvals/protocol.h"

namespace sandgate::approvals {
namespace {

constexpr double kMicrosPerMilli = 1000.0;

// `value` in decimal, zero-padded to `width` digits. Every field here is non-negative (years
// before 0 are not something an audit log will see).
template <typename Int>
void AppendPadded(Int value, std::size_t width, std::string& out) {
  const std::string digits = std::to_string(value);
  if (digits.size() < width) {
    out.append(width - digits.size(), '0');
  }
  out += digits;
}

}  // namespace

std::string FormatRfc3339Millis(std::chrono::system_clock::time_point time) {
  using std::chrono::days;
  using std::chrono::floor;
  using std::chrono::milliseconds;
  // floor, not duration_cast: for times before 1970 truncation would round toward the epoch.
  const auto ms = floor<milliseconds>(time);
  const auto day = floor<days>(ms);
  const std::chrono::year_month_day date{day};
  const std::chrono::hh_mm_ss clock{ms - day};
  std::string out;
  AppendPadded(static_cast<int>(date.year()), 4, out);
  out += '-';
  AppendPadded(static_cast<unsigned>(date.month()), 2, out);
  out += '-';
  AppendPadded(static_cast<unsigned>(date.day()), 2, out);
  out += 'T';
  AppendPadded(clock.hours().count(), 2, out);
  out += ':';
  AppendPadded(clock.minutes().count(), 2, out);
  out += ':';
  AppendPadded(clock.seconds().count(), 2, out);
  out += '.';
  AppendPadded(clock.subseconds().count(), 3, out);
  out += 'Z';
  return out;
}

nlohmann::ordered_json AuditRecord(const AuditEntry& entry) {
  nlohmann::ordered_json record;
  record["time"] = FormatRfc3339Millis(entry.time);
  record["pid"] = entry.pid;
  record["exe"] = entry.exe;
  record["destination"] = nlohmann::ordered_json(DestinationToJson(entry.destination));
  record["decision"] = DecisionName(entry.decision);
  record["source"] = DecisionSourceName(entry.source);
  record["rule"] = entry.rule ? nlohmann::ordered_json(*entry.rule) : nullptr;
  record["approvalId"] = entry.approval_id ? nlohmann::ordered_json(*entry.approval_id) : nullptr;
  record["latencyMs"] = static_cast<double>(entry.latency.count()) / kMicrosPerMilli;
  if (entry.proxy) record["proxy"] = *entry.proxy;
  return record;
}

std::string AuditLine(const AuditEntry& entry) {
  // Replace instead of throwing: exe paths may hold any bytes, and the record must be written.
  return AuditRecord(entry).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace sandgate::approvals
