#include "approvals/proxy_url.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <variant>

namespace sandgate::approvals {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

ProxyUrl MustParse(std::string_view text) {
  auto parsed = ParseProxyUrl(text);
  if (const auto* error = std::get_if<std::string>(&parsed)) {
    ADD_FAILURE() << "proxy URL does not parse: " << *error;
    return {};
  }
  return std::get<ProxyUrl>(parsed);
}

std::string ParseError(std::string_view text) {
  auto parsed = ParseProxyUrl(text);
  if (const auto* error = std::get_if<std::string>(&parsed)) {
    return *error;
  }
  ADD_FAILURE() << "proxy URL unexpectedly parses: " << text;
  return "";
}

TEST(ProxyUrlTest, ParsesHttpAndSocks5) {
  EXPECT_EQ(MustParse("http://proxy.example:3128"),
            (ProxyUrl{ProxyScheme::kHttp, "proxy.example", 3128, std::nullopt, std::nullopt}));
  EXPECT_EQ(MustParse("socks5://127.0.0.1:1080"),
            (ProxyUrl{ProxyScheme::kSocks5, "127.0.0.1", 1080, std::nullopt, std::nullopt}));
  EXPECT_EQ(MustParse("socks5h://localhost:1080").scheme, ProxyScheme::kSocks5);
}

TEST(ProxyUrlTest, SchemeIsCaseInsensitiveAndHostIsLowercased) {
  const ProxyUrl url = MustParse("HTTP://Proxy.Example.:8080");
  EXPECT_EQ(url.scheme, ProxyScheme::kHttp);
  EXPECT_EQ(url.host, "proxy.example");
  EXPECT_EQ(MustParse("SOCKS5H://h:1").scheme, ProxyScheme::kSocks5);
  EXPECT_EQ(MustParse("Socks5://h:1").scheme, ProxyScheme::kSocks5);
}

TEST(ProxyUrlTest, PortRange) {
  EXPECT_EQ(MustParse("http://h:1").port, 1);
  EXPECT_EQ(MustParse("http://h:65535").port, 65535);
  EXPECT_THAT(ParseError("http://h:0"), HasSubstr("out of range 1-65535"));
  EXPECT_THAT(ParseError("http://h:65536"), HasSubstr("out of range 1-65535"));
  EXPECT_THAT(ParseError("http://h:100000"), HasSubstr("out of range 1-65535"));
  EXPECT_THAT(ParseError("http://h:-1"), HasSubstr("invalid port"));
  EXPECT_THAT(ParseError("http://h:80a"), HasSubstr("invalid port"));
  EXPECT_THAT(ParseError("http://h:+80"), HasSubstr("invalid port"));
}

TEST(ProxyUrlTest, PortIsRequired) {
  EXPECT_EQ(ParseError("http://proxy"), "proxy URL \"http://proxy\" has no port");
  EXPECT_THAT(ParseError("http://proxy:"), HasSubstr("has no port"));
  EXPECT_THAT(ParseError("socks5://[::1]"), HasSubstr("has no port"));
  EXPECT_THAT(ParseError("socks5://[::1]:"), HasSubstr("has no port"));
  EXPECT_THAT(ParseError("http://u:p@proxy/"), HasSubstr("has no port"));
}

TEST(ProxyUrlTest, RejectsBadSchemes) {
  EXPECT_THAT(ParseError("https://h:443"), HasSubstr("unsupported scheme"));
  EXPECT_THAT(ParseError("socks4://h:1080"), HasSubstr("unsupported scheme"));
  EXPECT_THAT(ParseError("ftp://h:21"), HasSubstr("unsupported scheme"));
  EXPECT_THAT(ParseError("h:3128"), HasSubstr("has no scheme"));
  EXPECT_THAT(ParseError(""), HasSubstr("has no scheme"));
  EXPECT_THAT(ParseError("://h:1"), HasSubstr("unsupported scheme"));
}

TEST(ProxyUrlTest, OnlyATrailingSlashIsAllowed) {
  EXPECT_EQ(MustParse("http://h:3128/").port, 3128);
  EXPECT_EQ(MustParse("socks5://[fd00::1]:1080/").host, "fd00::1");
  EXPECT_THAT(ParseError("http://h:3128/path"), HasSubstr("has a path"));
  EXPECT_THAT(ParseError("http://h:3128//"), HasSubstr("has a path"));
  EXPECT_THAT(ParseError("http://h:3128?x=1"), HasSubstr("has a query"));
  EXPECT_THAT(ParseError("http://h:3128/?x=1"), HasSubstr("has a path"));
  EXPECT_THAT(ParseError("http://h:3128#top"), HasSubstr("has a fragment"));
}

TEST(ProxyUrlTest, Hosts) {
  EXPECT_EQ(MustParse("http://[::1]:3128").host, "::1");
  EXPECT_EQ(MustParse("http://[FD00:0:0::1]:3128").host, "fd00::1");
  EXPECT_EQ(MustParse("http://10.1.2.3:3128").host, "10.1.2.3");
  EXPECT_EQ(MustParse("http://my_proxy:3128").host, "my_proxy");
  EXPECT_THAT(ParseError("http://:3128"), HasSubstr("has no host"));
  EXPECT_THAT(ParseError("http://u@:3128"), HasSubstr("has no host"));
  EXPECT_THAT(ParseError("http://::1:3128"), HasSubstr("without brackets"));
  EXPECT_THAT(ParseError("http://[::1:3128"), HasSubstr("without ']'"));
  EXPECT_THAT(ParseError("http://[1.2.3.4]:3128"), HasSubstr("invalid IPv6"));
  EXPECT_THAT(ParseError("http://[fe80::1%eth0]:3128"), HasSubstr("invalid IPv6"));
  EXPECT_THAT(ParseError("http://[::1]x:3128"), HasSubstr("after the IPv6 host"));
  EXPECT_THAT(ParseError("http://10.0.0.256:3128"), HasSubstr("invalid host name"));
  EXPECT_THAT(ParseError("http://a..b:3128"), HasSubstr("invalid host name"));
  EXPECT_THAT(ParseError("http://a b:3128"), HasSubstr("invalid host name"));
}

TEST(ProxyUrlTest, Credentials) {
  const ProxyUrl url = MustParse("socks5://alice:s3cret@proxy:1080");
  EXPECT_EQ(url.username, "alice");
  EXPECT_EQ(url.password, "s3cret");
  const ProxyUrl no_password = MustParse("http://alice@proxy:3128");
  EXPECT_EQ(no_password.username, "alice");
  EXPECT_EQ(no_password.password, std::nullopt);
  const ProxyUrl empty_password = MustParse("http://alice:@proxy:3128");
  EXPECT_EQ(empty_password.password, "");
  EXPECT_THAT(ParseError("http://:pw@proxy:3128"), HasSubstr("empty user name"));
  EXPECT_THAT(ParseError("http://@proxy:3128"), HasSubstr("empty user name"));
}

TEST(ProxyUrlTest, CredentialsArePercentDecoded) {
  const ProxyUrl url = MustParse("socks5://me%40corp.example:p%3Aw%2fd%25@[::1]:1080");
  EXPECT_EQ(url.username, "me@corp.example");
  EXPECT_EQ(url.password, "p:w/d%");
  // Raw characters that are not delimiters pass through; the last '@' ends the userinfo, so a
  // raw '/' or '#' in the password still counts as password.
  EXPECT_EQ(MustParse("http://u:a/b#c@h:1").password, "a/b#c");
  // A socks5 user name may contain ':' when escaped; HTTP Basic cannot carry one.
  EXPECT_EQ(MustParse("socks5://a%3Ab:c@h:1").username, "a:b");
  EXPECT_THAT(ParseError("http://a%3Ab:c@h:1"), HasSubstr("':' in the user name"));
}

TEST(ProxyUrlTest, RejectsBadEscapesAndRawAt) {
  EXPECT_THAT(ParseError("http://u%4:p@h:1"), HasSubstr("malformed %-escape in the user name"));
  EXPECT_THAT(ParseError("http://u:p%zz@h:1"), HasSubstr("malformed %-escape in the password"));
  EXPECT_THAT(ParseError("http://u:p%@h:1"), HasSubstr("malformed %-escape in the password"));
  EXPECT_THAT(ParseError("http://u:p%4@h:1"), HasSubstr("malformed %-escape in the password"));
  EXPECT_THAT(ParseError("http://u:p@ss@h:1"), HasSubstr("write it as %40"));
}

TEST(ProxyUrlTest, CredentialLengthLimit) {
  const std::string max(255, 'x');
  EXPECT_EQ(MustParse("socks5://" + max + ":" + max + "@h:1").username, max);
  // Limits apply to decoded bytes: 255 escapes decode to 255 bytes.
  std::string escaped;
  for (int i = 0; i < 255; ++i) {
    escaped += "%41";
  }
  EXPECT_EQ(MustParse("socks5://u:" + escaped + "@h:1").password, std::string(255, 'A'));
  EXPECT_THAT(ParseError("socks5://" + max + "x:p@h:1"), HasSubstr("user name longer than 255"));
  EXPECT_THAT(ParseError("socks5://u:" + max + "x@h:1"), HasSubstr("password longer than 255"));
}

TEST(ProxyUrlTest, ErrorsNeverShowThePassword) {
  EXPECT_EQ(ParseError("socks5://user:hunter2@host"),
            "proxy URL \"socks5://user:***@host\" has no port");
  EXPECT_EQ(ParseError("http://user:hunter2@host:1/x"),
            "proxy URL \"http://user:***@host:1/x\" has a path (only a trailing \"/\" is allowed)");
  for (const std::string_view bad :
       {"http://u:hunter2@h:0", "https://u:hunter2@h:1", "http://u:hunter2%zz@h:1",
        "http://u:hun@ter2@h:1", "u:hunter2@h:1", "http://u:hunter2#x@h:1/p",
        "http://u:hunter2@[::1", "socks5://u:hunter2/x@h"}) {
    EXPECT_THAT(ParseError(bad), Not(HasSubstr("hunter2"))) << bad;
  }
}

TEST(ProxyUrlTest, ErrorsAreOneLine) {
  const std::string error = ParseError("http://h\n:1\r");
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  EXPECT_EQ(error.find('\r'), std::string::npos) << error;
  EXPECT_THAT(error, HasSubstr("h\\x0A:1\\x0D"));
}

TEST(ProxyUrlTest, Redacted) {
  EXPECT_EQ(MustParse("socks5h://user:pw@host:1080").Redacted(), "socks5://user:***@host:1080");
  EXPECT_EQ(MustParse("HTTP://Host:3128/").Redacted(), "http://host:3128");
  EXPECT_EQ(MustParse("http://u@h:1").Redacted(), "http://u@h:1");
  EXPECT_EQ(MustParse("http://u:@h:1").Redacted(), "http://u:***@h:1");
  EXPECT_EQ(MustParse("socks5://[fd00::1]:1080").Redacted(), "socks5://[fd00::1]:1080");
  EXPECT_EQ(MustParse("socks5://me%40x%0A%3A:p@h:1").Redacted(), "socks5://me%40x%0A%3A:***@h:1");
  const ProxyUrl url = MustParse("socks5://u:topsecret@h:1");
  EXPECT_THAT(url.Redacted(), Not(HasSubstr("topsecret")));
  // The redacted form parses back to the same proxy, password aside.
  ProxyUrl again = MustParse(MustParse("socks5://a%40b:pw@[::1]:9/").Redacted());
  EXPECT_EQ(again.username, "a@b");
  EXPECT_EQ(again.host, "::1");
  EXPECT_EQ(again.port, 9);
}

}  // namespace
}  // namespace sandgate::approvals
