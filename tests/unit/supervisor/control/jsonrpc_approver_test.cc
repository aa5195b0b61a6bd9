// The JSON-RPC approver over real pipes and a real loop: long because each protocol rule (bad
// input, ids, hang-ups, flushing, stdin writes) has its own case against the same fixture.
#include "supervisor/control/jsonrpc_approver.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "approvals/address.h"
#include "approvals/answer.h"
#include "approvals/base64.h"
#include "approvals/jsonrpc.h"
#include "approvals/protocol.h"
#include "base/unique_fd.h"

#include "tests/helpers/uv_test_loop.h"

namespace sandgate::supervisor {
namespace {

using approvals::Answer;
using approvals::DecisionSource;
using nlohmann::json;
using std::chrono::milliseconds;

constexpr milliseconds kTimeout{5000};

void SetNonBlocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  ASSERT_GE(flags, 0);
  ASSERT_EQ(::fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
}

using testing::RunFor;
using testing::RunUntil;

approvals::ApprovalRequest MakeRequest(const std::string& approval_id) {
  approvals::ApprovalRequest request;
  request.approval_id = approval_id;
  request.process = {4242, "/usr/bin/curl", {"curl", "https://example.com"}, "/work"};
  request.destination.host = "example.com";
  request.destination.address = approvals::Address::Parse("93.184.216.34");
  request.destination.port = 443;
  request.destination.protocol = approvals::Protocol::kTcp;
  request.available_decisions = approvals::AllDecisionNames();
  return request;
}

struct ReplyRecord {
  Answer answer;
  DecisionSource source;
};

// The approver on one side, a scripted controller (this test) on the other.
class JsonRpcApproverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    callbacks_.terminate = [this](int signal) { signals_.push_back(signal); };
    callbacks_.policy_update = [this](approvals::RuleLists lists) -> std::optional<std::string> {
      policies_.push_back(std::move(lists));
      return policy_error_;
    };
    callbacks_.write_stdin = [this](std::string data, bool close) {
      stdin_writes_.emplace_back(std::move(data), close);
    };
    callbacks_.hangup = [this] { ++hangups_; };
  }

  void TearDown() override {
    approver_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  // fd:N mode: one socketpair, the same fd for input and output.
  void StartOnSocketpair(std::size_t max_queued = JsonRpcApprover::kDefaultMaxQueuedBytes) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    base::UniqueFd ours(sv[0]);
    to_approver_ = base::UniqueFd(sv[1]);
    from_approver_ = base::UniqueFd(::fcntl(sv[1], F_DUPFD_CLOEXEC, 0));
    SetNonBlocking(to_approver_.Get());
    approver_ =
        std::make_unique<JsonRpcApprover>(&loop_, ours.Get(), ours.Get(), callbacks_, max_queued);
    const auto status = approver_->Start();
    ASSERT_TRUE(status.Ok()) << status.Err().Message();
    // `ours` closes here: the approver works on its own duplicates.
  }

  // stdio mode: two pipes.
  void StartOnPipes() {
    int in[2];
    int out[2];
    ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
    base::UniqueFd approver_in(in[0]);
    base::UniqueFd approver_out(out[1]);
    to_approver_ = base::UniqueFd(in[1]);
    from_approver_ = base::UniqueFd(out[0]);
    SetNonBlocking(to_approver_.Get());
    approver_ = std::make_unique<JsonRpcApprover>(&loop_, approver_in.Get(), approver_out.Get(),
                                                  callbacks_);
    const auto status = approver_->Start();
    ASSERT_TRUE(status.Ok()) << status.Err().Message();
  }

