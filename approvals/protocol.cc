#include "approvals/protocol.h"

#include <cstdint>
#include <utility>

#include "approvals/base64.h"
#include "approvals/json_util.h"
#include "approvals/signals.h"
#include "approvals/utf8.h"

namespace sandgate::approvals {
namespace {

using nlohmann::json;

// SPEC writes an abstract unix socket as its name after '@', the convention of ss(8) and
// netstat; path-based sockets are absolute, so the two cannot be confused.
constexpr char kAbstractMarker = '@';

json OptionalString(const std::optional<std::string>& value) {
  return value ? json(*value) : json(nullptr);
}

std::string_view FamilyName(const Destination& d) {
  if (d.protocol == Protocol::kUnix) {
    return "unix";
  }
  return d.address && d.address->family() == AddressFamily::kInet6 ? "inet6" : "inet";
}

std::string_view CancelReasonName(CancelReason reason) {
  switch (reason) {
    case CancelReason::kTimeout:
      return "timeout";
    case CancelReason::kInterrupted:
      return "interrupted";
    case CancelReason::kProcessExited:
      break;
  }
  return "process_exited";
}

std::optional<Problem> ReadStringList(const json& object, const char* key,
                                      std::vector<std::string>& out) {
  const json* list = FindMember(object, key);
  if (list == nullptr) {
    return Problem{std::string("missing \"") + key + "\""};
  }
  if (!list->is_array()) {
    return Problem{std::string("\"") + key + "\" must be an array"};
  }
  for (const json& item : *list) {
    if (!item.is_string()) {
      return Problem{std::string("\"") + key + "\" must hold strings"};
    }
    out.push_back(item.get<std::string>());
  }
  return std::nullopt;
}

std::variant<ProcessInfo, Problem> ProcessFromJson(const json& json_process) {
  if (!json_process.is_object()) {
    return Problem{"\"process\" must be an object"};
  }
  ProcessInfo process;
  std::int64_t pid = 0;
  if (auto p = ReadInteger(json_process, "pid", 0, INT32_MAX, pid)) {
    return *p;
  }
  process.pid = static_cast<int>(pid);
  if (auto p = ReadString(json_process, "exe", process.exe)) {
    return *p;
  }
  if (auto p = ReadStringList(json_process, "argv", process.argv)) {
    return *p;
  }
  if (auto p = ReadString(json_process, "cwd", process.cwd)) {
    return *p;
  }
  return process;
}

}  // namespace

json DestinationToJson(const Destination& d) {
  // "names" is always there, if only empty, so a controller never has to tell "none" from "not
  // reported".
  json out = {{"host", OptionalString(d.host)},
              {"names", d.names},
              {"protocol", ProtocolName(d.protocol)},
              {"family", FamilyName(d)}};
  if (d.protocol == Protocol::kUnix) {
    out["address"] = nullptr;
    out["port"] = nullptr;
    if (d.unix_path) {
      out["path"] = *d.unix_path;
    } else if (d.unix_abstract) {
      out["path"] = kAbstractMarker + *d.unix_abstract;
    } else {
      out["path"] = nullptr;  // an unnamed socket
    }
  } else {
    out["address"] = d.address ? json(d.address->ToString()) : json(nullptr);
    out["port"] = d.port;
  }
  return out;
}

std::variant<Destination, Problem> DestinationFromJson(const json& j) {
  if (!j.is_object()) {
    return Problem{"destination must be an object"};
  }
  Destination d;
  std::string protocol;
  if (auto p = ReadString(j, "protocol", protocol)) {
    return *p;
  }
  const auto parsed_protocol = ParseProtocol(protocol);
  if (!parsed_protocol) {
    return Problem{"unknown protocol \"" + protocol + "\""};
  }
  d.protocol = *parsed_protocol;

  if (const json* host = FindMember(j, "host"); host != nullptr && !host->is_null()) {
    if (!host->is_string()) {
      return Problem{"\"host\" must be a string or null"};
    }
    d.host = host->get<std::string>();
  }
  // Optional: destinations written before "names" existed (old logs, hand-written tests).
  if (const json* names = FindMember(j, "names"); names != nullptr && !names->is_null()) {
    if (auto p = ReadStringList(j, "names", d.names)) {
      return *p;
    }
  }
  if (d.protocol == Protocol::kUnix) {
    if (const json* path = FindMember(j, "path"); path != nullptr && !path->is_null()) {
      if (!path->is_string()) {
        return Problem{"\"path\" must be a string or null"};
      }
      const auto& text = path->get_ref<const std::string&>();
      if (!text.empty() && text.front() == kAbstractMarker) {
        d.unix_abstract = text.substr(1);
      } else {
        d.unix_path = text;
      }
    }
    return d;
  }
  if (const json* address = FindMember(j, "address"); address != nullptr && !address->is_null()) {
    if (!address->is_string()) {
      return Problem{"\"address\" must be a string or null"};
    }
    d.address = Address::Parse(address->get_ref<const std::string&>());
    if (!d.address) {
      return Problem{"invalid address \"" + address->get<std::string>() + "\""};
    }
  }
  std::int64_t port = 0;
  if (auto p = ReadInteger(j, "port", 0, 65535, port)) {
    return *p;
  }
  d.port = static_cast<std::uint16_t>(port);
  return d;
}

std::vector<std::string> AllDecisionNames() {
  return {"accept", "acceptForSession",           "decline", "declineForSession", "cancel",
          "route",  "applyNetworkPolicyAmendment"};
}

json ApprovalRequestParams(const ApprovalRequest& request) {
  return {{"approvalId", request.approval_id},
          {"process",
           {{"pid", request.process.pid},
            {"exe", request.process.exe},
            {"argv", request.process.argv},
            {"cwd", request.process.cwd}}},
          {"destination", DestinationToJson(request.destination)},
          {"reason", request.reason},
          {"availableDecisions", request.available_decisions}};
}

std::variant<ApprovalRequest, Problem> ParseApprovalRequestParams(const json& params) {
  ApprovalRequest request;
  if (auto p = ReadString(params, "approvalId", request.approval_id)) {
    return *p;
  }
  const json* process = FindMember(params, "process");
  if (process == nullptr) {
    return Problem{"missing \"process\""};
  }
  auto parsed_process = ProcessFromJson(*process);
  if (auto* p = std::get_if<Problem>(&parsed_process)) {
    return *p;
  }
  request.process = std::move(std::get<ProcessInfo>(parsed_process));
  const json* destination = FindMember(params, "destination");
  if (destination == nullptr) {
    return Problem{"missing \"destination\""};
  }
  auto parsed_destination = DestinationFromJson(*destination);
  if (auto* p = std::get_if<Problem>(&parsed_destination)) {
    return *p;
  }
  request.destination = std::move(std::get<Destination>(parsed_destination));
  if (auto p = ReadString(params, "reason", request.reason)) {
    return *p;
  }
  if (auto p = ReadStringList(params, "availableDecisions", request.available_decisions)) {
    return *p;
  }
  return request;
}

json DecisionNoticeParams(const DecisionNotice& notice) {
  json out = {{"process", {{"pid", notice.pid}}},
              {"destination", DestinationToJson(notice.destination)},
              {"decision", DecisionName(notice.decision)},
              {"source", DecisionSourceName(notice.source)}};
  if (notice.approval_id) {
    out["approvalId"] = *notice.approval_id;
  }
  if (notice.rule) {
    out["rule"] = *notice.rule;
  }
  if (notice.proxy) {
    out["proxy"] = *notice.proxy;
  }
  return out;
}

json ApprovalCancelledParams(std::string_view approval_id, CancelReason reason) {
  return {{"approvalId", approval_id}, {"reason", CancelReasonName(reason)}};
}

json SandboxStartedParams(const StartedInfo& info) {
  return {{"protocolVersion", kProtocolVersion},
          {"pid", info.pid},
          {"pipeline", info.pipeline},
          {"network", info.network}};
}

json SandboxExitedParams(const ExitInfo& info) {
  json signal = nullptr;
  if (info.signal) {
    const auto name = SignalName(*info.signal);
    signal = name ? json(*name) : json("SIG" + std::to_string(*info.signal));
  }
  return {{"exitCode", info.exit_code}, {"signal", std::move(signal)}};
}

json ProcessOutputParams(const ProcessOutput& output) {
  json out = {{"stream", output.stream == OutputStream::kStderr ? "stderr" : "stdout"}};
  if (IsValidUtf8(output.data)) {
    out["data"] = output.data;
  } else {
    out["data"] = Base64Encode(output.data);
    out["encoding"] = "base64";
  }
  return out;
}

std::variant<ProcessOutput, Problem> ParseProcessOutputParams(const json& params) {
  if (auto p = CheckMembers(params, {"stream", "data", "encoding"})) {
    return *p;
  }
  ProcessOutput output;
  std::string stream;
  if (auto p = ReadString(params, "stream", stream)) {
    return *p;
  }
  if (stream == "stdout") {
    output.stream = OutputStream::kStdout;
  } else if (stream == "stderr") {
    output.stream = OutputStream::kStderr;
  } else {
    return Problem{"unknown stream \"" + stream + "\""};
  }
  if (auto p = ReadString(params, "data", output.data)) {
    return *p;
  }
  if (auto p = DecodeDataEncoding(params, output.data)) {
    return *p;
  }
  return output;
}

}  // namespace sandgate::approvals
