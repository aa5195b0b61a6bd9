#include "pipelines/protected_paths.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/helpers/temp_dir.h"

namespace sandgate::pipelines {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using testing::TempDir;
using testing::WriteFile;

struct PathKind {
  fs::path path;
  ProtectionKind kind;
  bool operator==(const PathKind&) const = default;
};

std::vector<PathKind> Find(const std::vector<fs::path>& roots) {
  auto result = FindProtections(roots);
  EXPECT_TRUE(result.Ok()) << (result.Ok() ? "" : result.Err().Message());
  std::vector<PathKind> out;
  if (result.Ok()) {
    for (const auto& p : result.Value()) out.push_back({p.path, p.kind});
  }
  return out;
}

constexpr auto kRO = ProtectionKind::kReadOnly;
constexpr auto kMissing = ProtectionKind::kBlockMissing;

TEST(ProtectedPathsTest, EmptyRootBlocksEveryMissingName) {
  TempDir root;
  EXPECT_THAT(Find({root.Path()}),
              UnorderedElementsAre(PathKind{root / ".git", kMissing},
                                   PathKind{root / ".codex", kMissing},
                                   PathKind{root / ".agents", kMissing}));
}

TEST(ProtectedPathsTest, ExistingDirectoriesAreReadOnly) {
  TempDir root;
  fs::create_directories(root / ".git/hooks");
  fs::create_directories(root / ".codex");
  EXPECT_THAT(Find({root.Path()}),
              UnorderedElementsAre(PathKind{root / ".git", kRO}, PathKind{root / ".codex", kRO},
                                   PathKind{root / ".agents", kMissing}));
}

TEST(ProtectedPathsTest, GitPointerFileProtectsResolvedGitdirAndCommondir) {
  TempDir base;
  fs::create_directories(base / "main/.git/worktrees/wt");
  WriteFile(base / "main/.git/worktrees/wt/commondir", "../..\n");
  fs::create_directories(base / "wt");
  WriteFile(base / "wt/.git", "gitdir: ../main/.git/worktrees/wt\n");
  auto found = Find({base / "wt", base / "main"});
  EXPECT_THAT(found, ::testing::IsSupersetOf({PathKind{base / "wt/.git", kRO},
                                              PathKind{base / "main/.git/worktrees/wt", kRO},
                                              PathKind{base / "main/.git", kRO}}));
}

TEST(ProtectedPathsTest, GitdirOutsideWritableRootsNeedsNoMount) {
  TempDir base;
  fs::create_directories(base / "elsewhere/gitdir");
  fs::create_directories(base / "wt");
  WriteFile(base / "wt/.git", "gitdir: " + (base / "elsewhere/gitdir").string() + "\n");
  auto found = Find({base / "wt"});
  for (const auto& p : found) EXPECT_NE(p.path, base / "elsewhere/gitdir");
}

TEST(ProtectedPathsTest, MissingGitdirBlocksTheFirstMissingComponent) {
  TempDir base;
  fs::create_directories(base / "main/.git");
  fs::create_directories(base / "wt");
  WriteFile(base / "wt/.git", "gitdir: ../main/.git/worktrees/wt");
  auto found = Find({base / "wt", base / "main"});
  EXPECT_THAT(found, ::testing::Contains(PathKind{base / "main/.git/worktrees", kMissing}));
}

TEST(ProtectedPathsTest, SymlinkAtProtectedNameIsRefused) {
  TempDir root;
  fs::create_directories(root / "real");
  fs::create_directory_symlink("real", root / ".git");
  auto result = FindProtections({root.Path()});
  ASSERT_FALSE(result.Ok());
  EXPECT_THAT(result.Err().Message(), HasSubstr("is a symlink inside writable root"));
}

TEST(ProtectedPathsTest, DanglingSymlinkAtProtectedNameIsRefused) {
  TempDir root;
  fs::create_symlink("/nonexistent/target", root / ".codex");
  EXPECT_FALSE(FindProtections({root.Path()}).Ok());
}

TEST(ProtectedPathsTest, SymlinkOnTheGitdirPathInsideAWritableRootIsRefused) {
  TempDir base;
  fs::create_directories(base / "main/.git/worktrees/wt");
  fs::create_directory_symlink("main", base / "link");
  fs::create_directories(base / "wt");
  WriteFile(base / "wt/.git", "gitdir: " + (base / "link/.git/worktrees/wt").string());
  auto result = FindProtections({base / "wt", base.Path()});
  ASSERT_FALSE(result.Ok());
  EXPECT_THAT(result.Err().Message(), HasSubstr((base / "link").string()));
}

TEST(ProtectedPathsTest, SymlinkOnTheGitdirPathOutsideWritableRootsIsFollowed) {
  TempDir base;
  fs::create_directories(base / "main/.git/worktrees/wt");
  fs::create_directory_symlink("main", base / "link");
  fs::create_directories(base / "wt");
  WriteFile(base / "wt/.git", "gitdir: " + (base / "link/.git/worktrees/wt").string());
  // /main is writable, the link is not inside a writable root: the real path is protected.
  auto found = Find({base / "wt", base / "main"});
  EXPECT_THAT(found, ::testing::Contains(PathKind{base / "main/.git/worktrees/wt", kRO}));
}

TEST(ProtectedPathsTest, LeftoverPlaceholderIsTreatedAsMissing) {
  TempDir root;
  WriteFile(root / ".git", "");
  fs::permissions(root / ".git", fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  EXPECT_THAT(Find({root.Path()}), ::testing::Contains(PathKind{root / ".git", kMissing}));
}

TEST(ProtectedPathsTest, UserEmptyFileIsNotAPlaceholder) {
  TempDir root;
  WriteFile(root / ".codex", "");  // mode 0644 from the umask: the user's, not ours
  fs::permissions(root / ".codex", fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_THAT(Find({root.Path()}), ::testing::Contains(PathKind{root / ".codex", kRO}));
}

TEST(ProtectedPathsTest, IsWithinAny) {
  EXPECT_TRUE(IsWithinAny("/a/b", {"/a"}));
  EXPECT_TRUE(IsWithinAny("/a", {"/a"}));
  EXPECT_TRUE(IsWithinAny("/anything", {"/"}));
  EXPECT_FALSE(IsWithinAny("/ab", {"/a"}));
  EXPECT_FALSE(IsWithinAny("/a", {"/a/b"}));
}

}  // namespace
}  // namespace sandgate::pipelines
