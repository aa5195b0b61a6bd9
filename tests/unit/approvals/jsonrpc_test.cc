#include "approvals/jsonrpc.h"

#include <gtest/gtest.h>

#include <string>

#include "approvals/protocol.h"

namespace sandgate::approvals {
namespace {

using nlohmann::json;

IncomingMessage Classify(std::string_view line) { return ClassifyLine(line, kControllerMethods); }

// The error reply for a line, parsed back; fails the test when the line was no error.
json ErrorReplyFor(std::string_view line, std::size_t max = kMaxLineBytes) {
  const IncomingMessage message = ClassifyLine(line, kControllerMethods, max);
  const auto* reply = std::get_if<RpcErrorReply>(&message);
  if (reply == nullptr) {
    ADD_FAILURE() << "no error reply for: " << line.substr(0, 200);
    return json();
  }
  json parsed = json::parse(reply->line);
  EXPECT_EQ(parsed["jsonrpc"], "2.0");
  EXPECT_EQ(parsed["error"]["code"], reply->code);
  EXPECT_EQ(reply->line.find('\n'), std::string::npos);
  return parsed;
}

TEST(JsonRpcTest, Request) {
  const IncomingMessage m = Classify(
      R"({"jsonrpc":"2.0","id":7,"method":"sandbox/terminate","params":{"signal":"SIGKILL"}})");
  const auto* request = std::get_if<RpcRequest>(&m);
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(request->id, 7);
  EXPECT_EQ(request->method, "sandbox/terminate");
  EXPECT_EQ(request->params, json({{"signal", "SIGKILL"}}));
}

TEST(JsonRpcTest, RequestWithStringIdNoParamsAndCrLf) {
  const IncomingMessage m =
      Classify("{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"sandbox/terminate\"}\r\n");
  const auto* request = std::get_if<RpcRequest>(&m);
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(request->id, "x");
  EXPECT_TRUE(request->params.is_null());
}

TEST(JsonRpcTest, Notification) {
  const IncomingMessage m =
      Classify(R"({"jsonrpc":"2.0","method":"process/writeStdin","params":{"data":"hi"}})");
  const auto* notification = std::get_if<RpcNotification>(&m);
  ASSERT_NE(notification, nullptr);
  EXPECT_EQ(notification->method, "process/writeStdin");
  EXPECT_EQ(notification->params["data"], "hi");
}

TEST(JsonRpcTest, ParseError) {
  for (const std::string_view bad : {"{not json", "{\"jsonrpc\":\"2.0\",", "}", "{\"a\":1}{", "nul",
                                     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\xff\"}"}) {
    const json reply = ErrorReplyFor(bad);
    EXPECT_EQ(reply["error"]["code"], kParseError) << bad;
    EXPECT_EQ(reply["error"]["message"], "Parse error");
    EXPECT_TRUE(reply["id"].is_null());
  }
}

TEST(JsonRpcTest, ExactParseErrorLine) {
  const IncomingMessage m = Classify("{]");
  ASSERT_TRUE(std::holds_alternative<RpcErrorReply>(m));
  EXPECT_EQ(std::get<RpcErrorReply>(m).line,
            R"({"error":{"code":-32700,"data":"invalid JSON at byte 2","message":"Parse error"},)"
            R"("id":null,"jsonrpc":"2.0"})");
}

TEST(JsonRpcTest, MethodNotFound) {
  const IncomingMessage m = Classify(R"({"jsonrpc":"2.0","id":3,"method":"foo/bar"})");
  ASSERT_TRUE(std::holds_alternative<RpcErrorReply>(m));
  EXPECT_EQ(std::get<RpcErrorReply>(m).code, kMethodNotFound);
  EXPECT_EQ(std::get<RpcErrorReply>(m).line,
            R"({"error":{"code":-32601,"data":"foo/bar","message":"Method not found"},)"
            R"("id":3,"jsonrpc":"2.0"})");
  // The same as a notification gets no answer.
  EXPECT_TRUE(std::holds_alternative<RpcIgnored>(Classify(R"({"jsonrpc":"2.0","method":"foo"})")));
}

TEST(JsonRpcTest, InvalidParamsShape) {
  const json reply =
      ErrorReplyFor(R"({"jsonrpc":"2.0","id":"q","method":"policy/update","params":"allow"})");
  EXPECT_EQ(reply["error"]["code"], kInvalidParams);
  EXPECT_EQ(reply["error"]["message"], "Invalid params");
  EXPECT_EQ(reply["id"], "q");
  EXPECT_TRUE(std::holds_alternative<RpcIgnored>(
      Classify(R"({"jsonrpc":"2.0","method":"policy/update","params":5})")));
}

TEST(JsonRpcTest, InvalidRequests) {
  struct Case {
    std::string_view line;
    json id;
  };
  const Case cases[] = {
      {"[]", nullptr},
      {R"([{"jsonrpc":"2.0","id":1,"method":"sandbox/terminate"}])", nullptr},
      {"42", nullptr},
      {R"("text")", nullptr},
      {R"({"jsonrpc":"1.0","id":1,"method":"sandbox/terminate"})", 1},
      {R"({"id":1,"method":"sandbox/terminate"})", 1},
      {R"({"jsonrpc":"2.0","id":1.5,"method":"sandbox/terminate"})", nullptr},
      {R"({"jsonrpc":"2.0","id":null,"method":"sandbox/terminate"})", nullptr},
      {R"({"jsonrpc":"2.0","id":{"a":1},"method":"sandbox/terminate"})", nullptr},
      {R"({"jsonrpc":"2.0","id":1,"method":5})", 1},
      {R"({"jsonrpc":"2.0","id":"z"})", "z"},
      {"{}", nullptr},
  };
  for (const Case& c : cases) {
    const json reply = ErrorReplyFor(c.line);
    EXPECT_EQ(reply["error"]["code"], kInvalidRequest) << c.line;
    EXPECT_EQ(reply["error"]["message"], "Invalid Request") << c.line;
    EXPECT_EQ(reply["id"], c.id) << c.line;
  }
}

TEST(JsonRpcTest, OversizedLine) {
  const std::string line = R"({"jsonrpc":"2.0","id":1,"method":"sandbox/terminate"})";
  const json reply = ErrorReplyFor(line, line.size() - 1);
  EXPECT_EQ(reply["error"]["code"], kInvalidRequest);
  EXPECT_EQ(reply["error"]["data"],
            "line longer than " + std::to_string(line.size() - 1) + " bytes");
  EXPECT_TRUE(reply["id"].is_null());
  // Exactly at the limit is fine; the newline does not count.
  EXPECT_TRUE(std::holds_alternative<RpcRequest>(
      ClassifyLine(line + "\n", kControllerMethods, line.size())));

  // The default limit is 1 MiB.
  const std::string huge = "\"" + std::string(kMaxLineBytes, 'a') + "\"";
  EXPECT_EQ(ErrorReplyFor(huge)["error"]["data"], "line longer than 1048576 bytes");
  EXPECT_EQ(json::parse(OversizedLineReply().line),
            json::parse(std::get<RpcErrorReply>(Classify(huge)).line));
}

TEST(JsonRpcTest, DeepNestingIsRefusedBeforeParsing) {
  std::string deep = R"({"jsonrpc":"2.0","id":1,"method":"policy/update","params":)";
  for (std::size_t i = 0; i < kMaxNestingDepth; ++i) {
    deep += "[";
  }
  for (std::size_t i = 0; i < kMaxNestingDepth; ++i) {
    deep += "]";
  }
  deep += "}";
  EXPECT_EQ(ErrorReplyFor(deep)["error"]["code"], kInvalidRequest);
  // The envelope is readable: the error carries the request's own id.
  EXPECT_EQ(ErrorReplyFor(deep)["id"], 1);
  // Brackets inside strings do not count.
  const std::string in_string =
      R"({"jsonrpc":"2.0","id":1,"method":"policy/update","params":{"allow":[")" +
      std::string(200, '[') + R"("]}})";
  EXPECT_TRUE(std::holds_alternative<RpcRequest>(Classify(in_string)));
}