  // Writes `text` plus "\n", running the loop whenever the approver's side is full.
  void SendRaw(std::string_view text) {
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    while (!text.empty()) {
      const ssize_t n = ::write(to_approver_.Get(), text.data(), text.size());
      if (n > 0) {
        text.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      ASSERT_TRUE(errno == EAGAIN || errno == EINTR) << std::strerror(errno);
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the approver does not read";
      uv_run(&loop_, UV_RUN_NOWAIT);
      pollfd p{to_approver_.Get(), POLLOUT, 0};
      ::poll(&p, 1, 1);
    }
  }
  void SendLine(std::string_view line) { SendRaw(std::string(line) + "\n"); }
  void SendJson(const json& message) { SendLine(message.dump()); }

  // Reads whatever is there without blocking.
  void Drain() {
    char buffer[65536];
    for (;;) {
      pollfd p{from_approver_.Get(), POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0 || (p.revents & (POLLIN | POLLHUP)) == 0) return;
      const ssize_t n = ::read(from_approver_.Get(), buffer, sizeof buffer);
      if (n <= 0) return;
      inbox_.append(buffer, static_cast<std::size_t>(n));
    }
  }

  // The next message from the approver, running the loop until it arrives.
  std::optional<json> Next(milliseconds timeout = kTimeout) {
    std::optional<json> message;
    const bool arrived = RunUntil(
        &loop_,
        [&] {
          Drain();
          const auto newline = inbox_.find('\n');
          if (newline == std::string::npos) return false;
          message = json::parse(inbox_.substr(0, newline));
          inbox_.erase(0, newline + 1);
          return true;
        },
        timeout);
    if (!arrived) return std::nullopt;
    return message;
  }

  // True when nothing more arrives for a while.
  bool Quiet(milliseconds wait = milliseconds(100)) {
    RunFor(&loop_, wait);
    Drain();
    return inbox_.empty();
  }

  void Ask(const std::string& approval_id) {
    approver_->Ask(MakeRequest(approval_id),
                   [this, approval_id](Answer answer, DecisionSource source) {
                     replies_[approval_id].push_back({std::move(answer), source});
                   });
  }

  // Asks and returns the JSON-RPC id of the request the controller received.
  json AskAndReceive(const std::string& approval_id) {
    Ask(approval_id);
    auto request = Next();
    EXPECT_TRUE(request.has_value());
    if (!request) return nullptr;
    EXPECT_EQ((*request)["method"], "network/requestApproval");
    EXPECT_EQ((*request)["params"]["approvalId"], approval_id);
    return (*request)["id"];
  }

  void Respond(const json& id, const json& result) {
    SendJson({{"jsonrpc", "2.0"}, {"id", id}, {"result", result}});
  }

  bool WaitForReply(const std::string& approval_id) {
    return RunUntil(&loop_, [&] { return !replies_[approval_id].empty(); });
  }

  uv_loop_t loop_{};
  JsonRpcApprover::Callbacks callbacks_;
  std::unique_ptr<JsonRpcApprover> approver_;
  base::UniqueFd to_approver_;
  base::UniqueFd from_approver_;
  std::string inbox_;

  std::map<std::string, std::vector<ReplyRecord>> replies_;
  std::vector<int> signals_;
  std::vector<approvals::RuleLists> policies_;
  std::optional<std::string> policy_error_;
  std::vector<std::pair<std::string, bool>> stdin_writes_;
  int hangups_ = 0;
};

TEST_F(JsonRpcApproverTest, RequestCarriesTheSpecFields) {
  StartOnSocketpair();
  Ask("a1");
  const auto message = Next();
  ASSERT_TRUE(message);
  EXPECT_EQ((*message)["jsonrpc"], "2.0");
  EXPECT_EQ((*message)["method"], "network/requestApproval");
  ASSERT_TRUE((*message)["id"].is_number_integer());
  const json& params = (*message)["params"];
  EXPECT_EQ(params["approvalId"], "a1");
  EXPECT_EQ(params["process"]["pid"], 4242);
  EXPECT_EQ(params["process"]["exe"], "/usr/bin/curl");
  EXPECT_EQ(params["process"]["argv"], json::array({"curl", "https://example.com"}));
  EXPECT_EQ(params["process"]["cwd"], "/work");
  EXPECT_EQ(params["destination"]["host"], "example.com");
  EXPECT_EQ(params["destination"]["address"], "93.184.216.34");
  EXPECT_EQ(params["destination"]["port"], 443);
  EXPECT_EQ(params["destination"]["protocol"], "tcp");
  EXPECT_EQ(params["destination"]["family"], "inet");
  EXPECT_EQ(params["reason"], "not_allowed");
  EXPECT_TRUE(params["availableDecisions"].is_array());
  EXPECT_EQ(approver_->OutstandingRequests(), 1u);
  // Two requests get two different ids.
  Ask("a2");
  const auto second = Next();
  ASSERT_TRUE(second);
  EXPECT_NE((*second)["id"], (*message)["id"]);
}

TEST_F(JsonRpcApproverTest, EachDecisionReachesTheReplyOnce) {
  StartOnSocketpair();
  approvals::answer::Amendment amendment;
  amendment.rule = std::get<approvals::Rule>(approvals::ParseRule("**.example.com:443"));
  amendment.action = approvals::AmendmentAction::kAllow;
  const std::vector<std::pair<json, Answer>> cases = {
      {{{"decision", "accept"}}, approvals::answer::Accept{}},
      {{{"decision", "acceptForSession"}}, approvals::answer::AcceptForSession{}},
      {{{"decision", "decline"}}, approvals::answer::Decline{}},
      {{{"decision", "declineForSession"}}, approvals::answer::DeclineForSession{}},
      {{{"decision", "cancel"}}, approvals::answer::Cancel{}},
      {{{"decision", {{"route", {{"proxy", "http://proxy:3128"}}}}}},
       approvals::answer::Route{"http://proxy:3128"}},
      {{{"decision", {{"route", json::object()}}}}, approvals::answer::Route{}},
      {{{"decision",
         {{"applyNetworkPolicyAmendment", {{"host", "**.example.com:443"}, {"action", "allow"}}}}}},
       amendment},
      // Anything else is a decline.
      {{{"decision", "sure, why not"}}, approvals::answer::Decline{}},
      {{{"decision", 42}}, approvals::answer::Decline{}},
      {{{"verdict", "accept"}}, approvals::answer::Decline{}},
      {json::object(), approvals::answer::Decline{}},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string approval_id = "case" + std::to_string(i);
    SCOPED_TRACE(approval_id + ": " + cases[i].first.dump());
    const json id = AskAndReceive(approval_id);
    Respond(id, cases[i].first);
    ASSERT_TRUE(WaitForReply(approval_id));
    const auto& got = replies_[approval_id];
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(got[0].answer == cases[i].second) << approvals::AnswerName(got[0].answer);
    EXPECT_EQ(got[0].source, DecisionSource::kUser);
  }
  // No reply runs twice.
  RunFor(&loop_, milliseconds(50));
  for (const auto& [approval_id, got] : replies_) EXPECT_EQ(got.size(), 1u) << approval_id;
  EXPECT_EQ(approver_->OutstandingRequests(), 0u);
}

TEST_F(JsonRpcApproverTest, ErrorResponseDeclines) {
  StartOnSocketpair();
  const json id = AskAndReceive("e1");
  SendJson({{"jsonrpc", "2.0"},
            {"id", id},
            {"error", {{"code", -32000}, {"message", "the user went away"}}}});
  ASSERT_TRUE(WaitForReply("e1"));
  ASSERT_EQ(replies_["e1"].size(), 1u);
  EXPECT_TRUE(replies_["e1"][0].answer == Answer{approvals::answer::Decline{}});
  EXPECT_EQ(replies_["e1"][0].source, DecisionSource::kUser);
}

TEST_F(JsonRpcApproverTest, ResponsesToUnknownOrAnsweredIdsAreIgnored) {
  StartOnSocketpair();
  const json id = AskAndReceive("u1");
  Respond(9999, {{"decision", "accept"}});
  Respond("u1", {{"decision", "accept"}});  // the approval id is not the request id
  EXPECT_TRUE(Quiet());                     // and no error reply either
  EXPECT_TRUE(replies_["u1"].empty());
  Respond(id, {{"decision", "decline"}});
  ASSERT_TRUE(WaitForReply("u1"));
  Respond(id, {{"decision", "accept"}});  // already answered
  EXPECT_TRUE(Quiet());
  ASSERT_EQ(replies_["u1"].size(), 1u);
  EXPECT_TRUE(replies_["u1"][0].answer == Answer{approvals::answer::Decline{}});
}

TEST_F(JsonRpcApproverTest, GarbageGetsParseErrorAndTheApproverKeepsWorking) {
  StartOnSocketpair();
  SendLine("this is not json {");
  auto reply = Next();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["jsonrpc"], "2.0");
  EXPECT_EQ((*reply)["error"]["code"], -32700);
  EXPECT_TRUE((*reply)["id"].is_null());
  SendLine(std::string("\xff\xfe\x00garbage", 10));
  reply = Next();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["error"]["code"], -32700);
  SendLine("[1,2,3]");
  reply = Next();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["error"]["code"], -32600);
  SendLine("");  // blank lines are ignored
  SendLine("   ");
  EXPECT_TRUE(Quiet());

  const json id = AskAndReceive("g1");
  Respond(id, {{"decision", "accept"}});
  ASSERT_TRUE(WaitForReply("g1"));
  EXPECT_TRUE(replies_["g1"][0].answer == Answer{approvals::answer::Accept{}});
  EXPECT_EQ(hangups_, 0);
}

