#include <gtest/gtest.h>

#include <string>

#include "approvals/base64.h"
#include "approvals/utf8.h"

namespace sandgate::approvals {
namespace {

TEST(Utf8Test, AcceptsValidText) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("hello\n"));
  EXPECT_TRUE(IsValidUtf8(std::string_view("a\0b", 3)));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9"));          // U+00E9
  EXPECT_TRUE(IsValidUtf8("\xe2\x82\xac"));      // U+20AC
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x98\x80"));  // U+1F600
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF, the last code point
  EXPECT_TRUE(IsValidUtf8("\xed\x9f\xbf"));      // U+D7FF, just below the surrogates
  EXPECT_TRUE(IsValidUtf8("\xee\x80\x80"));      // U+E000, just above them
  EXPECT_TRUE(IsValidUtf8("\xc2\x80"));          // U+0080, smallest 2-byte
  EXPECT_TRUE(IsValidUtf8("\xe0\xa0\x80"));      // U+0800, smallest 3-byte
  EXPECT_TRUE(IsValidUtf8("\xf0\x90\x80\x80"));  // U+10000, smallest 4-byte
}

TEST(Utf8Test, RejectsInvalidText) {
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xc1\xbf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xf0\x80\x80\xaf"));  // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // U+D800 surrogate
  EXPECT_FALSE(IsValidUtf8("\xed\xbf\xbf"));      // U+DFFF surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(IsValidUtf8("\xf5\x80\x80\x80"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("a\xc3(b"));             // bad continuation
  EXPECT_FALSE(IsValidUtf8("ok\xe2\x82\xac\xe2"));  // valid then truncated
}

TEST(Utf8Test, IncompleteTail) {
  EXPECT_EQ(IncompleteUtf8Tail(""), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("abc"), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("a\xe2"), 1u);
  EXPECT_EQ(IncompleteUtf8Tail("a\xe2\x82"), 2u);
  EXPECT_EQ(IncompleteUtf8Tail("\xf0\x9f\x98"), 3u);
  EXPECT_EQ(IncompleteUtf8Tail("xyz\xf0\x9f\x98"), 3u);
  EXPECT_EQ(IncompleteUtf8Tail("\xe2\x82\xac"), 0u);  // complete
  EXPECT_EQ(IncompleteUtf8Tail("\xc3\xa9"), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("a\xff"), 0u);  // invalid, not unfinished
  EXPECT_EQ(IncompleteUtf8Tail("a\xe2(x"), 0u);
  // Splitting valid text at every byte: prefix minus its tail is valid, and the tail plus the
  // rest is valid again.
  const std::string text = "h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80!";
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    const std::string_view head(text.data(), cut);
    const std::size_t tail = IncompleteUtf8Tail(head);
    EXPECT_TRUE(IsValidUtf8(head.substr(0, head.size() - tail))) << cut;
    EXPECT_TRUE(IsValidUtf8(std::string_view(text).substr(cut - tail))) << cut;
  }
}

TEST(Base64Test, Rfc4648Vectors) {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    EXPECT_EQ(Base64Decode(encoded), std::string(plain));
  }
}

TEST(Base64Test, AllBytesRoundTrip) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) {
    bytes += static_cast<char>(i);
  }
  for (std::size_t len = 0; len <= bytes.size(); len += 37) {
    const std::string part = bytes.substr(bytes.size() - len);
    EXPECT_EQ(Base64Decode(Base64Encode(part)), part) << len;
  }
  EXPECT_EQ(Base64Encode("\xff\xfe\xfd"), "//79");
  EXPECT_EQ(Base64Encode(std::string_view("\0\0\0", 3)), "AAAA");
}

TEST(Base64Test, DecodeIsStrict) {
  for (const std::string_view bad :
       {"Zg=", "Zg", "Z", "Zg==Zg==", "Z===", "====", "Zh==", "Zm9=", "Zm9v\n", " Zm9v", "Zm9*",
        "Zm=v", "Zm9vY===", "Zm9-", "Zm9_"}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << "'" << bad << "'";
  }
}

}  // namespace
}  // namespace sandgate::approvals
