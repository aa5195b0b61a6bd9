#include "approvals/answer.h"

#include <gtest/gtest.h>

#include <string>

#include "approvals/protocol.h"
#include "test_util.h"

namespace sandgate::approvals {
namespace {

using nlohmann::json;
using testing::MustParse;

Answer MustAnswer(const json& decision) {
  auto parsed = ParseAnswer(decision);
  if (const auto* problem = std::get_if<Problem>(&parsed)) {
    ADD_FAILURE() << decision.dump() << ": " << problem->what;
    return answer::Decline{};
  }
  return std::get<Answer>(parsed);
}

std::string AnswerProblem(const json& decision) {
  auto parsed = ParseAnswer(decision);
  if (const auto* problem = std::get_if<Problem>(&parsed)) {
    return problem->what;
  }
  ADD_FAILURE() << decision.dump() << " parsed as " << AnswerName(std::get<Answer>(parsed));
  return "";
}

RpcResponse Result(json result) { return RpcResponse{"a1", std::move(result)}; }

// The answer a live controller line produces, end to end.
Answer FromLine(std::string_view line, std::string* why = nullptr) {
  const IncomingMessage m = ClassifyLine(line, kControllerMethods);
  const auto* response = std::get_if<RpcResponse>(&m);
  if (response == nullptr) {
    ADD_FAILURE() << "not a response: " << line;
    return answer::Cancel{};
  }
  return AnswerFromResponse(*response, why);
}

TEST(AnswerTest, SimpleDecisions) {
  EXPECT_EQ(MustAnswer("accept"), Answer{answer::Accept{}});
  EXPECT_EQ(MustAnswer("acceptForSession"), Answer{answer::AcceptForSession{}});
  EXPECT_EQ(MustAnswer("decline"), Answer{answer::Decline{}});
  EXPECT_EQ(MustAnswer("declineForSession"), Answer{answer::DeclineForSession{}});
  EXPECT_EQ(MustAnswer("cancel"), Answer{answer::Cancel{}});
}

TEST(AnswerTest, Route) {
  EXPECT_EQ(MustAnswer(json::parse(R"({"route":{"proxy":"http://proxy:3128"}})")),
            Answer{answer::Route{"http://proxy:3128"}});
  EXPECT_EQ(MustAnswer(json::parse(R"({"route":{"proxy":"socks5://u:p@h:1080"}})")),
            Answer{answer::Route{"socks5://u:p@h:1080"}});
  EXPECT_EQ(MustAnswer(json::parse(R"({"route":{}})")), Answer{answer::Route{}});
  EXPECT_EQ(MustAnswer(json::parse(R"({"route":null})")), Answer{answer::Route{}});
  EXPECT_EQ(MustAnswer("route"), Answer{answer::Route{}});
  EXPECT_EQ(AnswerProblem(json::parse(R"({"route":{"proxy":"ftp://x"}})")),
            "\"route\": proxy \"ftp://x\" is not an http:// or socks5:// URL");
  EXPECT_EQ(AnswerProblem(json::parse(R"({"route":{"proxy":"http://"}})")),
            "\"route\": proxy \"http://\" is not an http:// or socks5:// URL");
  EXPECT_EQ(AnswerProblem(json::parse(R"({"route":{"proxy":1}})")),
            "\"route\": \"proxy\" must be a string");
  EXPECT_EQ(AnswerProblem(json::parse(R"({"route":{"url":"http://x:1"}})")),
            "\"route\": unknown member \"url\"");
}

TEST(AnswerTest, Amendment) {
  const Answer a = MustAnswer(json::parse(
      R"({"applyNetworkPolicyAmendment":{"host":"**.NPMJS.org:443","action":"allow"}})"));
  const auto* amendment = std::get_if<answer::Amendment>(&a);
  ASSERT_NE(amendment, nullptr);
  EXPECT_EQ(amendment->rule, MustParse("**.npmjs.org:443"));
  EXPECT_EQ(amendment->action, AmendmentAction::kAllow);
  EXPECT_FALSE(amendment->persist) << "a session rule unless persist says otherwise";

  const Answer persisted = MustAnswer(json::parse(
      R"({"applyNetworkPolicyAmendment":{"host":"github.com","action":"deny","persist":true}})"));
  ASSERT_NE(std::get_if<answer::Amendment>(&persisted), nullptr);
  EXPECT_TRUE(std::get<answer::Amendment>(persisted).persist);
  EXPECT_EQ(AnswerProblem(json::parse(
                R"({"applyNetworkPolicyAmendment":{"host":"a.com","action":"allow","persist":1}})")),
            "applyNetworkPolicyAmendment: \"persist\" must be true or false");

  EXPECT_EQ(AnswerProblem(json::parse(
                R"({"applyNetworkPolicyAmendment":{"host":"github.com:0","action":"allow"}})")),
            "applyNetworkPolicyAmendment: \"github.com:0\": port 0 out of range 1-65535");
  EXPECT_EQ(AnswerProblem(json::parse(
                R"({"applyNetworkPolicyAmendment":{"host":"github.com","action":"route"}})")),
            "applyNetworkPolicyAmendment: action must be \"allow\" or \"deny\", not \"route\"");
  EXPECT_EQ(AnswerProblem(json::parse(R"({"applyNetworkPolicyAmendment":{"action":"deny"}})")),
            "applyNetworkPolicyAmendment: missing \"host\"");
}

TEST(AnswerTest, UnknownDecisions) {
  EXPECT_EQ(AnswerProblem("acept"), "unknown decision \"acept\"");
  EXPECT_EQ(AnswerProblem(json::parse(R"({"approve":{}})")), "unknown decision \"approve\"");
  EXPECT_EQ(AnswerProblem(json::parse(R"({"route":{},"cancel":{}})")),
            "a decision must be a string or an object with one member");
  EXPECT_EQ(AnswerProblem(true), "a decision must be a string or an object with one member");
}

TEST(AnswerTest, LiveResponsesFallBackToDecline) {
  std::string why;
  EXPECT_EQ(FromLine(R"({"jsonrpc":"2.0","id":"a1","result":{"decision":"acceptForSession"}})"),
            Answer{answer::AcceptForSession{}});
  EXPECT_EQ(FromLine(R"({"jsonrpc":"2.0","id":"a1","result":{"decision":"bogus"}})", &why),
            Answer{answer::Decline{}});
  EXPECT_EQ(why, "unknown decision \"bogus\"");
  EXPECT_EQ(FromLine(R"({"jsonrpc":"2.0","id":"a1","error":{"code":-1,"message":"no"}})", &why),
            Answer{answer::Decline{}});
  EXPECT_EQ(why, "JSON-RPC error -1: no");
  EXPECT_EQ(FromLine(R"({"jsonrpc":"2.0","id":"a1","result":{}})", &why),
            Answer{answer::Decline{}});
  EXPECT_EQ(why, "result has no \"decision\"");
  EXPECT_EQ(FromLine(R"({"jsonrpc":"2.0","id":"a1","result":"accept"})"),
            Answer{answer::Decline{}});
  // A malformed response is an error, so a decline too.
  EXPECT_EQ(FromLine(R"({"id":"a1","result":{"decision":"accept"}})"), Answer{answer::Decline{}});
  EXPECT_EQ(
      FromLine(R"({"jsonrpc":"2.0","id":"a1","result":{"decision":{"applyNetworkPolicyAmendment":)"
               R"({"host":"*","action":"allow"}}}})",
               &why),
      Answer{answer::Decline{}});
  EXPECT_NE(why.find("a bare \"*\" is not allowed"), std::string::npos);
}

TEST(AnswerTest, WhyDeclinedIsUntouchedOnSuccess) {
  std::string why = "unchanged";
  EXPECT_EQ(AnswerFromResponse(Result({{"decision", "accept"}}), &why), Answer{answer::Accept{}});
  EXPECT_EQ(why, "unchanged");
}

TEST(AnswerTest, EncodingRoundTrips) {
  const Answer answers[] = {
      answer::Accept{},
      answer::AcceptForSession{},
      answer::Decline{},
      answer::DeclineForSession{},
      answer::Cancel{},
      answer::Route{},
      answer::Route{"http://user:pw@proxy:8080"},
      answer::Amendment{MustParse("[fd00::/8]:22"), AmendmentAction::kDeny},
      answer::Amendment{MustParse("github.com:443"), AmendmentAction::kAllow, true},
  };
  for (const Answer& a : answers) {
    const json result = json::parse(ToLine(ApprovalResult(a)));
    EXPECT_EQ(AnswerFromResponse(Result(result)), a) << result.dump();
  }
  EXPECT_EQ(ApprovalResult(answer::Accept{}), json::parse(R"({"decision":"accept"})"));
  EXPECT_EQ(AnswerToJson(answer::Route{}), json::parse(R"({"route":{}})"));
  EXPECT_EQ(
      AnswerToJson(answer::Amendment{MustParse("GitHub.com"), AmendmentAction::kAllow}),
      json::parse(
          R"({"applyNetworkPolicyAmendment":{"host":"github.com","action":"allow","persist":false}})"));
}

}  // namespace
}  // namespace sandgate::approvals
