#include "approvals/controller_requests.h"

#include <gtest/gtest.h>

#include <csignal>
#include <string>

namespace sandgate::approvals {
namespace {

using nlohmann::json;

template <typename T>
std::string ProblemOf(const std::variant<T, Problem>& result) {
  if (const auto* problem = std::get_if<Problem>(&result)) {
    return problem->what;
  }
  ADD_FAILURE() << "no problem";
  return "";
}

int SignalOf(const json& params) {
  auto parsed = ParseTerminateParams(params);
  if (const auto* problem = std::get_if<Problem>(&parsed)) {
    ADD_FAILURE() << params.dump() << ": " << problem->what;
    return -1;
  }
  return std::get<TerminateRequest>(parsed).signal;
}

TEST(TerminateParamsTest, Signals) {
  EXPECT_EQ(SignalOf(json()), SIGTERM);
  EXPECT_EQ(SignalOf(json::object()), SIGTERM);
  EXPECT_EQ(SignalOf({{"signal", nullptr}}), SIGTERM);
  EXPECT_EQ(SignalOf({{"signal", "SIGKILL"}}), SIGKILL);
  EXPECT_EQ(SignalOf({{"signal", "int"}}), SIGINT);
  EXPECT_EQ(SignalOf({{"signal", 9}}), SIGKILL);
  EXPECT_EQ(SignalOf({{"signal", 64}}), 64);
}

TEST(TerminateParamsTest, Problems) {
  EXPECT_EQ(ProblemOf(ParseTerminateParams({{"signal", "SIGFOO"}})), "unknown signal \"SIGFOO\"");
  EXPECT_EQ(ProblemOf(ParseTerminateParams({{"signal", 0}})),
            "\"signal\" out of range 1-64 (or a name such as \"SIGTERM\")");
  EXPECT_EQ(ProblemOf(ParseTerminateParams({{"signal", 65}})),
            "\"signal\" out of range 1-64 (or a name such as \"SIGTERM\")");
  EXPECT_EQ(ProblemOf(ParseTerminateParams({{"signal", true}})),
            "\"signal\" must be an integer (or a name such as \"SIGTERM\")");
  EXPECT_EQ(ProblemOf(ParseTerminateParams({{"sig", 9}})), "unknown member \"sig\"");
  EXPECT_EQ(ProblemOf(ParseTerminateParams(json::array({9}))), "expected an object");
}

TEST(PolicyUpdateParamsTest, ParsesAllLists) {
  auto parsed = ParsePolicyUpdateParams(
      json::parse(R"({"allow":["github.com:443"],"deny":["10.0.0.0/8","[::1]"],"route":[]})"));
  ASSERT_TRUE(std::holds_alternative<RuleLists>(parsed));
  const RuleLists& lists = std::get<RuleLists>(parsed);
  ASSERT_EQ(lists.allow.size(), 1u);
  EXPECT_EQ(lists.allow[0].text, "github.com:443");
  ASSERT_EQ(lists.deny.size(), 2u);
  EXPECT_EQ(lists.deny[1].text, "[::1]");
  EXPECT_TRUE(lists.route.empty());

  auto only_deny = ParsePolicyUpdateParams(json::parse(R"({"deny":["localhost"]})"));
  ASSERT_TRUE(std::holds_alternative<RuleLists>(only_deny));
  EXPECT_EQ(std::get<RuleLists>(only_deny).deny.size(), 1u);
}

TEST(PolicyUpdateParamsTest, Problems) {
  EXPECT_EQ(ProblemOf(ParsePolicyUpdateParams(json::parse(R"({"allow":["ok.com","*"]})"))),
            "\"*\": a bare \"*\" is not allowed; to match every host write 0.0.0.0/0 and [::/0]");
  EXPECT_EQ(ProblemOf(ParsePolicyUpdateParams(json::parse(R"({"alow":["x.com"]})"))),
            "unknown member \"alow\"");
  EXPECT_EQ(ProblemOf(ParsePolicyUpdateParams(json::parse(R"({"deny":"x.com"})"))),
            "\"deny\" must be an array of rules");
  EXPECT_EQ(ProblemOf(ParsePolicyUpdateParams(json::parse(R"({"route":[1]})"))),
            "\"route\" must hold strings");
  EXPECT_EQ(ProblemOf(ParsePolicyUpdateParams(json())), "expected an object");
}

TEST(WriteStdinParamsTest, Forms) {
  auto text = ParseWriteStdinParams(json::parse(R"({"data":"hello\n"})"));
  ASSERT_TRUE(std::holds_alternative<WriteStdinRequest>(text));
  EXPECT_EQ(std::get<WriteStdinRequest>(text).data, "hello\n");
  EXPECT_FALSE(std::get<WriteStdinRequest>(text).close);

  auto closing = ParseWriteStdinParams(json::parse(R"({"data":"bye","close":true})"));
  ASSERT_TRUE(std::holds_alternative<WriteStdinRequest>(closing));
  EXPECT_EQ(std::get<WriteStdinRequest>(closing).data, "bye");
  EXPECT_TRUE(std::get<WriteStdinRequest>(closing).close);

  auto close_only = ParseWriteStdinParams(json::parse(R"({"close":true})"));
  ASSERT_TRUE(std::holds_alternative<WriteStdinRequest>(close_only));
  EXPECT_EQ(std::get<WriteStdinRequest>(close_only).data, "");
  EXPECT_TRUE(std::get<WriteStdinRequest>(close_only).close);

  auto binary = ParseWriteStdinParams(json::parse(R"({"data":"/wAB","encoding":"base64"})"));
  ASSERT_TRUE(std::holds_alternative<WriteStdinRequest>(binary));
  EXPECT_EQ(std::get<WriteStdinRequest>(binary).data, std::string("\xff\x00\x01", 3));
}

TEST(WriteStdinParamsTest, Problems) {
  EXPECT_EQ(ProblemOf(ParseWriteStdinParams(json::object())), "expected \"data\" or \"close\"");
  EXPECT_EQ(ProblemOf(ParseWriteStdinParams(json::parse(R"({"data":5})"))),
            "\"data\" must be a string");
  EXPECT_EQ(ProblemOf(ParseWriteStdinParams(json::parse(R"({"close":"yes"})"))),
            "\"close\" must be a boolean");
  EXPECT_EQ(ProblemOf(ParseWriteStdinParams(json::parse(R"({"data":"!!","encoding":"base64"})"))),
            "\"data\" is not valid base64");
  EXPECT_EQ(ProblemOf(ParseWriteStdinParams(json::parse(R"({"data":"x","encoding":"hex"})"))),
            "unknown encoding \"hex\"");
  EXPECT_EQ(ProblemOf(ParseWriteStdinParams(json::parse(R"({"data":"x","eof":true})"))),
            "unknown member \"eof\"");
}

}  // namespace
}  // namespace sandgate::approvals
