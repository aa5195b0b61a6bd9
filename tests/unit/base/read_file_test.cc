#include "base/read_file.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/helpers/temp_dir.h"

namespace sandgate::base {
namespace {

using testing::TempDir;
using testing::WriteFile;

TEST(ReadFileTest, ReadsAWholeFileLargerThanOneBuffer) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 3000; ++i) text += std::to_string(i) + "\n";
  ASSERT_GT(text.size(), 4096u * 2);
  WriteFile(dir.Path() / "f", text);
  EXPECT_EQ(ReadFile((dir.Path() / "f").string()), text);
}

TEST(ReadFileTest, StopsAtTheLimit) {
  TempDir dir;
  WriteFile(dir.Path() / "f", "0123456789");
  EXPECT_EQ(ReadFile((dir.Path() / "f").string(), 4), "0123");
  EXPECT_EQ(ReadFile((dir.Path() / "f").string(), 0), "");
}

TEST(ReadFileTest, AnEmptyFileIsEmptyNotMissing) {
  TempDir dir;
  WriteFile(dir.Path() / "f", "");
  EXPECT_EQ(ReadFile((dir.Path() / "f").string()), "");
}

TEST(ReadFileTest, MissingFilesAndDirectoriesAreNotRead) {
  TempDir dir;
  EXPECT_EQ(ReadFile((dir.Path() / "missing").string()), std::nullopt);
  EXPECT_EQ(ReadFile(dir.Path().string()), std::nullopt);
}

TEST(ReadFileTest, ReadsProcFilesWhoseSizeIsZero) {
  // /proc reports st_size 0: the read must go by read(2)'s end, not by the size.
  auto text = ReadFile("/proc/self/stat");
  ASSERT_TRUE(text.has_value());
  EXPECT_FALSE(text->empty());
}

}  // namespace
}  // namespace sandgate::base
