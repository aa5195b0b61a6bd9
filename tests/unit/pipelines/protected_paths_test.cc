#include "pipelines/protected_paths.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <sstream>

#include "tests/helpers/temp_dir.h"
#include "tests/unit/pipelines/as_nobody.h"

namespace sandgate::pipelines {
namespace {

namespace fs = std::filesystem;
using test_support::kNobody;
using test_support::RunAsNobody;
using test_support::SetOwnerAndMode;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using testing::TempDir;
using ::testing::UnorderedElementsAre;
using testing::WriteFile;

struct PathKind {
  fs::path path;
  ProtectionKind kind;
  bool operator==(const PathKind&) const = default;
};

// With the cwd at the first root, as with the default roots.
std::vector<PathKind> Find(const std::vector<fs::path>& roots, const fs::path& cwd = {}) {
  auto result = FindProtections(roots, cwd.empty() ? roots.front() : cwd);
  EXPECT_TRUE(result.Ok()) << (result.Ok() ? "" : result.Err().Message());
  std::vector<PathKind> out;
  if (result.Ok()) {
    for (const auto& p : result.Value()) out.push_back({p.path, p.kind});
  }
  return out;
}

// FindProtections as uid 65534, in a child: one "KIND PATH\tWHY" line per protection.
std::optional<std::string> FindAsNobody(const std::vector<fs::path>& roots, const fs::path& cwd) {
  return RunAsNobody([&] {
    auto result = FindProtections(roots, cwd);
    if (!result.Ok()) return "error " + result.Err().Message();
    std::string out;
    for (const auto& p : result.Value()) {
      out += std::to_string(static_cast<int>(p.kind)) + " " + p.path.string() + "\t" + p.why + "\n";
    }
    return out;
  });
}

std::vector<PathKind> ParseFound(const std::string& text) {
  std::vector<PathKind> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    int kind = -1;
    size_t space = line.find(' ');
    if (space != std::string::npos) kind = std::atoi(line.substr(0, space).c_str());
    if (kind < 0 || line.rfind("error", 0) == 0 || line.rfind("child:", 0) == 0) {
      ADD_FAILURE() << line;
      continue;
    }
    out.push_back(
        {line.substr(space + 1, line.find('\t') - space - 1), static_cast<ProtectionKind>(kind)});
  }
  return out;
}

// A base directory that uid 65534 can traverse (mkdtemp makes it 0700).
class AsNobodyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to make directories of other users";
    fs::permissions(base_.Path(), fs::perms::owner_all | fs::perms::group_read |
                                      fs::perms::group_exec | fs::perms::others_read |
                                      fs::perms::others_exec);
    // nobody's own writable root, the `-w` of these tests.
    fs::create_directory(base_ / "home");
    SetOwnerAndMode(base_ / "home", kNobody, 0755);
  }
  fs::path Dir(const std::string& rel, uid_t owner, mode_t mode) {
    fs::create_directories(base_ / rel);
    SetOwnerAndMode(base_ / rel, owner, mode);
    return base_ / rel;
  }
  TempDir base_;
};

constexpr auto kRO = ProtectionKind::kReadOnly;
constexpr auto kMissing = ProtectionKind::kBlockMissing;
constexpr auto kUncreatable = ProtectionKind::kUncreatable;

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
  auto result = FindProtections({root.Path()}, root.Path());
  ASSERT_FALSE(result.Ok());
  EXPECT_THAT(result.Err().Message(), HasSubstr("is a symlink inside writable root"));
}

TEST(ProtectedPathsTest, AReadOnlyFileInsideAWritableRootIsProtectedAtItsRealPath) {
  TempDir base;
  fs::create_directories(base / "root/conf");
  WriteFile(base / "root/conf/policy.json", "{}");
  // Reached through a link outside the writable roots (the command cannot re-point it).
  fs::create_directory_symlink(base / "root/conf", base / "via");
  auto result = FindProtections({base / "root"}, base / "root", {base / "via/policy.json"});
  ASSERT_TRUE(result.Ok()) << result.Err().Message();
  EXPECT_THAT(result.Value(), ::testing::Contains(::testing::Field(
                                  &Protection::path, base / "root/conf/policy.json")));
}

