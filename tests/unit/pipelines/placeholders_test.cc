#include "pipelines/placeholders.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/helpers/temp_dir.h"

namespace sandgate::pipelines {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

TEST(PlaceholdersTest, CreatesAnEmptyReadOnlyFileAndRemovesIt) {
  TempDir root;
  {
    Placeholders held;
    ASSERT_TRUE(held.Acquire(root / ".git").Ok());
    struct stat st {};
    ASSERT_EQ(::lstat((root / ".git").c_str(), &st), 0);
    EXPECT_TRUE(IsPlaceholder(st));
  }
  EXPECT_FALSE(fs::exists(root / ".git"));
}

TEST(PlaceholdersTest, SharedPlaceholderSurvivesUntilTheLastHolderLeaves) {
  TempDir root;
  Placeholders first;
  ASSERT_TRUE(first.Acquire(root / ".codex").Ok());
  {
    Placeholders second;
    ASSERT_TRUE(second.Acquire(root / ".codex").Ok());
    first.RemoveUnused();  // second still holds it: must stay
    EXPECT_TRUE(fs::exists(root / ".codex"));
  }
  EXPECT_FALSE(fs::exists(root / ".codex"));
}

TEST(PlaceholdersTest, RefusesWhenSomethingElseAppeared) {
  TempDir root;
  fs::create_directory(root / ".git");
  Placeholders held;
  EXPECT_FALSE(held.Acquire(root / ".git").Ok());
  EXPECT_TRUE(fs::is_directory(root / ".git"));
}

TEST(PlaceholdersTest, DoesNotFollowASymlink) {
  TempDir root;
  fs::create_symlink(root / "target", root / ".git");
  Placeholders held;
  EXPECT_FALSE(held.Acquire(root / ".git").Ok());
  EXPECT_FALSE(fs::exists(root / "target"));
}

TEST(PlaceholdersTest, KeepsAFileThatWasReplacedWhileHeld) {
  TempDir root;
  Placeholders held;
  ASSERT_TRUE(held.Acquire(root / ".agents").Ok());
  fs::remove(root / ".agents");
  testing::WriteFile(root / ".agents", "");  // a different inode, the user's
  held.RemoveUnused();
  EXPECT_TRUE(fs::exists(root / ".agents"));
}

}  // namespace
}  // namespace sandgate::pipelines
