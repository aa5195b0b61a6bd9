#include "pipelines/placeholders.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>

#include "tests/helpers/temp_dir.h"
#include "tests/unit/pipelines/as_nobody.h"

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

// Sandboxes sharing /tmp start and stop at once: one may remove the placeholder between
// another's exclusive create (EEXIST) and its plain open (ENOENT). That is a start-over, not a
// failure to start (CI saw "creating placeholder /tmp/.agents: No such file or directory").
TEST(PlaceholdersTest, SandboxesStartingAndStoppingAtOnceAllGetIt) {
  TempDir root;
  std::atomic<int> failures{0};
  std::string first_failure;
  std::mutex first_failure_lock;
  auto churn = [&] {
    for (int i = 0; i < 3000; ++i) {
      Placeholders held;
      auto acquired = held.Acquire(root / ".agents");
      if (!acquired.Ok() && failures++ == 0) {
        std::lock_guard lock(first_failure_lock);
        first_failure = acquired.Err().Message();
      }
    }
  };
  std::thread a(churn), b(churn);
  a.join();
  b.join();
  EXPECT_EQ(failures.load(), 0) << first_failure;
  EXPECT_FALSE(fs::exists(fs::symlink_status(root / ".agents")));
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

// The ordinary user's view of the directories FindProtections tells apart: a placeholder can be
// made (and removed) in a sticky world-writable directory; in a read-only directory of one's own
// it cannot, and the error says why the path still needs one.
TEST(PlaceholdersTest, AsAnOrdinaryUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
  TempDir base;
  fs::permissions(base.Path(), fs::perms::owner_all | fs::perms::others_exec);
  fs::create_directory(base / "shared");
  test_support::SetOwnerAndMode(base / "shared", 0, 01777);
  fs::create_directory(base / "mine");
  test_support::SetOwnerAndMode(base / "mine", test_support::kNobody, 0555);
  auto out = test_support::RunAsNobody([&]() -> std::string {
    std::string s;
    {
      Placeholders held;
      auto shared = held.Acquire(base / "shared/.git");
      s += shared.Ok() ? "shared ok\n" : "shared " + shared.Err().Message() + "\n";
      struct stat st {};
      bool placeholder = ::lstat((base / "shared/.git").c_str(), &st) == 0 && IsPlaceholder(st);
      s += placeholder ? "placeholder\n" : "none\n";
      auto mine = held.Acquire(base / "mine/.git");
      s += mine.Ok() ? "mine ok\n" : "mine " + mine.Err().Message() + "\n";
    }
    s += fs::exists(fs::symlink_status(base / "shared/.git")) ? "left\n" : "removed\n";
    return s;
  });
  ASSERT_TRUE(out);
  EXPECT_THAT(*out, ::testing::StartsWith("shared ok\nplaceholder\nmine creating placeholder " +
                                          (base / "mine/.git").string() +
                                          " (the directory is yours but not writable;"));
  EXPECT_THAT(*out, ::testing::EndsWith("Permission denied\nremoved\n"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(base / "mine/.git")));
}

}  // namespace
}  // namespace sandgate::pipelines
