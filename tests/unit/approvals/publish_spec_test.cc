#include "approvals/publish_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <variant>

namespace sandgate::approvals {
namespace {

using ::testing::HasSubstr;

PublishSpec MustParse(std::string_view text) {
  auto parsed = ParsePublishSpec(text);
  if (const auto* error = std::get_if<std::string>(&parsed)) {
    ADD_FAILURE() << "does not parse: " << *error;
    return {};
  }
  return std::get<PublishSpec>(parsed);
}

std::string ParseError(std::string_view text) {
  auto parsed = ParsePublishSpec(text);
  if (const auto* error = std::get_if<std::string>(&parsed)) return *error;
  ADD_FAILURE() << "unexpectedly parses: " << text;
  return {};
}

TEST(PublishSpecTest, TwoPortsListenOnTheHostsLoopback) {
  const PublishSpec spec = MustParse("8080:80");
  EXPECT_EQ(spec.host_address.ToString(), "127.0.0.1");
  EXPECT_EQ(spec.host_port, 8080);
  EXPECT_EQ(spec.sandbox_port, 80);
  EXPECT_EQ(spec.text, "8080:80");
}

TEST(PublishSpecTest, AHostAddressComesFirst) {
  const PublishSpec v4 = MustParse("0.0.0.0:3000:5173");
  EXPECT_EQ(v4.host_address.ToString(), "0.0.0.0");
  EXPECT_EQ(v4.host_port, 3000);
  EXPECT_EQ(v4.sandbox_port, 5173);
  const PublishSpec v6 = MustParse("[::1]:8443:443");
  EXPECT_EQ(v6.host_address.ToString(), "::1");
  EXPECT_EQ(v6.host_port, 8443);
  EXPECT_EQ(v6.sandbox_port, 443);
}

TEST(PublishSpecTest, MalformedSpecsSayWhatIsExpected) {
  EXPECT_THAT(ParseError("8080"), HasSubstr("expected [HOSTADDR:]HOSTPORT:SANDBOXPORT"));
  EXPECT_THAT(ParseError(""), HasSubstr("expected"));
  EXPECT_THAT(ParseError("8080:0"), HasSubstr("ports are 1-65535"));
  EXPECT_THAT(ParseError("70000:80"), HasSubstr("ports are 1-65535"));
  EXPECT_THAT(ParseError("80:http"), HasSubstr("ports are 1-65535"));
  EXPECT_THAT(ParseError("+80:80"), HasSubstr("ports are 1-65535"));
  EXPECT_THAT(ParseError("localhost:8080:80"), HasSubstr("not an IPv4 address"));
  EXPECT_THAT(ParseError("::1:8080:80"), HasSubstr("expected"));
  EXPECT_THAT(ParseError("[127.0.0.1]:8080:80"), HasSubstr("not an IPv6 address"));
  EXPECT_THAT(ParseError("[::1]8080:80"), HasSubstr("expected"));
  EXPECT_THAT(ParseError("1.2.3.4:5:6:7"), HasSubstr("expected"));
}

}  // namespace
}  // namespace sandgate::approvals