TEST_F(JsonRpcApproverTest, UnknownMethodGetsMethodNotFoundWithItsId) {
  StartOnSocketpair();
  SendJson({{"jsonrpc", "2.0"},
            {"id", 17},
            {"method", "sandbox/selfDestruct"},
            {"params", json::object()}});
  auto reply = Next();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["jsonrpc"], "2.0");
  EXPECT_EQ((*reply)["id"], 17);
  EXPECT_EQ((*reply)["error"]["code"], -32601);
  // An unknown notification gets no answer at all.
  SendJson({{"jsonrpc", "2.0"}, {"method", "sandbox/selfDestruct"}});
  EXPECT_TRUE(Quiet());
}

TEST_F(JsonRpcApproverTest, OversizedLineGetsOneInvalidRequestAndIsSkipped) {
  StartOnSocketpair();
  // A request hidden past the limit must not run: the whole line is dropped.
  std::string huge = R"({"jsonrpc":"2.0","id":1,"method":"sandbox/terminate","params":{"x":")";
  huge.append(approvals::kMaxLineBytes + 1000, 'x');
  huge += R"("}})";
  SendRaw(huge);
  SendRaw("\n");
  auto reply = Next();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["error"]["code"], -32600);
  EXPECT_TRUE((*reply)["id"].is_null());
  EXPECT_TRUE(signals_.empty());

  // The next line is read normally, and only one error came for the big one.
  SendJson({{"jsonrpc", "2.0"}, {"id", 2}, {"method", "sandbox/terminate"}});
  reply = Next();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["id"], 2);
  EXPECT_EQ((*reply)["result"], json::object());
  EXPECT_EQ(signals_, std::vector<int>{SIGTERM});

  // Two oversized lines back to back, the second ending in the same write as the next request.
  std::string two(approvals::kMaxLineBytes + 10, 'y');
  two += "\n";
  two.append(approvals::kMaxLineBytes + 10, 'z');
  two += "\n{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"sandbox/terminate\"}\n";
  SendRaw(two);
  for (int i = 0; i < 2; ++i) {
    reply = Next();
    ASSERT_TRUE(reply);
    EXPECT_EQ((*reply)["error"]["code"], -32600);
  }
  reply = Next();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["id"], 3);
  EXPECT_EQ(hangups_, 0);
}

