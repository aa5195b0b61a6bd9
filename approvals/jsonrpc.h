#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace sandgate::approvals {

// SPEC: a line over 1 MiB is answered with -32600 and otherwise ignored.
inline constexpr std::size_t kMaxLineBytes = std::size_t{1} << 20;
// Deeper nesting is refused before parsing; no sandgate message needs more than a few levels,
// and it keeps a hostile controller from making every later step walk a deep tree.
inline constexpr std::size_t kMaxNestingDepth = 64;

inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;

struct RpcError {
  int code = 0;
  std::string message;
  nlohmann::json data;  // null when absent
};

// A request from the peer; it expects a response with the same id (a string or an integer).
struct RpcRequest {
  nlohmann::json id;
  std::string method;
  nlohmann::json params;  // object or array; null when absent
};

struct RpcNotification {
  std::string method;
  nlohmann::json params;
};

// A response to one of our requests. `outcome` holds the result, or the error. A malformed
// response (wrong "jsonrpc", both or neither of result/error, a malformed error object) is
// reported as an error too, so the request it answers is declined rather than left hanging.
struct RpcResponse {
  nlohmann::json id;  // string, integer, or null (the peer could not read our request's id)
  std::variant<nlohmann::json, RpcError> outcome;

  [[nodiscard]] bool ok() const { return outcome.index() == 0; }
};

// The line was bad; `line` is the exact JSON-RPC error response to send back (no newline).
struct RpcErrorReply {
  int code = 0;
  std::string line;
};

// Nothing to send: a blank line, or a notification that is unknown or malformed (JSON-RPC never
// answers notifications). `reason` is for the log.
struct RpcIgnored {
  std::string reason;
};

using IncomingMessage =
    std::variant<RpcRequest, RpcNotification, RpcResponse, RpcErrorReply, RpcIgnored>;

// Classifies one input line (a trailing "\n" or "\r\n" is ignored). Requests for a method not
// in `known_methods` get -32601; a "params" that is neither object nor array gets -32602. Checks
// of each method's params are the caller's, answered with ErrorResponseLine(id, kInvalidParams).
[[nodiscard]] IncomingMessage ClassifyLine(std::string_view line,
                                           std::span<const std::string_view> known_methods,
                                           std::size_t max_line_bytes = kMaxLineBytes);

// The reply to a line that was too long, for transports that drop an oversized line while
// reading it instead of buffering it whole.
[[nodiscard]] RpcErrorReply OversizedLineReply(std::size_t max_line_bytes = kMaxLineBytes);

// {"error":{"code":..,"message":<standard text>,"data":detail},"id":id,"jsonrpc":"2.0"} as one
// line; "data" is left out when `detail` is empty.
[[nodiscard]] std::string ErrorResponseLine(const nlohmann::json& id, int code,
                                            std::string_view detail);

[[nodiscard]] nlohmann::json MakeRequest(const nlohmann::json& id, std::string_view method,
                                         nlohmann::json params);
[[nodiscard]] nlohmann::json MakeNotification(std::string_view method, nlohmann::json params);
[[nodiscard]] nlohmann::json MakeResultResponse(const nlohmann::json& id, nlohmann::json result);

// Compact single-line JSON without a trailing newline. Never throws: bytes that are not UTF-8
// (argv and paths can hold any bytes) are replaced with U+FFFD instead of aborting the message.
[[nodiscard]] std::string ToLine(const nlohmann::json& message);

}  // namespace sandgate::approvals
