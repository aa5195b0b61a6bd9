// The filesystem view of a sandbox: read-only root, writable roots, protected paths.
#include <gmock/gmock.h>
#include <sys/stat.h>

#include <filesystem>

#include "tests/helpers/sandbox_fixture.h"

namespace sandgate::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class FilesystemTest : public SandboxTest {
 protected:
  // Runs the probe with `root` as cwd and only writable root.
  RunResult Probe(const std::vector<std::string>& args) {
    return RunProbe({"--network", "off", "-C", root_.Path().string(), "-w", root_.Path().string()},
                    args);
  }
  TempDir root_;
};

TEST_F(FilesystemTest, WritesInsideAWritableRootSucceed) {
  auto r = Probe({"write", (root_ / "file.txt").string()});
  EXPECT_EQ(r.out, "ok\n") << r.err;
  EXPECT_EQ(ReadFile(root_ / "file.txt"), "x");
}

TEST_F(FilesystemTest, ReadOnlyModeHasNoWritableRoot) {
  auto r = RunProbe({"--network", "off", "--read-only", "-C", root_.Path().string()},
                    {"write", (root_ / "f").string()});
  EXPECT_EQ(r.out, OutsideRootsWriteError());
}

TEST_F(FilesystemTest, DefaultWritableRootsAreCwdAndTmp) {
  auto r = RunProbe({"--network", "off", "-C", root_.Path().string()}, {"write", "/tmp/sandgate-default-root-probe"});
  EXPECT_EQ(r.out, "ok\n") << r.err;
  fs::remove("/tmp/sandgate-default-root-probe");
  EXPECT_EQ(RunProbe({"--network", "off", "-C", root_.Path().string()}, {"write", (root_ / "f").string()}).out,
            "ok\n");
}

TEST_F(FilesystemTest, WorktreeGitdirTargetCannotBeModified) {
  TempDir main_repo;
  fs::create_directories(main_repo / ".git/worktrees/wt");
  WriteFile(main_repo / ".git/worktrees/wt/HEAD", "ref: refs/heads/wt\n");
  WriteFile(main_repo / ".git/worktrees/wt/commondir", "../..\n");
  WriteFile(root_ / ".git", "gitdir: " + (main_repo / ".git/worktrees/wt").string() + "\n");
  // Both the worktree and the main checkout are writable: the gitdir and commondir must not be.
  auto r = RunProbe({"--network", "off", "-C", root_.Path().string(), "-w", root_.Path().string(),
                     "-w", main_repo.Path().string()},
                    {"write", (main_repo / ".git/worktrees/wt/HEAD").string()});
  EXPECT_EQ(r.out, "err EROFS\n") << r.err;
  r = RunProbe({"--network", "off", "-C", root_.Path().string(), "-w", root_.Path().string(), "-w",
                (main_repo / ".git/worktrees").string()},
               {"write", (main_repo / ".git/worktrees/wt/HEAD").string()});
  EXPECT_EQ(r.out, "err EROFS\n") << r.err;
  EXPECT_EQ(Probe({"write", (root_ / ".git").string()}).out, "err EROFS\n");
  EXPECT_EQ(ReadFile(main_repo / ".git/worktrees/wt/HEAD"), "ref: refs/heads/wt\n");
  // Other files of the main checkout stay writable.
  r = RunProbe({"--network", "off", "-C", root_.Path().string(), "-w", root_.Path().string(), "-w",
                main_repo.Path().string()},
               {"write", (main_repo / "README").string()});
  EXPECT_EQ(r.out, "ok\n");
}

TEST_F(FilesystemTest, NestedWritableRootKeepsItsOwnProtection) {
  fs::create_directories(root_ / "sub/.git");
  auto r = RunProbe({"--network", "off", "-C", root_.Path().string(), "-w", root_.Path().string(),
                     "-w", (root_ / "sub").string()},
                    {"write", (root_ / "sub/.git/config").string()});
  EXPECT_EQ(r.out, "err EROFS\n");
  r = RunProbe({"--network", "off", "-C", root_.Path().string(), "-w", root_.Path().string(), "-w",
                (root_ / "sub").string()},
               {"write", (root_ / "sub/file").string()});
  EXPECT_EQ(r.out, "ok\n");
}

TEST_F(FilesystemTest, PlaceholderLeftByAKilledRunIsCleanedUp) {
  WriteFile(root_ / ".codex", "");
  fs::permissions(root_ / ".codex", fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  // /dev/null is bound there read-only and without device access.
  EXPECT_EQ(Probe({"write", (root_ / ".codex").string()}).out, "err EACCES\n");
  EXPECT_FALSE(fs::exists(root_ / ".codex"));
}

// A cwd the command cannot write needs no placeholder for its missing .git/.codex/.agents: the
// command could not create them either. As an ordinary user sandgate could not create them
// (it used to exit 125); as root it still blocks them, and either way nothing is left behind.
TEST_F(FilesystemTest, ACwdTheCommandCannotWriteRuns) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs a directory of another user: run the suite as root";
  TempDir owned_by_root(TempDir::Keeper::kRoot);
  const auto cwd = owned_by_root / "docs";
  fs::create_directories(cwd);
  WriteFile(cwd / "README", "read me\n");
  fs::permissions(owned_by_root.Path(), fs::perms::owner_all | fs::perms::group_read |
                                            fs::perms::group_exec | fs::perms::others_read |
                                            fs::perms::others_exec);
  fs::permissions(cwd, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                           fs::perms::others_read | fs::perms::others_exec);
  auto r = RunProbe({"--network", "off", "-C", cwd.string()}, {"mkdir", (cwd / ".git").string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;  // the command ran, and could not create .git
  // As the user: refused by the directory's mode; as root: blocked by the placeholder.
  EXPECT_EQ(r.out, TestIdentity() == Identity::kUser ? "err EACCES\n" : "err EEXIST\n");
  EXPECT_FALSE(fs::exists(fs::symlink_status(cwd / ".git")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(cwd / ".codex")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(cwd / ".agents")));
}

}  // namespace
}  // namespace sandgate::testing