TEST_F(JsonRpcApproverTest, LineOfExactlyTheLimitIsRead) {
  StartOnSocketpair();
  // Exactly kMaxLineBytes of JSON, with a CRLF ending: accepted.
  std::string line = R"({"jsonrpc":"2.0","id":5,"method":"sandbox/terminate","params":{},"pad":")";
  const std::string tail = "\"}";
  line.append(approvals::kMaxLineBytes - line.size() - tail.size(), ' ');
  line += tail;
  ASSERT_EQ(line.size(), approvals::kMaxLineBytes);
  SendRaw(line + "\r\n");
  const auto reply = Next();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["id"], 5);
  EXPECT_EQ((*reply)["result"], json::object());
}

TEST_F(JsonRpcApproverTest, TerminateReachesTheCallback) {
  StartOnSocketpair();
  SendJson({{"jsonrpc", "2.0"},
            {"id", 1},
            {"method", "sandbox/terminate"},
            {"params", {{"signal", "SIGKILL"}}}});
  auto reply = Next();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["jsonrpc"], "2.0");
  EXPECT_EQ((*reply)["id"], 1);
  EXPECT_EQ((*reply)["result"], json::object());
  SendJson({{"jsonrpc", "2.0"},
            {"id", "t2"},
            {"method", "sandbox/terminate"},
            {"params", {{"signal", 2}}}});
  reply = Next();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["id"], "t2");
  SendJson(
      {{"jsonrpc", "2.0"}, {"id", 3}, {"method", "sandbox/terminate"}, {"params", json::object()}});
  reply = Next();
  ASSERT_TRUE(reply);
  EXPECT_EQ(signals_, (std::vector<int>{SIGKILL, SIGINT, SIGTERM}));

  SendJson({{"jsonrpc", "2.0"},
            {"id", 4},
            {"method", "sandbox/terminate"},
            {"params", {{"signal", "SIGNOPE"}}}});
  reply = Next();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["id"], 4);
  EXPECT_EQ((*reply)["error"]["code"], -32602);
  EXPECT_EQ(signals_.size(), 3u);

  // As a notification it is carried out and not answered.
  SendJson({{"jsonrpc", "2.0"}, {"method", "sandbox/terminate"}});
  ASSERT_TRUE(RunUntil(&loop_, [&] { return signals_.size() == 4; }));
  EXPECT_TRUE(Quiet());
}

