#include "approvals/domain.h"

#include <gtest/gtest.h>

#include <string>
#include <variant>

namespace sandgate::approvals {
namespace {

std::string Canonical(std::string_view domain) {
  auto result = CanonicalDomain(domain);
  if (const auto* problem = std::get_if<Problem>(&result)) {
    ADD_FAILURE() << domain << ": " << problem->what;
    return "";
  }
  return std::get<std::string>(result);
}

std::string DomainError(std::string_view domain) {
  auto result = CanonicalDomain(domain);
  if (const auto* problem = std::get_if<Problem>(&result)) {
    return problem->what;
  }
  ADD_FAILURE() << domain << " unexpectedly valid";
  return "";
}

TEST(DomainTest, CanonicalFormIsLowercaseWithoutTrailingDot) {
  EXPECT_EQ(Canonical("GitHub.COM."), "github.com");
  EXPECT_EQ(Canonical("api.github.com"), "api.github.com");
  EXPECT_EQ(Canonical("xn--bcher-kva.de"), "xn--bcher-kva.de");
  EXPECT_EQ(Canonical("a-b.c0m"), "a-b.c0m");
  EXPECT_EQ(Canonical("intranet"), "intranet");
  EXPECT_EQ(Canonical("1.2.3.example"), "1.2.3.example");
}

TEST(DomainTest, LengthLimits) {
  const std::string label63(63, 'a');
  EXPECT_EQ(Canonical(label63 + ".com"), label63 + ".com");
  EXPECT_EQ(DomainError(std::string(64, 'a') + ".com"),
            "label \"" + std::string(64, 'a') + "\" is longer than 63 characters");
  // 4 labels of 63 plus 3 dots = 255; trim to exactly 253 and 254.
  const std::string long_name = label63 + "." + label63 + "." + label63 + "." + label63;
  const std::string name253 = long_name.substr(0, 253);
  ASSERT_EQ(name253.size(), 253u);
  EXPECT_EQ(Canonical(name253), name253);
  EXPECT_EQ(Canonical(name253 + "."), name253);  // the trailing dot does not count
  EXPECT_EQ(DomainError(long_name.substr(0, 254)),
            "domain name is 254 characters long (at most 253)");
}

TEST(DomainTest, RejectsInvalidNames) {
  EXPECT_EQ(DomainError(""), "empty domain name");
  EXPECT_EQ(DomainError("."), "empty domain name");
  EXPECT_EQ(DomainError("a..b"), "empty label in domain name");
  EXPECT_EQ(DomainError(".a.b"), "empty label in domain name");
  EXPECT_EQ(DomainError("a.b.."), "empty label in domain name");
  EXPECT_EQ(DomainError("-a.com"), "label \"-a\" starts or ends with '-'");
  EXPECT_EQ(DomainError("a-.com"), "label \"a-\" starts or ends with '-'");
  EXPECT_EQ(DomainError("a_b.com"),
            "invalid character '_' in domain name (allowed: a-z, 0-9, '-')");
  EXPECT_EQ(DomainError("exa mple.com"),
            "invalid character ' ' in domain name (allowed: a-z, 0-9, '-')");
  EXPECT_EQ(DomainError("b\xc3\xbc"
                        "cher.de"),
            "non-ASCII character in domain name (use the punycode xn-- form)");
  EXPECT_EQ(DomainError("a\tb.com"), "control character in domain name");
  EXPECT_EQ(DomainError("10.0.0.256"),
            "not a valid IPv4 address or domain name (last label \"256\" is numeric)");
  EXPECT_EQ(DomainError("example.123"),
            "not a valid IPv4 address or domain name (last label \"123\" is numeric)");
}

TEST(DomainTest, ExactScope) {
  EXPECT_TRUE(DomainMatches("github.com", DomainScope::kExact, "github.com"));
  EXPECT_TRUE(DomainMatches("github.com", DomainScope::kExact, "GitHub.Com"));
  EXPECT_TRUE(DomainMatches("github.com", DomainScope::kExact, "github.com."));
  EXPECT_FALSE(DomainMatches("github.com", DomainScope::kExact, "api.github.com"));
  EXPECT_FALSE(DomainMatches("github.com", DomainScope::kExact, "github.co"));
  EXPECT_FALSE(DomainMatches("github.com", DomainScope::kExact, "github.com.evil.org"));
  EXPECT_FALSE(DomainMatches("github.com", DomainScope::kExact, ""));
}

TEST(DomainTest, SubdomainsOnlyScope) {
  const auto match = [](std::string_view host) {
    return DomainMatches("github.com", DomainScope::kSubdomainsOnly, host);
  };
  EXPECT_TRUE(match("api.github.com"));
  EXPECT_TRUE(match("a.b.github.com"));
  EXPECT_TRUE(match("API.GitHub.com."));
  EXPECT_FALSE(match("github.com"));
  EXPECT_FALSE(match("evilgithub.com"));
  EXPECT_FALSE(match(".github.com"));
  EXPECT_FALSE(match("github.com.evil.org"));
  EXPECT_FALSE(match("x.github.co"));
}

TEST(DomainTest, DomainAndSubdomainsScope) {
  const auto match = [](std::string_view host) {
    return DomainMatches("github.com", DomainScope::kDomainAndSubdomains, host);
  };
  EXPECT_TRUE(match("github.com"));
  EXPECT_TRUE(match("api.github.com"));
  EXPECT_TRUE(match("GITHUB.COM."));
  EXPECT_FALSE(match("evilgithub.com"));
  EXPECT_FALSE(match("github.com.evil.org"));
  EXPECT_FALSE(match("ithub.com"));
}

TEST(DomainTest, CanonicalHostName) {
  EXPECT_EQ(CanonicalHostName("WWW.Example.COM."), "www.example.com");
  EXPECT_EQ(CanonicalHostName("_srv._tcp.example.com"), "_srv._tcp.example.com");
  EXPECT_EQ(CanonicalHostName(""), "");
}

}  // namespace
}  // namespace sandgate::approvals