TEST(ProtectedPathsTest, AReadOnlyFileOutsideTheWritableRootsNeedsNoMount) {
  TempDir base;
  fs::create_directories(base / "root");
  WriteFile(base / "policy.json", "{}");
  auto result = FindProtections({base / "root"}, base / "root", {base / "policy.json"});
  ASSERT_TRUE(result.Ok());
  for (const auto& p : result.Value()) EXPECT_NE(p.path, base / "policy.json");
}

TEST(ProtectedPathsTest, AReadOnlyFileBehindALinkInsideAWritableRootIsRefused) {
  TempDir base;
  fs::create_directories(base / "root");
  WriteFile(base / "policy.json", "{}");
  fs::create_symlink(base / "policy.json", base / "root/link.json");
  auto result = FindProtections({base / "root"}, base / "root", {base / "root/link.json"});
  ASSERT_FALSE(result.Ok());
  EXPECT_THAT(result.Err().Message(), HasSubstr("link.json is a symlink inside writable root"));
}

TEST(ProtectedPathsTest, DanglingSymlinkAtProtectedNameIsRefused) {
  TempDir root;
  fs::create_symlink("/nonexistent/target", root / ".codex");
  EXPECT_FALSE(FindProtections({root.Path()}, root.Path()).Ok());
}

