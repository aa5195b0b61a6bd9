#include "approvals/replay.h"

#include <gtest/gtest.h>

#include <string>

#include "test_util.h"

namespace sandgate::approvals {
namespace {

using nlohmann::json;
using testing::AddrDest;
using testing::HostAddrDest;
using testing::HostDest;
using testing::UnixAbstractDest;
using testing::UnixPathDest;

ReplayApprover MustLoad(std::string_view content) {
  auto parsed = ReplayApprover::Parse(content);
  if (const auto* error = std::get_if<ReplayError>(&parsed)) {
    ADD_FAILURE() << error->message;
    return std::get<ReplayApprover>(ReplayApprover::Parse(""));
  }
  return std::get<ReplayApprover>(std::move(parsed));
}

std::string LoadError(std::string_view content) {
  auto parsed = ReplayApprover::Parse(content);
  if (const auto* error = std::get_if<ReplayError>(&parsed)) {
    return error->message;
  }
  ADD_FAILURE() << "replay file unexpectedly valid";
  return "";
}

TEST(ReplayTest, AllExpectationsMatchedInOrder) {
  ReplayApprover replay = MustLoad(
      "{\"expect\":{\"host\":\"github.com\",\"port\":443,\"protocol\":\"tcp\"},"
      "\"decision\":\"accept\"}\r\n"
      "\n"
      "   \n"
      R"({"expect":{"address":"10.0.0.1"},"decision":{"route":{"proxy":"http://p:3128"}}})"
      "\n"
      R"({"expect":{},"decision":"declineForSession","comment":"anything else, once"})"
      "\n");
  EXPECT_EQ(replay.Next(HostAddrDest("GitHub.com.", "140.82.112.3", 443)),
            Answer{answer::Accept{}});
  EXPECT_EQ(replay.Next(AddrDest("10.0.0.1", 80, Protocol::kUdp)),
            Answer{answer::Route{"http://p:3128"}});
  EXPECT_EQ(replay.Next(UnixPathDest("/x.sock")), Answer{answer::DeclineForSession{}});
  EXPECT_EQ(replay.Summary(), json::parse(R"({"matched":3,"unexpected":0,"unused":0})"));
  EXPECT_FALSE(replay.Failed());
}

TEST(ReplayTest, MismatchIsDeclinedAndDoesNotConsume) {
  ReplayApprover replay =
      MustLoad(R"({"expect":{"host":"github.com","port":443},"decision":"accept"})"
               "\n"
               R"({"expect":{"host":"example.com"},"decision":"accept"})");
  EXPECT_EQ(replay.Next(HostDest("evil.com", 443)), Answer{answer::Decline{}});
  // Right host, wrong port.
  EXPECT_EQ(replay.Next(HostDest("github.com", 80)), Answer{answer::Decline{}});
  // IP only: a host expectation needs the host.
  EXPECT_EQ(replay.Next(AddrDest("140.82.112.3", 443)), Answer{answer::Decline{}});
  EXPECT_EQ(replay.Next(HostDest("github.com", 443)), Answer{answer::Accept{}});
  EXPECT_EQ(replay.Summary(), json::parse(R"({"matched":1,"unexpected":3,"unused":1})"));
  EXPECT_TRUE(replay.Failed());
  ASSERT_EQ(replay.unexpected().size(), 3u);
  EXPECT_EQ(replay.unexpected()[0].host, "evil.com");
}

TEST(ReplayTest, UnusedExpectationFails) {
  ReplayApprover replay = MustLoad(R"({"expect":{"port":53},"decision":"accept"})"
                                   "\n"
                                   R"({"expect":{"port":443},"decision":"accept"})");
  EXPECT_EQ(replay.Next(AddrDest("1.1.1.1", 53, Protocol::kUdp)), Answer{answer::Accept{}});
  EXPECT_EQ(replay.unused(), 1u);
  EXPECT_TRUE(replay.Failed());
  EXPECT_EQ(replay.Summary(), json::parse(R"({"matched":1,"unexpected":0,"unused":1})"));
}

TEST(ReplayTest, RequestsAfterTheLastExpectationAreUnexpected) {
  ReplayApprover replay = MustLoad(R"({"expect":{},"decision":"accept"})");
  EXPECT_EQ(replay.Next(HostDest("a.com", 1)), Answer{answer::Accept{}});
  EXPECT_EQ(replay.Next(HostDest("a.com", 1)), Answer{answer::Decline{}});
  EXPECT_EQ(replay.Summary(), json::parse(R"({"matched":1,"unexpected":1,"unused":0})"));
  EXPECT_TRUE(replay.Failed());
}

TEST(ReplayTest, EmptyFile) {
  ReplayApprover replay = MustLoad("");
  EXPECT_FALSE(replay.Failed());
  EXPECT_EQ(replay.Next(HostDest("a.com", 1)), Answer{answer::Decline{}});
  EXPECT_TRUE(replay.Failed());
}

TEST(ReplayTest, AddressesAreNormalizedAndPathsMatched) {
  ReplayApprover replay =
      MustLoad(R"({"expect":{"address":"::ffff:127.0.0.1","port":8080},"decision":"accept"})"
               "\n"
               R"({"expect":{"protocol":"unix","path":"/var/run/docker.sock"},"decision":"cancel"})"
               "\n"
               R"({"expect":{"path":"@dbus"},"decision":"decline"})");
  EXPECT_EQ(replay.Next(AddrDest("127.0.0.1", 8080)), Answer{answer::Accept{}});
  EXPECT_EQ(replay.Next(UnixAbstractDest("/var/run/docker.sock")), Answer{answer::Decline{}});
  EXPECT_EQ(replay.Next(UnixPathDest("/var/run/docker.sock")), Answer{answer::Cancel{}});
  EXPECT_EQ(replay.Next(UnixAbstractDest("dbus")), Answer{answer::Decline{}});
  EXPECT_EQ(replay.Summary(), json::parse(R"({"matched":3,"unexpected":1,"unused":0})"));
}

TEST(ReplayTest, HostMatchesAnyNameOfTheAddress) {
  ReplayApprover replay =
      MustLoad(R"({"expect":{"host":"A.Example.","port":443},"decision":"accept"})"
               "\n"
               R"({"expect":{"host":"a.example"},"decision":"decline"})");
  // a.example was resolved first, b.example later: the request shows b.example.
  Destination d = HostAddrDest("b.example", "203.0.113.10", 443);
  d.names = {"b.example", "a.example"};
  EXPECT_EQ(replay.Next(d), Answer{answer::Accept{}});
  // A name the address does not have is still a mismatch, and does not consume.
  Destination other = HostAddrDest("b.example", "203.0.113.10", 443);
  other.names = {"b.example", "c.example"};
  EXPECT_EQ(replay.Next(other), Answer{answer::Decline{}});
  EXPECT_EQ(replay.matched(), 1u);
  ASSERT_EQ(replay.unexpected().size(), 1u);
  // Names alone, without a host shown, match too.
  Destination names_only = AddrDest("203.0.113.10", 80);
  names_only.names = {"a.example"};
  EXPECT_EQ(replay.Next(names_only), Answer{answer::Decline{}});
  EXPECT_EQ(replay.matched(), 2u);
  EXPECT_EQ(replay.unexpected().size(), 1u);
}

TEST(ReplayTest, ErrorsNameTheLine) {
  EXPECT_EQ(LoadError(R"({"expect":{},"decision":"accept"})"
                      "\n\n"
                      R"({"expect":{},"decision":"acept"})"),
            "replay line 3: unknown decision \"acept\"");
  EXPECT_EQ(LoadError("{\"expect\":{},\"decision\":\"accept\"}\n{oops"),
            "replay line 2: invalid JSON at byte 2");
  EXPECT_EQ(LoadError(R"({"decision":"accept"})"), "replay line 1: missing \"expect\"");
  EXPECT_EQ(LoadError(R"({"expect":{}})"), "replay line 1: missing \"decision\"");
  EXPECT_EQ(LoadError(R"({"expect":{"hots":"a.com"},"decision":"accept"})"),
            "replay line 1: \"expect\": unknown member \"hots\"");
  EXPECT_EQ(LoadError(R"({"expect":{"port":70000},"decision":"accept"})"),
            "replay line 1: \"port\" out of range 0-65535");
  EXPECT_EQ(LoadError(R"({"expect":{"protocol":"icmp"},"decision":"accept"})"),
            "replay line 1: unknown protocol \"icmp\"");
  EXPECT_EQ(LoadError(R"({"expect":{"address":"1.2.3"},"decision":"accept"})"),
            "replay line 1: invalid address \"1.2.3\"");
  EXPECT_EQ(LoadError(R"({"expect":{"host":""},"decision":"accept"})"),
            "replay line 1: \"host\" must not be empty");
  EXPECT_EQ(LoadError(R"({"expect":[],"decision":"accept"})"),
            "replay line 1: \"expect\" must be an object");
  EXPECT_EQ(LoadError(R"(["expect"])"), "replay line 1: expected an object");
  // A JSON "\n" inside a quoted value must not split the one-line message.
  EXPECT_EQ(LoadError(R"({"expect":{},"decision":"ac\ncept"})"),
            "replay line 1: unknown decision \"ac\\x0acept\"");
  EXPECT_EQ(LoadError(R"({"expect":{},"decision":"accept","extra":1})"),
            "replay line 1: unknown member \"extra\"");
}

}  // namespace
}  // namespace sandgate::approvals
