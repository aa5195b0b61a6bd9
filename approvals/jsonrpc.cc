#include "approvals/jsonrpc.h"

#include <algorithm>
#include <exception>
#include <utility>

namespace sandgate::approvals {
namespace {

using nlohmann::json;

constexpr std::string_view kVersion = "2.0";

std::string_view StandardMessage(int code) {
  switch (code) {
    case kParseError:
      return "Parse error";
    case kInvalidRequest:
      return "Invalid Request";
    case kMethodNotFound:
      return "Method not found";
    case kInvalidParams:
      return "Invalid params";
    case kInternalError:
      return "Internal error";
    default:
      return "Server error";
  }
}

RpcErrorReply Reply(const json& id, int code, std::string_view detail) {
  return {code, ErrorResponseLine(id, code, detail)};
}

bool IsBlank(std::string_view line) {
  return std::all_of(line.begin(), line.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

// Deepest [ / { nesting outside of strings. Cheap and safe on any bytes; whether the JSON is
// valid is the parser's business afterwards.
std::size_t NestingDepth(std::string_view line) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : line) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

bool IsValidId(const json& id) { return id.is_string() || id.is_number_integer(); }

// The id of a message too deeply nested to be taken as a whole: read from the top-level object
// alone, every nested value discarded unbuilt (nlohmann's parser keeps its own stack, so depth
// costs a bit per level, not recursion). Null when even the envelope is unreadable.
json EnvelopeId(std::string_view line) {
  try {
    json envelope = json::parse(line, [](int depth, json::parse_event_t event, json&) {
      const bool container = event == json::parse_event_t::object_start ||
                             event == json::parse_event_t::array_start;
      return !(container && depth >= 1);
    });
    if (!envelope.is_object()) return nullptr;
    const auto id = envelope.find("id");
    return id != envelope.end() && IsValidId(*id) ? *id : json(nullptr);
  } catch (const json::exception&) {
    return nullptr;
  }
}

// The id to echo in an error reply: the request's own when it is usable, else null.
json EchoId(const json& message) {
  const auto it = message.find("id");
  if (it != message.end() && IsValidId(*it)) {
    return *it;
  }
  return nullptr;
}

bool HasVersion(const json& message) {
  const auto it = message.find("jsonrpc");
  return it != message.end() && it->is_string() && it->get_ref<const std::string&>() == kVersion;
}

IncomingMessage ClassifyCall(const json& message, std::span<const std::string_view> known_methods) {
  const bool is_request = message.contains("id");
  const json id = EchoId(message);
  if (is_request && !IsValidId(message["id"])) {
    return Reply(nullptr, kInvalidRequest, "\"id\" must be a string or an integer");
  }
  if (!HasVersion(message)) {
    if (!is_request) {
      return RpcIgnored{"notification without \"jsonrpc\":\"2.0\""};
    }
    return Reply(id, kInvalidRequest, "\"jsonrpc\" must be \"2.0\"");
  }
  const json& method = message["method"];
  if (!method.is_string()) {
    if (!is_request) {
      return RpcIgnored{"notification whose method is not a string"};
    }
    return Reply(id, kInvalidRequest, "\"method\" must be a string");
  }
  const std::string& name = method.get_ref<const std::string&>();
  if (std::find(known_methods.begin(), known_methods.end(), name) == known_methods.end()) {
    if (!is_request) {
      return RpcIgnored{"unknown notification " + name};
    }
    return Reply(id, kMethodNotFound, name);
  }
  json params = message.contains("params") ? message["params"] : json();
  if (message.contains("params") && !params.is_object() && !params.is_array()) {
    if (!is_request) {
      return RpcIgnored{"notification " + name + " with params not structured"};
    }
    return Reply(id, kInvalidParams, "\"params\" must be an object or an array");
  }
  if (!is_request) {
    return RpcNotification{name, std::move(params)};
  }
  return RpcRequest{id, name, std::move(params)};
}

RpcResponse MalformedResponse(const json& id, const std::string& detail) {
  return {id, RpcError{kInvalidRequest, "malformed response: " + detail, nullptr}};
}

IncomingMessage ClassifyResponse(const json& message) {
  // A missing id reads as null: nothing of ours can be matched to it, the caller just logs it.
  const json id = message.contains("id") ? message["id"] : json();
  if (!IsValidId(id) && !id.is_null()) {
    return RpcIgnored{"response with an invalid id"};
  }
  const bool has_result = message.contains("result");
  const bool has_error = message.contains("error");
  if (!HasVersion(message)) {
    return MalformedResponse(id, "\"jsonrpc\" must be \"2.0\"");
  }
  if (has_result && has_error) {
    return MalformedResponse(id, "both \"result\" and \"error\"");
  }
  if (has_result) {
    return RpcResponse{id, message["result"]};
  }
  const json& error = message["error"];
  if (!error.is_object() || !error.contains("code") || !error["code"].is_number_integer() ||
      !error.contains("message") || !error["message"].is_string()) {
    return MalformedResponse(id, "\"error\" must be an object with an integer code and a message");
  }
  RpcError parsed{error["code"].get<int>(), error["message"].get<std::string>(),
                  error.contains("data") ? error["data"] : json()};
  return RpcResponse{id, std::move(parsed)};
}

}  // namespace

IncomingMessage ClassifyLine(std::string_view line, std::span<const std::string_view> known_methods,
                             std::size_t max_line_bytes) {
  if (!line.empty() && line.back() == '\n') {
    line.remove_suffix(1);
  }
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  if (line.size() > max_line_bytes) {
    return OversizedLineReply(max_line_bytes);
  }
  if (IsBlank(line)) {
    return RpcIgnored{"blank line"};
  }
  if (NestingDepth(line) > kMaxNestingDepth) {
    return Reply(EnvelopeId(line), kInvalidRequest,
                 "nesting deeper than " + std::to_string(kMaxNestingDepth) + " levels");
  }

  json message;
  try {
    // nlohmann rejects invalid UTF-8 inside strings, which SPEC's "one UTF-8 JSON object per
    // line" makes a parse error too.
    message = json::parse(line);
  } catch (const json::parse_error& e) {
    return Reply(nullptr, kParseError, "invalid JSON at byte " + std::to_string(e.byte));
  }

  try {
    if (message.is_array()) {
      return Reply(nullptr, kInvalidRequest, "batches are not supported");
    }
    if (!message.is_object()) {
      return Reply(nullptr, kInvalidRequest, "expected a JSON object");
    }
    if (message.contains("method")) {
      return ClassifyCall(message, known_methods);
    }
    if (message.contains("result") || message.contains("error")) {
      return ClassifyResponse(message);
    }
    return Reply(EchoId(message), kInvalidRequest, "neither a request nor a response");
  } catch (const std::exception& e) {
    // Every access above is type-checked first; this is the backstop that keeps a malformed
    // message from ever ending sandgate.
    return Reply(nullptr, kInternalError, e.what());
  }
}

RpcErrorReply OversizedLineReply(std::size_t max_line_bytes) {
  return Reply(nullptr, kInvalidRequest,
               "line longer than " + std::to_string(max_line_bytes) + " bytes");
}

std::string ErrorResponseLine(const json& id, int code, std::string_view detail) {
  json error = {{"code", code}, {"message", StandardMessage(code)}};
  if (!detail.empty()) {
    error["data"] = detail;
  }
  return ToLine({{"jsonrpc", kVersion}, {"id", id}, {"error", std::move(error)}});
}

json MakeRequest(const json& id, std::string_view method, json params) {
  return {{"jsonrpc", kVersion}, {"id", id}, {"method", method}, {"params", std::move(params)}};
}

json MakeNotification(std::string_view method, json params) {
  return {{"jsonrpc", kVersion}, {"method", method}, {"params", std::move(params)}};
}

json MakeResultResponse(const json& id, json result) {
  return {{"jsonrpc", kVersion}, {"id", id}, {"result", std::move(result)}};
}

std::string ToLine(const json& message) {
  return message.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace sandgate::approvals
