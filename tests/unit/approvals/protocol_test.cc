#include "approvals/protocol.h"

#include <gtest/gtest.h>

#include <csignal>
#include <string>
#include <variant>
#include <vector>

#include "approvals/jsonrpc.h"
#include "approvals/signals.h"
#include "test_util.h"

namespace sandgate::approvals {
namespace {

using nlohmann::json;
using testing::AddrDest;
using testing::HostAddrDest;
using testing::UnixAbstractDest;
using testing::UnixPathDest;

Destination RoundTrip(const Destination& d) {
  // Through text, as on the wire.
  auto parsed = DestinationFromJson(json::parse(ToLine(DestinationToJson(d))));
  if (const auto* problem = std::get_if<Problem>(&parsed)) {
    ADD_FAILURE() << problem->what;
    return {};
  }
  return std::get<Destination>(parsed);
}

std::string DestinationProblem(const json& j) {
  auto parsed = DestinationFromJson(j);
  if (const auto* problem = std::get_if<Problem>(&parsed)) {
    return problem->what;
  }
  ADD_FAILURE() << "parsed: " << j.dump();
  return "";
}

ApprovalRequest SampleRequest() {
  ApprovalRequest request;
  request.approval_id = "a1";
  request.process = {4242, "/usr/bin/curl", {"curl", "-s", "https://github.com"}, "/home/u"};
  request.destination = HostAddrDest("github.com", "140.82.112.3", 443);
  request.destination.names = {"github.com", "gh.example"};
  request.available_decisions = AllDecisionNames();
  return request;
}

TEST(DestinationJsonTest, TcpWithHost) {
  EXPECT_EQ(DestinationToJson(HostAddrDest("github.com", "140.82.112.3", 443)),
            json::parse(R"({"host":"github.com","names":[],"address":"140.82.112.3",)"
                        R"("port":443,"protocol":"tcp","family":"inet"})"));
}

TEST(DestinationJsonTest, NamesAreListedMostRecentFirst) {
  Destination d = HostAddrDest("a.example", "203.0.113.10", 443);
  d.names = {"b.example", "a.example"};
  EXPECT_EQ(
      DestinationToJson(d),
      json::parse(R"({"host":"a.example","names":["b.example","a.example"],)"
                  R"("address":"203.0.113.10","port":443,"protocol":"tcp","family":"inet"})"));
}

TEST(DestinationJsonTest, UdpIpv6WithoutHost) {
  EXPECT_EQ(DestinationToJson(AddrDest("2001:4860:4860::8888", 53, Protocol::kUdp)),
            json::parse(R"({"host":null,"names":[],"address":"2001:4860:4860::8888",)"
                        R"("port":53,"protocol":"udp","family":"inet6"})"));
  // A v4-mapped destination is reported as what it is.
  EXPECT_EQ(DestinationToJson(AddrDest("::ffff:10.0.0.1", 80))["family"], "inet");
  EXPECT_EQ(DestinationToJson(AddrDest("::ffff:10.0.0.1", 80))["address"], "10.0.0.1");
}

TEST(DestinationJsonTest, UnixSockets) {
  EXPECT_EQ(DestinationToJson(UnixPathDest("/var/run/docker.sock")),
            json::parse(R"({"host":null,"names":[],"address":null,"port":null,)"
                        R"("protocol":"unix","family":"unix","path":"/var/run/docker.sock"})"));
  EXPECT_EQ(DestinationToJson(UnixAbstractDest("/tmp/.X11-unix/X0"))["path"], "@/tmp/.X11-unix/X0");
}

TEST(DestinationJsonTest, RoundTrips) {
  Destination named = HostAddrDest("a.example", "203.0.113.10", 443);
  named.names = {"b.example", "a.example"};
  for (const Destination& d :
       {HostAddrDest("github.com", "140.82.112.3", 443), named, AddrDest("fd00::1", 8080),
        AddrDest("10.0.0.1", 53, Protocol::kUdp), UnixPathDest("/var/run/docker.sock"),
        UnixAbstractDest("dbus-1234")}) {
    EXPECT_EQ(RoundTrip(d), d) << DestinationToJson(d).dump();
  }
}

TEST(DestinationJsonTest, RejectsBadFields) {
  EXPECT_EQ(DestinationProblem(json::array()), "destination must be an object");
  EXPECT_EQ(DestinationProblem({{"port", 1}}), "missing \"protocol\"");
  EXPECT_EQ(DestinationProblem({{"protocol", "sctp"}, {"port", 1}}), "unknown protocol \"sctp\"");
  EXPECT_EQ(DestinationProblem({{"protocol", "tcp"}, {"port", 70000}}),
            "\"port\" out of range 0-65535");
  EXPECT_EQ(DestinationProblem({{"protocol", "tcp"}, {"port", -1}}),
            "\"port\" out of range 0-65535");
  EXPECT_EQ(DestinationProblem({{"protocol", "tcp"}, {"port", "443"}}),
            "\"port\" must be an integer");
  EXPECT_EQ(DestinationProblem({{"protocol", "tcp"}, {"port", 1}, {"address", "1.2.3"}}),
            "invalid address \"1.2.3\"");
  EXPECT_EQ(DestinationProblem({{"protocol", "tcp"}, {"port", 1}, {"host", 5}}),
            "\"host\" must be a string or null");
  EXPECT_EQ(DestinationProblem({{"protocol", "tcp"}, {"port", 1}, {"names", "a.example"}}),
            "\"names\" must be an array");
  EXPECT_EQ(DestinationProblem({{"protocol", "tcp"}, {"port", 1}, {"names", {"a.example", 5}}}),
            "\"names\" must hold strings");
}

TEST(DestinationJsonTest, NamesAreOptionalWhenParsing) {
  for (const json& j : {json::parse(R"({"protocol":"tcp","port":443,"host":"a.example"})"),
                        json::parse(R"({"protocol":"tcp","port":443,"names":null})")}) {
    auto parsed = DestinationFromJson(j);
    ASSERT_TRUE(std::holds_alternative<Destination>(parsed)) << j.dump();
    EXPECT_TRUE(std::get<Destination>(parsed).names.empty());
  }
  auto parsed = DestinationFromJson(
      json::parse(R"({"protocol":"tcp","port":443,"names":["b.example","a.example"]})"));
  ASSERT_TRUE(std::holds_alternative<Destination>(parsed));
  EXPECT_EQ(std::get<Destination>(parsed).names,
            (std::vector<std::string>{"b.example", "a.example"}));
  EXPECT_FALSE(std::get<Destination>(parsed).host.has_value());
}

TEST(ApprovalRequestTest, Params) {
  const json params = ApprovalRequestParams(SampleRequest());
  EXPECT_EQ(params["approvalId"], "a1");
  EXPECT_EQ(params["process"],
            json::parse(R"({"pid":4242,"exe":"/usr/bin/curl",)"
                        R"("argv":["curl","-s","https://github.com"],"cwd":"/home/u"})"));
  EXPECT_EQ(params["destination"]["host"], "github.com");
  EXPECT_EQ(params["destination"]["names"], json::parse(R"(["github.com","gh.example"])"));
  EXPECT_EQ(params["reason"], "not_allowed");
  EXPECT_EQ(params["availableDecisions"],
            json::parse(R"(["accept","acceptForSession","decline","declineForSession","cancel",)"
                        R"("route","applyNetworkPolicyAmendment"])"));
}

TEST(ApprovalRequestTest, RoundTripsThroughTheControllersClassifier) {
  const ApprovalRequest request = SampleRequest();
  const std::string line = ToLine(
      MakeRequest(request.approval_id, kMethodRequestApproval, ApprovalRequestParams(request)));
  // The controller knows sandgate's methods the way sandgate knows the controller's.
  const std::string_view controller_side[] = {kMethodRequestApproval};
  const IncomingMessage m = ClassifyLine(line, controller_side);
  const auto* rpc = std::get_if<RpcRequest>(&m);
  ASSERT_NE(rpc, nullptr);
  EXPECT_EQ(rpc->id, "a1");
  auto parsed = ParseApprovalRequestParams(rpc->params);
  ASSERT_TRUE(std::holds_alternative<ApprovalRequest>(parsed));
  EXPECT_EQ(std::get<ApprovalRequest>(parsed), request);
}

TEST(ApprovalRequestTest, ParseRejectsBadProcess) {
  json params = ApprovalRequestParams(SampleRequest());
  params["process"]["argv"] = {"ok", 5};
  auto parsed = ParseApprovalRequestParams(params);
  ASSERT_TRUE(std::holds_alternative<Problem>(parsed));
  EXPECT_EQ(std::get<Problem>(parsed).what, "\"argv\" must hold strings");
}

TEST(NotificationsTest, DecisionNotice) {
  DecisionNotice notice;
  notice.approval_id = "a3";
  notice.pid = 77;
  notice.destination = AddrDest("10.0.0.1", 22);
  notice.decision = Decision::kDeny;
  notice.source = DecisionSource::kUser;
  EXPECT_EQ(DecisionNoticeParams(notice),
            json::parse(R"({"approvalId":"a3","process":{"pid":77},"destination":{"host":null,)"
                        R"("names":[],"address":"10.0.0.1","port":22,"protocol":"tcp",)"
                        R"("family":"inet"},)"
                        R"("decision":"deny","source":"user"})"));

  DecisionNotice by_policy;
  by_policy.pid = 1;
  by_policy.destination = AddrDest("10.0.0.1", 22);
  by_policy.decision = Decision::kRoute;
  by_policy.source = DecisionSource::kPolicy;
  by_policy.rule = "10.0.0.0/8";
  const json params = DecisionNoticeParams(by_policy);
  EXPECT_FALSE(params.contains("approvalId"));
  EXPECT_EQ(params["rule"], "10.0.0.0/8");
  EXPECT_EQ(params["destination"]["names"], json::array());
  EXPECT_EQ(params["decision"], "route");

  DecisionNotice named = by_policy;
  named.destination = HostAddrDest("a.example", "203.0.113.10", 443);
  named.destination.names = {"b.example", "a.example"};
  EXPECT_EQ(DecisionNoticeParams(named)["destination"]["names"],
            json::parse(R"(["b.example","a.example"])"));
  EXPECT_EQ(params["source"], "policy");
}

TEST(NotificationsTest, DecisionAndSourceNames) {
  EXPECT_EQ(DecisionName(Decision::kAllow), "allow");
  EXPECT_EQ(DecisionSourceName(DecisionSource::kSession), "session");
  EXPECT_EQ(DecisionSourceName(DecisionSource::kTimeout), "timeout");
  EXPECT_EQ(DecisionSourceName(DecisionSource::kDefault), "default");
  EXPECT_EQ(DecisionSourceName(DecisionSource::kCancelled), "cancelled");
}

TEST(NotificationsTest, ApprovalCancelled) {
  EXPECT_EQ(ToLine(MakeNotification(kMethodApprovalCancelled,
                                    ApprovalCancelledParams("a9", CancelReason::kProcessExited))),
            R"({"jsonrpc":"2.0","method":"network/approvalCancelled",)"
            R"("params":{"approvalId":"a9","reason":"process_exited"}})");
  EXPECT_EQ(ApprovalCancelledParams("a9", CancelReason::kTimeout)["reason"], "timeout");
}

TEST(NotificationsTest, SandboxStartedAndExited) {
  EXPECT_EQ(
      SandboxStartedParams({123, "bwrap", "approve"}),
      json::parse(R"({"protocolVersion":1,"pid":123,"pipeline":"bwrap","network":"approve"})"));
  EXPECT_EQ(SandboxExitedParams({0, std::nullopt}), json::parse(R"({"exitCode":0,"signal":null})"));
  EXPECT_EQ(SandboxExitedParams({137, SIGKILL}),
            json::parse(R"({"exitCode":137,"signal":"SIGKILL"})"));
}

TEST(NotificationsTest, ProcessOutputText) {
  const json params = ProcessOutputParams({OutputStream::kStdout, "h\xc3\xa9llo\n"});
  EXPECT_EQ(params, json::parse("{\"stream\":\"stdout\",\"data\":\"h\xc3\xa9llo\\n\"}"));
}

TEST(NotificationsTest, ProcessOutputBinaryIsBase64) {
  const ProcessOutput output{OutputStream::kStderr, std::string("\xff\x00\x01", 3)};
  const json params = ProcessOutputParams(output);
  EXPECT_EQ(params, json::parse(R"({"stream":"stderr","data":"/wAB","encoding":"base64"})"));
  auto parsed = ParseProcessOutputParams(json::parse(ToLine(params)));
  ASSERT_TRUE(std::holds_alternative<ProcessOutput>(parsed));
  EXPECT_EQ(std::get<ProcessOutput>(parsed), output);
}

TEST(NotificationsTest, ProcessOutputRoundTripsAnyBytes) {
  for (const std::string& data : {std::string("plain"), std::string("\xe2\x82", 2),
                                  std::string(1, '\0'), std::string("\xc3\xa9\xed\xa0\x80")}) {
    const ProcessOutput output{OutputStream::kStdout, data};
    auto parsed = ParseProcessOutputParams(json::parse(ToLine(ProcessOutputParams(output))));
    ASSERT_TRUE(std::holds_alternative<ProcessOutput>(parsed));
    EXPECT_EQ(std::get<ProcessOutput>(parsed), output);
  }
}

TEST(SignalsTest, Names) {
  EXPECT_EQ(SignalName(SIGKILL), "SIGKILL");
  EXPECT_EQ(SignalName(SIGTERM), "SIGTERM");
  EXPECT_EQ(SignalName(SIGRTMIN + 1), "SIGRTMIN+1");
  EXPECT_FALSE(SignalName(0).has_value());
  EXPECT_FALSE(SignalName(1000).has_value());
  EXPECT_EQ(SignalNumber("SIGTERM"), SIGTERM);
  EXPECT_EQ(SignalNumber("term"), SIGTERM);
  EXPECT_EQ(SignalNumber("Kill"), SIGKILL);
  EXPECT_FALSE(SignalNumber("SIGFOO").has_value());
  EXPECT_FALSE(SignalNumber("").has_value());
  EXPECT_FALSE(SignalNumber("SIG").has_value());
}

}  // namespace
}  // namespace sandgate::approvals
