#include "approvals/path_glob.h"

#include <gtest/gtest.h>

#include <string>

namespace sandgate::approvals {
namespace {

struct GlobCase {
  std::string_view pattern;
  std::string_view text;
  bool matches;
};

TEST(PathGlobTest, Table) {
  const GlobCase cases[] = {
      {"/var/run/docker.sock", "/var/run/docker.sock", true},
      {"/var/run/docker.sock", "/var/run/docker.soc", false},
      {"/var/run/docker.sock", "/var/run/docker.sockx", false},
      {"/var/run/*.sock", "/var/run/docker.sock", true},
      {"/var/run/*.sock", "/var/run/.sock", true},
      {"/var/run/*.sock", "/var/run/sub/docker.sock", false},
      {"/run/user/*/bus", "/run/user/1000/bus", true},
      {"/run/user/*/bus", "/run/user/1000/x/bus", false},
      {"/run/user/*/bus", "/run/user//bus", true},
      {"/var/**", "/var/run/a/b.sock", true},
      {"/var/**", "/var/", true},
      {"/var/**", "/var", false},
      {"/var/**/x.sock", "/var/x.sock", true},
      {"/var/**/x.sock", "/var/a/x.sock", true},
      {"/var/**/x.sock", "/var/a/b/c/x.sock", true},
      {"/var/**/x.sock", "/var/ax.sock", false},
      {"/var/**/x.sock", "/varx.sock", false},
      {"**.sock", "/a/b/c.sock", true},
      {"/tmp/?.sock", "/tmp/a.sock", true},
      {"/tmp/?.sock", "/tmp/ab.sock", false},
      {"/tmp/?.sock", "/tmp/.sock", false},
      {"/tmp/a?b", "/tmp/a/b", false},
      {"/tmp/a\\*b", "/tmp/a*b", true},
      {"/tmp/a\\*b", "/tmp/axb", false},
      {"/tmp/a\\?b", "/tmp/axb", false},
      {"/tmp/a\\\\b", "/tmp/a\\b", true},
      {"*", "", true},
      {"*", "abc", true},
      {"*", "a/b", false},
      {"", "", true},
      {"", "a", false},
      {"a*b*c", "abc", true},
      {"a*b*c", "aXbYc", true},
      {"a*b*c", "aXbY", false},
  };
  for (const GlobCase& c : cases) {
    EXPECT_EQ(GlobMatches(c.pattern, c.text), c.matches)
        << "pattern '" << c.pattern << "' text '" << c.text << "'";
  }
}

TEST(PathGlobTest, PathologicalPatternStaysLinear) {
  // Exponential with naive backtracking; a few thousand steps here.
  const std::string text = "/" + std::string(200, 'a');
  EXPECT_FALSE(GlobMatches("/*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", text));
  EXPECT_FALSE(GlobMatches("/**a**a**a**a**a**a**a**a**a**a**b", text));
  EXPECT_TRUE(GlobMatches("/*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a", text));
}

TEST(PathGlobTest, CheckGlob) {
  EXPECT_FALSE(CheckGlob("/a/b").has_value());
  EXPECT_FALSE(CheckGlob("/a\\*").has_value());
  EXPECT_FALSE(CheckGlob("/a\\\\").has_value());
  ASSERT_TRUE(CheckGlob("/a\\").has_value());
  EXPECT_EQ(CheckGlob("/a\\")->what, "trailing '\\' escapes nothing");
}

TEST(PathGlobTest, EscapeGlobMatchesOnlyTheLiteral) {
  const std::string literal = "/tmp/a*b?c\\d";
  const std::string escaped = EscapeGlob(literal);
  EXPECT_EQ(escaped, "/tmp/a\\*b\\?c\\\\d");
  EXPECT_TRUE(GlobMatches(escaped, literal));
  EXPECT_FALSE(GlobMatches(escaped, "/tmp/aXbYc\\d"));
  EXPECT_FALSE(CheckGlob(escaped).has_value());
}

TEST(PathGlobTest, NormalizeAbsolutePath) {
  EXPECT_EQ(NormalizeAbsolutePath("/var/run/docker.sock"), "/var/run/docker.sock");
  EXPECT_EQ(NormalizeAbsolutePath("/var//run/./docker.sock"), "/var/run/docker.sock");
  EXPECT_EQ(NormalizeAbsolutePath("/var/run/../run/docker.sock"), "/var/run/docker.sock");
  EXPECT_EQ(NormalizeAbsolutePath("/../../etc/x"), "/etc/x");
  EXPECT_EQ(NormalizeAbsolutePath("/a/b/"), "/a/b");
  EXPECT_EQ(NormalizeAbsolutePath("/"), "/");
  EXPECT_EQ(NormalizeAbsolutePath("//"), "/");
  EXPECT_EQ(NormalizeAbsolutePath("/a/.."), "/");
  EXPECT_EQ(NormalizeAbsolutePath("/..."), "/...");
  EXPECT_FALSE(NormalizeAbsolutePath("var/run/docker.sock").has_value());
  EXPECT_FALSE(NormalizeAbsolutePath("").has_value());
  EXPECT_FALSE(NormalizeAbsolutePath("./x").has_value());
}

}  // namespace
}  // namespace sandgate::approvals