// 100,000 levels inside params, well under the 1 MiB line limit: refused without recursion,
// answered with the request's id; an unreadable envelope or an unusable id gives null.
TEST(JsonRpcTest, VeryDeepParamsGetTheirErrorWithTheirOwnId) {
  auto nested = [](const std::string& head, std::size_t levels) {
    return head + std::string(levels, '[') + std::string(levels, ']') + "}";
  };
  const auto deep = nested(R"({"jsonrpc":"2.0","id":"req-7","method":"policy/update","params":)",
                           100000);
  ASSERT_LT(deep.size(), kMaxLineBytes);
  json reply = ErrorReplyFor(deep);
  EXPECT_EQ(reply["id"], "req-7");
  EXPECT_EQ(reply["error"]["code"], kInvalidRequest);
  EXPECT_TRUE(ErrorReplyFor(nested(R"({"jsonrpc":"2.0","id":[1],"method":"x","params":)", 100000))
                  ["id"]
                      .is_null());
  EXPECT_TRUE(ErrorReplyFor(std::string(100000, '[')).contains("id"));
  EXPECT_TRUE(ErrorReplyFor(std::string(100000, '['))["id"].is_null());
}

TEST(JsonRpcTest, BlankLinesAreIgnored) {
  EXPECT_TRUE(std::holds_alternative<RpcIgnored>(Classify("")));
  EXPECT_TRUE(std::holds_alternative<RpcIgnored>(Classify("   \r\n")));
}

