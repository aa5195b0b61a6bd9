#include "vendor/bubblewrap/text_lines.h"

#include <gtest/gtest.h>

namespace sandgate::bubblewrap {
namespace {

TEST(TextLinesTest, FirstLineStopsAtNewlineAndDropsCarriageReturn) {
  EXPECT_EQ(FirstLine("one\r\ntwo\n"), "one");
  EXPECT_EQ(FirstLine("only"), "only");
  EXPECT_EQ(FirstLine(""), "");
}

TEST(TextLinesTest, LastNonEmptyLineSkipsTrailingBlankLines) {
  EXPECT_EQ(LastNonEmptyLine("a\nb\n\n  \n"), "b");
  EXPECT_EQ(LastNonEmptyLine("a\r\nb\r\n"), "b");
  EXPECT_EQ(LastNonEmptyLine("single"), "single");
  EXPECT_EQ(LastNonEmptyLine("\n\n \t\n"), "");
  EXPECT_EQ(LastNonEmptyLine(""), "");
}

TEST(TextLinesTest, SanitizeLineRemovesControlCharactersAndCuts) {
  EXPECT_EQ(SanitizeLine("  plain text \n"), "plain text");
  EXPECT_EQ(SanitizeLine("a\tb"), "a b");
  EXPECT_EQ(SanitizeLine("red \x1b[31mtext"), "red ?[31mtext");
  EXPECT_EQ(SanitizeLine("a\nb"), "a?b");
  EXPECT_EQ(SanitizeLine("0123456789", 8), "01234...");
  EXPECT_EQ(SanitizeLine("0123456789", 10), "0123456789");
  EXPECT_EQ(SanitizeLine("0123456789", 2), "..");
}

}  // namespace
}  // namespace sandgate::bubblewrap