TEST_F(JsonRpcApproverTest, PolicyUpdateReachesTheCallback) {
  StartOnSocketpair();
  SendJson({{"jsonrpc", "2.0"},
            {"id", 1},
            {"method", "policy/update"},
            {"params", {{"allow", {"github.com:443", "10.0.0.0/8"}}, {"deny", {"evil.com"}}}}});
  auto reply = Next();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["id"], 1);
  EXPECT_EQ((*reply)["result"], json::object());
  ASSERT_EQ(policies_.size(), 1u);
  EXPECT_EQ(policies_[0].allow.size(), 2u);
  EXPECT_EQ(policies_[0].deny.size(), 1u);
  EXPECT_TRUE(policies_[0].route.empty());
  EXPECT_EQ(policies_[0].allow[0].text, "github.com:443");

  // A bad rule: -32602, and the callback never sees anything.
  SendJson(
      {{"jsonrpc", "2.0"}, {"id", 2}, {"method", "policy/update"}, {"params", {{"allow", {"*"}}}}});
  reply = Next();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["id"], 2);
  EXPECT_EQ((*reply)["error"]["code"], -32602);
  EXPECT_EQ(policies_.size(), 1u);

  // The callback refuses: its reason goes back as -32602.
  policy_error_ = "route rules need --proxy";
  SendJson({{"jsonrpc", "2.0"},
            {"id", 3},
            {"method", "policy/update"},
            {"params", {{"route", {"example.com"}}}}});
  reply = Next();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["id"], 3);
  EXPECT_EQ((*reply)["error"]["code"], -32602);
  EXPECT_EQ((*reply)["error"]["data"], "route rules need --proxy");
}

TEST_F(JsonRpcApproverTest, WriteStdinReachesTheCallback) {
  StartOnSocketpair();
  SendJson({{"jsonrpc", "2.0"},
            {"id", 1},
            {"method", "process/writeStdin"},
            {"params", {{"data", "hello\n"}}}});
  auto reply = Next();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["result"], json::object());
  SendJson({{"jsonrpc", "2.0"},
            {"id", 2},
            {"method", "process/writeStdin"},
            {"params",
             {{"data", approvals::Base64Encode(std::string("\xff\x00\x01", 3))},
              {"encoding", "base64"},
              {"close", true}}}});
  reply = Next();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["id"], 2);
  EXPECT_EQ((*reply)["result"], json::object());
  ASSERT_EQ(stdin_writes_.size(), 2u);
  EXPECT_EQ(stdin_writes_[0], std::make_pair(std::string("hello\n"), false));
  EXPECT_EQ(stdin_writes_[1], std::make_pair(std::string("\xff\x00\x01", 3), true));

  SendJson({{"jsonrpc", "2.0"},
            {"id", 3},
            {"method", "process/writeStdin"},
            {"params", {{"data", 12}}}});
  reply = Next();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["error"]["code"], -32602);
  EXPECT_EQ(stdin_writes_.size(), 2u);
}

TEST_F(JsonRpcApproverTest, MissingCallbackMeansMethodNotFound) {
  callbacks_.write_stdin = nullptr;  // fd:N mode: the command keeps sandgate's stdin
  StartOnSocketpair();
  SendJson({{"jsonrpc", "2.0"},
            {"id", 1},
            {"method", "process/writeStdin"},
            {"params", {{"data", "x"}}}});
  const auto reply = Next();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["id"], 1);
  EXPECT_EQ((*reply)["error"]["code"], -32601);
}

