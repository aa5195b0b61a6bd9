#include "pipelines/inner/text.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <string>

namespace sandgate::inner {
namespace {

std::string Text(const Message& m) { return std::string(m.Data(), m.Size()); }

TEST(InnerText, ErrorTextIsGlibcsWording) {
  // Every errno with a text of its own must say what strerror says: the supervisor shows these
  // to the user exactly as it shows the hidden subcommand's.
  for (int errnum = 1; errnum < 134; ++errnum) {
    Message m;
    m.AddError(errnum);
    const std::string got = Text(m);
    if (got.rfind("error ", 0) == 0) {
      EXPECT_EQ(got, "error " + std::to_string(errnum));
    } else {
      EXPECT_EQ(got, std::strerror(errnum)) << "errno " << errnum;
    }
  }
  Message m;
  m.AddError(ENOENT);
  EXPECT_EQ(Text(m), "No such file or directory");  // the one the 127 message always needs
}

TEST(InnerText, NumbersAndPrefixes) {
  Message m;
  m.AddNumber(0).Add(' ').AddNumber(42).Add(' ').AddNumber(-7).Add(' ').AddNumber(INT_MAX);
  EXPECT_EQ(Text(m), "0 42 -7 2147483647");
  int value = -1;
  EXPECT_TRUE(ParseNonNegative("2147483647", &value));
  EXPECT_EQ(value, INT_MAX);
  EXPECT_FALSE(ParseNonNegative("2147483648", &value));
  EXPECT_FALSE(ParseNonNegative("", &value));
  EXPECT_FALSE(ParseNonNegative("3x", &value));
  EXPECT_FALSE(ParseNonNegative("-1", &value));
  const char* rest = nullptr;
  EXPECT_TRUE(StartsWith("--handoff-fd=3", "--handoff-fd=", &rest));
  EXPECT_STREQ(rest, "3");
  EXPECT_FALSE(StartsWith("--hand", "--handoff-fd="));
  EXPECT_TRUE(Equal("--", "--"));
  EXPECT_FALSE(Equal("--probe", "--"));
}

TEST(InnerText, GetenvMatchesWholeNamesOnly) {
  char a[] = "PATHX=/no";
  char b[] = "PATH=/bin";
  char* envp[] = {a, b, nullptr};
  EXPECT_STREQ(Getenv(envp, "PATH"), "/bin");
  EXPECT_EQ(Getenv(envp, "PAT"), nullptr);
}

TEST(InnerText, AMessageIsCutAtItsCapacity) {
  Message m;
  const std::string long_text(Message::kCapacity + 100, 'x');
  m.Add(long_text.c_str()).Add('y');
  EXPECT_EQ(m.Size(), Message::kCapacity);
  EXPECT_EQ(Text(m), std::string(Message::kCapacity, 'x'));
}

}  // namespace
}  // namespace sandgate::inner