TEST(ProtectedPathsTest, SymlinkOnTheGitdirPathInsideAWritableRootIsRefused) {
  TempDir base;
  fs::create_directories(base / "main/.git/worktrees/wt");
  fs::create_directory_symlink("main", base / "link");
  fs::create_directories(base / "wt");
  WriteFile(base / "wt/.git", "gitdir: " + (base / "link/.git/worktrees/wt").string());
  auto result = FindProtections({base / "wt", base.Path()}, base / "wt");
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

TEST(ProtectedPathsTest, CwdUnderAWiderRootGetsItsOwnNamesProtected) {
  TempDir base;
  fs::create_directories(base / "proj/.git/hooks");
  fs::create_directories(base / "proj/.agents");
  EXPECT_THAT(Find({base.Path()}, base / "proj"),
              UnorderedElementsAre(
                  PathKind{base / ".git", kMissing}, PathKind{base / ".codex", kMissing},
                  PathKind{base / ".agents", kMissing}, PathKind{base / "proj/.git", kRO},
                  PathKind{base / "proj/.codex", kMissing}, PathKind{base / "proj/.agents", kRO}));
}

// git finds the repository above a cwd deeper inside it: `-w base -C base/proj/sub` must
// protect base/proj/.git (and block its missing neighbours), and nothing above it.
TEST(ProtectedPathsTest, RepositoryAboveTheCwdUnderAWiderRootIsProtected) {
  TempDir base;
  fs::create_directories(base / "proj/.git/hooks");
  fs::create_directories(base / "proj/sub/deeper");
  EXPECT_THAT(
      Find({base.Path()}, base / "proj/sub/deeper"),
      UnorderedElementsAre(
          PathKind{base / ".git", kMissing}, PathKind{base / ".codex", kMissing},
          PathKind{base / ".agents", kMissing}, PathKind{base / "proj/sub/deeper/.git", kMissing},
          PathKind{base / "proj/sub/deeper/.codex", kMissing},
          PathKind{base / "proj/sub/deeper/.agents", kMissing},
          PathKind{base / "proj/sub/.git", kMissing}, PathKind{base / "proj/sub/.codex", kMissing},
          PathKind{base / "proj/sub/.agents", kMissing}, PathKind{base / "proj/.git", kRO},
          PathKind{base / "proj/.codex", kMissing}, PathKind{base / "proj/.agents", kMissing}));
}

TEST(ProtectedPathsTest, ARepositoryAtTheCwdStopsTheWalkUpwards) {
  TempDir base;
  fs::create_directories(base / "a/.git");
  fs::create_directories(base / "a/b/.git");
  // The cwd's own .git is the one git uses: a/.git needs no protection for it.
  EXPECT_THAT(Find({base.Path()}, base / "a/b"),
              ::testing::Not(Contains(PathKind{base / "a/.git", kRO})));
}

TEST(ProtectedPathsTest, CwdGitPointerUnderAWiderRootProtectsGitdirAndCommondir) {
  TempDir base;
  fs::create_directories(base / "main/.git/worktrees/wt");
  WriteFile(base / "main/.git/worktrees/wt/commondir", "../..\n");
  WriteFile(base / "wt/.git", "gitdir: ../main/.git/worktrees/wt\n");
  // Only the cwd leads there: neither wt nor main is a root of its own.
  EXPECT_THAT(
      Find({base.Path()}, base / "wt"),
      IsSupersetOf({PathKind{base / "wt/.git", kRO}, PathKind{base / "main/.git/worktrees/wt", kRO},
                    PathKind{base / "main/.git", kRO}}));
}

TEST(ProtectedPathsTest, CwdMissingGitdirUnderAWiderRootIsBlocked) {
  TempDir base;
  fs::create_directories(base / "main/.git");
  WriteFile(base / "wt/.git", "gitdir: ../main/.git/worktrees/wt\n");
  EXPECT_THAT(Find({base.Path()}, base / "wt"),
              Contains(PathKind{base / "main/.git/worktrees", kMissing}));
}

TEST(ProtectedPathsTest, CwdThatIsARootHasNoDuplicates) {
  TempDir a, b;
  fs::create_directories(a / ".git");
  auto found = Find({a.Path(), b.Path()}, a.Path());
  EXPECT_THAT(found, UnorderedElementsAre(
                         PathKind{a / ".git", kRO}, PathKind{a / ".codex", kMissing},
                         PathKind{a / ".agents", kMissing}, PathKind{b / ".git", kMissing},
                         PathKind{b / ".codex", kMissing}, PathKind{b / ".agents", kMissing}));
}

TEST(ProtectedPathsTest, CwdOutsideEveryRootNeedsNothingOfItsOwn) {
  TempDir root, cwd;
  fs::create_directories(cwd / ".git");
  fs::create_directories(cwd / ".codex");
  for (const auto& p : Find({root.Path()}, cwd.Path())) {
    EXPECT_FALSE(IsWithinAny(p.path, {cwd.Path()})) << p.path;
  }
  // Read-only mode: no roots, nothing to protect, and no placeholder anywhere.
  EXPECT_TRUE(Find({}, cwd.Path()).empty());
}

TEST(ProtectedPathsTest, CwdOutsideEveryRootStillProtectsItsGitdirInsideARoot) {
  TempDir root, cwd;
  fs::create_directories(root / "gitdirs/wt");
  WriteFile(cwd / ".git", "gitdir: " + (root / "gitdirs/wt").string() + "\n");
  EXPECT_THAT(Find({root.Path()}, cwd.Path()),
              UnorderedElementsAre(
                  PathKind{root / ".git", kMissing}, PathKind{root / ".codex", kMissing},
                  PathKind{root / ".agents", kMissing}, PathKind{root / "gitdirs/wt", kRO}));
}

TEST(ProtectedPathsTest, CwdOutsideEveryRootFollowsItsGitSymlink) {
  TempDir root, cwd;
  fs::create_directories(root / "repo.git");
  // The command cannot change this link (the cwd is read-only), but it can write its target.
  fs::create_directory_symlink(root / "repo.git", cwd / ".git");
  EXPECT_THAT(Find({root.Path()}, cwd.Path()), Contains(PathKind{root / "repo.git", kRO}));
}

TEST(ProtectedPathsTest, SymlinkAtACwdNameUnderAWiderRootIsRefused) {
  TempDir base;
  fs::create_directories(base / "proj/real");
  fs::create_directory_symlink("real", base / "proj/.codex");
  auto result = FindProtections({base.Path()}, base / "proj");
  ASSERT_FALSE(result.Ok());
  EXPECT_THAT(result.Err().Message(),
              HasSubstr((base / "proj/.codex").string() + " is a symlink inside writable root " +
                        base.Path().string()));
}

TEST(ProtectedPathsTest, RelativeCwdIsRefused) {
  TempDir root;
  EXPECT_FALSE(FindProtections({root.Path()}, "proj").Ok());
}

TEST_F(AsNobodyTest, ForeignCwdNeedsNoPlaceholders) {
  // `cd /usr/share/doc` in miniature: the cwd is root's, mode 0755, inside nobody's root.
  fs::path cwd = Dir("home/foreign", 0, 0755);
  auto out = FindAsNobody({base_ / "home"}, cwd);
  ASSERT_TRUE(out);
  EXPECT_THAT(ParseFound(*out), UnorderedElementsAre(PathKind{base_ / "home/.git", kMissing},
                                                     PathKind{base_ / "home/.codex", kMissing},
                                                     PathKind{base_ / "home/.agents", kMissing},
                                                     PathKind{cwd / ".git", kUncreatable},
                                                     PathKind{cwd / ".codex", kUncreatable},
                                                     PathKind{cwd / ".agents", kUncreatable}));
  EXPECT_THAT(*out,
              HasSubstr(cwd.string() + " belongs to uid 0 and is not writable for uid 65534"));
}

TEST_F(AsNobodyTest, ForeignCwdThatIsTheRootNeedsNoPlaceholders) {
  fs::path cwd = Dir("foreign", 0, 0755);
  auto out = FindAsNobody({cwd}, cwd);
  ASSERT_TRUE(out);
  EXPECT_THAT(ParseFound(*out), UnorderedElementsAre(PathKind{cwd / ".git", kUncreatable},
                                                     PathKind{cwd / ".codex", kUncreatable},
                                                     PathKind{cwd / ".agents", kUncreatable}));
}

TEST_F(AsNobodyTest, OwnedReadOnlyDirectoryStillNeedsPlaceholders) {
  // The command could chmod it and create .git.
  fs::path cwd = Dir("home/mine", kNobody, 0555);
  auto out = FindAsNobody({base_ / "home"}, cwd);
  ASSERT_TRUE(out);
  EXPECT_THAT(ParseFound(*out),
              IsSupersetOf({PathKind{cwd / ".git", kMissing}, PathKind{cwd / ".codex", kMissing},
                            PathKind{cwd / ".agents", kMissing}}));
}

TEST_F(AsNobodyTest, StickyWorldWritableDirectoryNeedsPlaceholders) {
  fs::path cwd = Dir("home/shared", 0, 01777);
  auto out = FindAsNobody({base_ / "home"}, cwd);
  ASSERT_TRUE(out);
  EXPECT_THAT(ParseFound(*out),
              IsSupersetOf({PathKind{cwd / ".git", kMissing}, PathKind{cwd / ".codex", kMissing},
                            PathKind{cwd / ".agents", kMissing}}));
}

TEST_F(AsNobodyTest, ForeignGroupWritableDirectoryCountsOnlyForMembers) {
  // Writable for group 0, of which the child is no member: still nobody's "cannot".
  fs::path cwd = Dir("home/staff", 0, 0775);
  auto out = FindAsNobody({base_ / "home"}, cwd);
  ASSERT_TRUE(out);
  EXPECT_THAT(ParseFound(*out), Contains(PathKind{cwd / ".git", kUncreatable}));
  // ...and writable for others it is a "can".
  SetOwnerAndMode(cwd, 0, 0777);
  out = FindAsNobody({base_ / "home"}, cwd);
  ASSERT_TRUE(out);
  EXPECT_THAT(ParseFound(*out), Contains(PathKind{cwd / ".git", kMissing}));
}

TEST_F(AsNobodyTest, MissingGitdirInAForeignDirectoryNeedsNoPlaceholder) {
  Dir("home/vendor", 0, 0755);  // exists, but its `worktrees` does not
  fs::path cwd = Dir("home/wt", kNobody, 0755);
  WriteFile(cwd / ".git", "gitdir: ../vendor/worktrees/wt\n");
  SetOwnerAndMode(cwd / ".git", kNobody, 0644);
  auto out = FindAsNobody({base_ / "home"}, cwd);
  ASSERT_TRUE(out);
  auto found = ParseFound(*out);
  EXPECT_THAT(found, Contains(PathKind{base_ / "home/vendor/worktrees", kUncreatable}));
  EXPECT_THAT(found, Contains(PathKind{cwd / ".git", kRO}));
  // The same gitdir in a directory of nobody's own must be blocked.
  SetOwnerAndMode(base_ / "home/vendor", kNobody, 0755);
  out = FindAsNobody({base_ / "home"}, cwd);
  ASSERT_TRUE(out);
  EXPECT_THAT(ParseFound(*out), Contains(PathKind{base_ / "home/vendor/worktrees", kMissing}));
}

TEST_F(AsNobodyTest, RootKeepsPlaceholdersInDirectoriesOfOtherUsers) {
  // Root's capabilities make everything look writable: conservative, as before.
  fs::path cwd = Dir("home/foreign", kNobody, 0755);
  EXPECT_THAT(Find({base_ / "home"}, cwd),
              IsSupersetOf({PathKind{cwd / ".git", kMissing}, PathKind{cwd / ".codex", kMissing},
                            PathKind{cwd / ".agents", kMissing}}));
}

TEST_F(AsNobodyTest, ReadOnlyMountNeedsNoPlaceholderEvenForRoot) {
  fs::path ro = Dir("home/ro", 0, 0755);
  std::string out = test_support::RunInChild([&]() -> std::string {
    // A private mount namespace, so that the mount dies with the child.
    if (::unshare(CLONE_NEWNS) != 0) return "skip: unshare(CLONE_NEWNS) failed";
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("tmpfs", ro.c_str(), "tmpfs", MS_RDONLY, "mode=0777") != 0) {
      return "skip: cannot mount a read-only tmpfs";
    }
    auto reason = WhyCommandCannotCreateIn(ro);
    auto result = FindProtections({base_ / "home"}, ro);
    if (!result.Ok()) return "error " + result.Err().Message();
    std::string s = reason.value_or("none") + "\n";
    for (const auto& p : result.Value()) {
      if (p.path.parent_path() == ro) s += std::to_string(static_cast<int>(p.kind)) + "\n";
    }
    return s;
  });
  if (out.rfind("skip:", 0) == 0) GTEST_SKIP() << out;
  const std::string uncreatable = std::to_string(static_cast<int>(kUncreatable)) + "\n";
  EXPECT_EQ(out,
            ro.string() + " is on a read-only mount\n" + uncreatable + uncreatable + uncreatable);
}

TEST(ProtectedPathsTest, WhyCommandCannotCreateInAnswersMightWhenUnsure) {
  TempDir dir;
  EXPECT_EQ(WhyCommandCannotCreateIn(dir.Path()), std::nullopt);  // ours and writable
  WriteFile(dir / "file", "");
  EXPECT_EQ(WhyCommandCannotCreateIn(dir / "file"), std::nullopt);  // not a directory
  EXPECT_EQ(WhyCommandCannotCreateIn(dir / "missing"), std::nullopt);
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