TEST_F(JsonRpcApproverTest, CancelTellsTheControllerAndIgnoresALateAnswer) {
  StartOnSocketpair();
  const json id = AskAndReceive("c1");
  approver_->Cancel("c1", approvals::CancelReason::kTimeout);
  auto message = Next();
  ASSERT_TRUE(message);
  EXPECT_EQ((*message)["jsonrpc"], "2.0");
  EXPECT_EQ((*message)["method"], "network/approvalCancelled");
  EXPECT_FALSE(message->contains("id"));
  EXPECT_EQ((*message)["params"]["approvalId"], "c1");
  EXPECT_EQ((*message)["params"]["reason"], "timeout");
  EXPECT_EQ(approver_->OutstandingRequests(), 0u);

  Respond(id, {{"decision", "accept"}});
  EXPECT_TRUE(Quiet());
  EXPECT_TRUE(replies_["c1"].empty());

  // Cancelling what is not outstanding sends nothing.
  approver_->Cancel("c1", approvals::CancelReason::kProcessExited);
  approver_->Cancel("never-asked", approvals::CancelReason::kProcessExited);
  EXPECT_TRUE(Quiet());
}

TEST_F(JsonRpcApproverTest, EndOfInputHangsUpOnce) {
  StartOnSocketpair();
  (void)AskAndReceive("h1");
  ASSERT_EQ(::shutdown(to_approver_.Get(), SHUT_WR), 0);
  ASSERT_TRUE(RunUntil(&loop_, [&] { return hangups_ > 0; }));
  RunFor(&loop_, milliseconds(50));
  EXPECT_EQ(hangups_, 1);
  EXPECT_TRUE(approver_->HungUp());
  // The pending request is the owner's to decline.
  EXPECT_TRUE(replies_["h1"].empty());
  // Later requests are declined at once, source "cancelled".
  Ask("h2");
  ASSERT_EQ(replies_["h2"].size(), 1u);
  EXPECT_TRUE(replies_["h2"][0].answer == Answer{approvals::answer::Decline{}});
  EXPECT_EQ(replies_["h2"][0].source, DecisionSource::kCancelled);
  // Notifications still go out: the controller may still be reading.
  approver_->Notify("sandbox/exited", {{"exitCode", 0}, {"signal", nullptr}});
  const auto message = Next();
  ASSERT_TRUE(message);
  EXPECT_EQ((*message)["method"], "sandbox/exited");
  EXPECT_EQ(hangups_, 1);
}

TEST_F(JsonRpcApproverTest, LastLineWithoutNewlineCountsBeforeTheHangUp) {
  StartOnSocketpair();
  const json id = AskAndReceive("l1");
  SendRaw(json({{"jsonrpc", "2.0"}, {"id", id}, {"result", {{"decision", "accept"}}}}).dump());
  ASSERT_EQ(::shutdown(to_approver_.Get(), SHUT_WR), 0);
  ASSERT_TRUE(RunUntil(&loop_, [&] { return hangups_ > 0; }));
  ASSERT_EQ(replies_["l1"].size(), 1u);
  EXPECT_TRUE(replies_["l1"][0].answer == Answer{approvals::answer::Accept{}});
}

TEST_F(JsonRpcApproverTest, NotificationsArriveInOrderEvenWhenTheControllerFallsBehind) {
  StartOnSocketpair();
  // Far more than a socket buffer, sent while the controller reads nothing.
  const std::string padding(1000, 'p');
  constexpr int kCount = 3000;
  for (int i = 0; i < kCount; ++i) {
    approver_->Notify("network/decision", {{"seq", i}, {"padding", padding}});
  }
  EXPECT_GT(approver_->QueuedBytes(), 0u);
  bool flushed = false;
  approver_->WhenFlushed([&] { flushed = true; });
  EXPECT_FALSE(flushed);
  for (int i = 0; i < kCount; ++i) {
    const auto message = Next();
    ASSERT_TRUE(message) << i;
    ASSERT_EQ((*message)["params"]["seq"], i);
    EXPECT_EQ((*message)["jsonrpc"], "2.0");
  }
  ASSERT_TRUE(RunUntil(&loop_, [&] { return flushed; }));
  EXPECT_EQ(approver_->QueuedBytes(), 0u);
}