TEST(JsonRpcTest, Responses) {
  const IncomingMessage ok =
      Classify(R"({"jsonrpc":"2.0","id":"a1","result":{"decision":"accept"}})");
  const auto* response = std::get_if<RpcResponse>(&ok);
  ASSERT_NE(response, nullptr);
  EXPECT_TRUE(response->ok());
  EXPECT_EQ(response->id, "a1");
  EXPECT_EQ(std::get<json>(response->outcome)["decision"], "accept");

  const IncomingMessage null_result = Classify(R"({"jsonrpc":"2.0","id":4,"result":null})");
  ASSERT_TRUE(std::holds_alternative<RpcResponse>(null_result));
  EXPECT_TRUE(std::get<RpcResponse>(null_result).ok());

  const IncomingMessage error = Classify(
      R"({"jsonrpc":"2.0","id":"a2","error":{"code":-32000,"message":"user went away","data":1}})");
  const auto* failed = std::get_if<RpcResponse>(&error);
  ASSERT_NE(failed, nullptr);
  ASSERT_FALSE(failed->ok());
  EXPECT_EQ(std::get<RpcError>(failed->outcome).code, -32000);
  EXPECT_EQ(std::get<RpcError>(failed->outcome).message, "user went away");
  EXPECT_EQ(std::get<RpcError>(failed->outcome).data, 1);

  const IncomingMessage null_id =
      Classify(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}})");
  ASSERT_TRUE(std::holds_alternative<RpcResponse>(null_id));
  EXPECT_TRUE(std::get<RpcResponse>(null_id).id.is_null());
}

TEST(JsonRpcTest, MalformedResponsesBecomeErrors) {
  for (const std::string_view line :
       {R"({"id":"a1","result":{"decision":"accept"}})",
        R"({"jsonrpc":"2.0","id":"a1","result":1,"error":{"code":1,"message":"x"}})",
        R"({"jsonrpc":"2.0","id":"a1","error":"nope"})",
        R"({"jsonrpc":"2.0","id":"a1","error":{"code":"1","message":"x"}})"}) {
    const IncomingMessage m = Classify(line);
    const auto* response = std::get_if<RpcResponse>(&m);
    ASSERT_NE(response, nullptr) << line;
    EXPECT_EQ(response->id, "a1");
    ASSERT_FALSE(response->ok()) << line;
    EXPECT_EQ(std::get<RpcError>(response->outcome).code, kInvalidRequest);
  }
  EXPECT_TRUE(
      std::holds_alternative<RpcIgnored>(Classify(R"({"jsonrpc":"2.0","id":[1],"result":{}})")));
}

TEST(JsonRpcTest, Builders) {
  EXPECT_EQ(ToLine(MakeNotification("x/y", {{"a", 1}})),
            R"({"jsonrpc":"2.0","method":"x/y","params":{"a":1}})");
  EXPECT_EQ(ToLine(MakeRequest("a1", "x/y", json::object())),
            R"({"id":"a1","jsonrpc":"2.0","method":"x/y","params":{}})");
  EXPECT_EQ(ToLine(MakeResultResponse(5, {{"ok", true}})),
            R"({"id":5,"jsonrpc":"2.0","result":{"ok":true}})");
  EXPECT_EQ(ErrorResponseLine("r", kInvalidParams, ""),
            R"({"error":{"code":-32602,"message":"Invalid params"},"id":"r","jsonrpc":"2.0"})");
}

TEST(JsonRpcTest, ToLineNeverThrowsOnBadUtf8AndStaysOneLine) {
  const json message = MakeNotification("m", {{"argv", {"ok", "bad\xff", "two\nlines"}}});
  std::string line;
  ASSERT_NO_THROW(line = ToLine(message));
  EXPECT_NE(line.find("bad\xef\xbf\xbd"), std::string::npos);  // U+FFFD
  EXPECT_NE(line.find("two\\nlines"), std::string::npos);
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace sandgate::approvals