TEST_F(JsonRpcApproverTest, ProcessOutputIsDroppedFirstWhenTheQueueIsFull) {
  StartOnSocketpair(/*max_queued=*/64 * 1024);
  const std::string chunk(1000, 'o');
  // Fill the socket, then the queue, with output the controller does not read.
  int sent = 0;
  while (approver_->QueuedBytes() == 0 && sent < 10000) {
    approver_->Notify("process/output", {{"stream", "stdout"}, {"data", chunk}, {"n", sent++}});
  }
  ASSERT_GT(approver_->QueuedBytes(), 0u);
  for (int i = 0; i < 500; ++i) {
    approver_->Notify("process/output", {{"stream", "stdout"}, {"data", chunk}, {"n", sent++}});
  }
  EXPECT_LE(approver_->QueuedBytes(), 64u * 1024);
  // Requests and other notifications still get through, after the output that made it.
  approver_->Notify("network/decision", {{"decision", "deny"}});
  Ask("q1");
  int last_output = -1;
  bool decision = false;
  json request_id;
  while (request_id.is_null()) {
    const auto message = Next();
    ASSERT_TRUE(message);
    if ((*message)["method"] == "process/output") {
      ASSERT_FALSE(decision) << "output after a later message";
      const int n = (*message)["params"]["n"].get<int>();
      EXPECT_GT(n, last_output);
      last_output = n;
    } else if ((*message)["method"] == "network/decision") {
      decision = true;
    } else {
      ASSERT_EQ((*message)["method"], "network/requestApproval");
      request_id = (*message)["id"];
    }
  }
  EXPECT_TRUE(decision);
  EXPECT_LT(last_output, sent - 1);  // some output was dropped
  Respond(request_id, {{"decision", "accept"}});
  ASSERT_TRUE(WaitForReply("q1"));
}

TEST_F(JsonRpcApproverTest, WorksOverPipes) {
  StartOnPipes();
  const json id = AskAndReceive("p1");
  Respond(id, {{"decision", "acceptForSession"}});
  ASSERT_TRUE(WaitForReply("p1"));
  EXPECT_TRUE(replies_["p1"][0].answer == Answer{approvals::answer::AcceptForSession{}});
  SendLine("garbage");
  const auto reply = Next();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["error"]["code"], -32700);
  to_approver_.Reset();  // EOF
  ASSERT_TRUE(RunUntil(&loop_, [&] { return hangups_ > 0; }));
  RunFor(&loop_, milliseconds(20));
  EXPECT_EQ(hangups_, 1);
}

TEST_F(JsonRpcApproverTest, ControllerThatStopsReadingAPipeIsAHangUpNotASigpipe) {
  // SIGPIPE must not kill us even with the default disposition.
  struct sigaction old {};
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ASSERT_EQ(::sigaction(SIGPIPE, &dfl, &old), 0);
  StartOnPipes();
  from_approver_.Reset();  // nobody reads sandgate's output any more
  approver_->Notify("sandbox/started", {{"protocolVersion", 1}});
  EXPECT_EQ(hangups_, 0);  // never from inside Notify
  ASSERT_TRUE(RunUntil(&loop_, [&] { return hangups_ > 0; }));
  RunFor(&loop_, milliseconds(20));
  EXPECT_EQ(hangups_, 1);
  Ask("s1");
  ASSERT_EQ(replies_["s1"].size(), 1u);
  EXPECT_EQ(replies_["s1"][0].source, DecisionSource::kCancelled);
  ASSERT_EQ(::sigaction(SIGPIPE, &old, nullptr), 0);
}

// What one loop iteration sends goes out together, just before the loop waits, in the order
// it was sent: many messages, one write.
TEST_F(JsonRpcApproverTest, WhatAnIterationSendsArrivesTogetherAndInOrder) {
  for (bool pipes : {false, true}) {
    SCOPED_TRACE(pipes ? "pipes" : "socketpair");
    if (pipes) {
      StartOnPipes();
    } else {
      StartOnSocketpair();
    }
    inbox_.clear();
    for (int i = 0; i < 100; ++i) approver_->Notify("test/burst", {{"n", i}});
    Drain();
    EXPECT_TRUE(inbox_.empty()) << "written before the loop ran";
    uv_run(&loop_, UV_RUN_NOWAIT);
    Drain();
    for (int i = 0; i < 100; ++i) {
      const auto newline = inbox_.find('\n');
      ASSERT_NE(newline, std::string::npos) << "line " << i << " missing";
      EXPECT_EQ(json::parse(inbox_.substr(0, newline))["params"]["n"], i);
      inbox_.erase(0, newline + 1);
    }
    EXPECT_TRUE(inbox_.empty());
    approver_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
}

// More than the peer's buffer holds: written as it reads, whole lines, nothing lost or doubled.
TEST_F(JsonRpcApproverTest, ABurstLargerThanTheBufferArrivesWhole) {
  StartOnSocketpair();
  const std::string padding(1000, 'x');
  constexpr int kMessages = 3000;  // about 3 MB
  for (int i = 0; i < kMessages; ++i) approver_->Notify("test/burst", {{"n", i}, {"pad", padding}});
  for (int i = 0; i < kMessages; ++i) {
    auto message = Next();
    ASSERT_TRUE(message.has_value()) << "message " << i << " missing";
    ASSERT_EQ((*message)["params"]["n"], i);
  }
  EXPECT_TRUE(Quiet());
}

// Close gives what was sent and not yet written one try without waiting, as a write at Send
// time used to: the last notifications before a close are not lost.
TEST_F(JsonRpcApproverTest, CloseWritesWhatWasSentBeforeIt) {
  StartOnSocketpair();
  approver_->Notify("test/last", {{"n", 1}});
  approver_->Notify("test/last", {{"n", 2}});
  approver_->Close();
  Drain();
  EXPECT_EQ(inbox_,
            "{\"jsonrpc\":\"2.0\",\"method\":\"test/last\",\"params\":{\"n\":1}}\n"
            "{\"jsonrpc\":\"2.0\",\"method\":\"test/last\",\"params\":{\"n\":2}}\n");
}

TEST_F(JsonRpcApproverTest, RegularFilesWorkToo) {
  // Replayed input from a file and output to a file: epoll refuses both, so the approver reads
  // and writes them directly.
  base::UniqueFd input(::memfd_create("controller-input", MFD_CLOEXEC));
  base::UniqueFd output(::memfd_create("controller-output", MFD_CLOEXEC));
  ASSERT_TRUE(input.Valid());
  ASSERT_TRUE(output.Valid());
  const std::string script =
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sandbox/terminate\"}\nnot json\n";
  ASSERT_EQ(::write(input.Get(), script.data(), script.size()),
            static_cast<ssize_t>(script.size()));
  ASSERT_EQ(::lseek(input.Get(), 0, SEEK_SET), 0);
  approver_ = std::make_unique<JsonRpcApprover>(&loop_, input.Get(), output.Get(), callbacks_);
  ASSERT_TRUE(approver_->Start().Ok());
  ASSERT_TRUE(RunUntil(&loop_, [&] { return hangups_ > 0; }));
  EXPECT_EQ(signals_, std::vector<int>{SIGTERM});
  approver_->Notify("sandbox/exited", {{"exitCode", 0}});
  std::string written(4096, '\0');
  const ssize_t n = ::pread(output.Get(), written.data(), written.size(), 0);
  ASSERT_GT(n, 0);
  written.resize(static_cast<std::size_t>(n));
  EXPECT_EQ(written,
            "{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":{}}\n"
            "{\"error\":{\"code\":-32700,\"data\":\"invalid JSON at byte 2\",\"message\":\"Parse "
            "error\"},\"id\":null,\"jsonrpc\":\"2.0\"}\n"
            "{\"jsonrpc\":\"2.0\",\"method\":\"sandbox/exited\",\"params\":{\"exitCode\":0}}\n");
}

TEST_F(JsonRpcApproverTest, CloseIsIdempotentAndDeclinesLaterRequests) {
  StartOnSocketpair();
  (void)AskAndReceive("x1");
  approver_->Close();
  approver_->Close();
  Ask("x2");
  ASSERT_EQ(replies_["x2"].size(), 1u);
  EXPECT_EQ(replies_["x2"][0].source, DecisionSource::kCancelled);
  EXPECT_TRUE(replies_["x1"].empty());  // forgotten, never answered
  approver_->Notify("sandbox/exited", {{"exitCode", 0}});
  EXPECT_TRUE(Quiet());
  EXPECT_EQ(hangups_, 0);
}

TEST_F(JsonRpcApproverTest, ReplyMayDestroyTheApprover) {
  StartOnSocketpair();
  approver_->Ask(MakeRequest("d1"), [this](Answer, DecisionSource) { approver_.reset(); });
  const auto request = Next();
  ASSERT_TRUE(request);
  // Two lines in one write: the approver is gone after the first.
  SendRaw(json({{"jsonrpc", "2.0"}, {"id", (*request)["id"]}, {"result", {{"decision", "accept"}}}})
              .dump() +
          "\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"sandbox/terminate\"}\n");
  ASSERT_TRUE(RunUntil(&loop_, [&] { return approver_ == nullptr; }));
  RunFor(&loop_, milliseconds(20));
  EXPECT_TRUE(signals_.empty());
}

}  // namespace
}  // namespace sandgate::supervisor
