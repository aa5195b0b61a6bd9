// Attacks on the filesystem view: each must fail to change anything outside what is writable,
// and anything protected inside what is writable.
#include <gmock/gmock.h>

#include <filesystem>

#include "tests/helpers/sandbox_fixture.h"

namespace sandgate::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class FilesystemEscapeTest : public SandboxTest {
 protected:
  RunResult Probe(const std::vector<std::string>& args) {
    return RunProbe({"--network", "off", "-C", root_.Path().string(), "-w", root_.Path().string()},
                    args);
  }
  TempDir root_;
};

TEST_F(FilesystemEscapeTest, WritesOutsideFailReadOnly) {
  TempDir other;
  auto r = Probe({"write", (other / "file.txt").string()});
  EXPECT_EQ(r.out, OutsideRootsWriteError());
  EXPECT_FALSE(fs::exists(other / "file.txt"));
  EXPECT_EQ(Probe({"write", "/etc/sandgate-escape"}).out, OutsideRootsWriteError());
}

TEST_F(FilesystemEscapeTest, GitDirectoryCannotBeModified) {
  fs::create_directories(root_ / ".git/hooks");
  WriteFile(root_ / ".git/config", "[core]\n");
  EXPECT_EQ(Probe({"write", (root_ / ".git/config").string()}).out, "err EROFS\n");
  EXPECT_EQ(Probe({"write", (root_ / ".git/hooks/pre-commit").string()}).out, "err EROFS\n");
  EXPECT_EQ(Probe({"rename", (root_ / ".git").string(), (root_ / "moved").string()}).out, "err EBUSY\n");
  EXPECT_EQ(ReadFile(root_ / ".git/config"), "[core]\n");
  EXPECT_FALSE(fs::exists(root_ / ".git/hooks/pre-commit"));
}

TEST_F(FilesystemEscapeTest, MissingProtectedPathsCannotBeCreatedAndLeaveNoTrace) {
  EXPECT_EQ(Probe({"mkdir", (root_ / ".git").string()}).out, "err EEXIST\n");
  EXPECT_EQ(Probe({"write", (root_ / ".codex").string()}).out, "err EACCES\n");
  EXPECT_EQ(Probe({"mkdir", (root_ / ".agents").string()}).out, "err EEXIST\n");
  EXPECT_EQ(Probe({"unlink", (root_ / ".git").string()}).out, "err EBUSY\n");
  // Nothing of the placeholders is left behind on the host.
  EXPECT_FALSE(fs::exists(fs::symlink_status(root_ / ".git")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(root_ / ".codex")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(root_ / ".agents")));
}

TEST_F(FilesystemEscapeTest, ProtectedPathCannotBeCreatedThroughASymlink) {
  fs::create_directory(root_ / "elsewhere");
  auto r = Probe({"symlink", (root_ / "elsewhere").string(), (root_ / ".git").string()});
  EXPECT_EQ(r.out, "err EEXIST\n");
  EXPECT_FALSE(fs::is_symlink(root_ / ".git"));
}

TEST_F(FilesystemEscapeTest, CodexDirectoryCannotBeModified) {
  fs::create_directory(root_ / ".codex");
  EXPECT_EQ(Probe({"write", (root_ / ".codex/config.toml").string()}).out, "err EROFS\n");
}

TEST_F(FilesystemEscapeTest, SymlinkAtAProtectedPathRefusesToStart) {
  fs::create_directory(root_ / "real-git");
  fs::create_directory_symlink("real-git", root_ / ".git");
  auto r = Probe({"write", (root_ / "real-git/config").string()});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("is a symlink inside writable root"));
  EXPECT_FALSE(fs::exists(root_ / "real-git/config"));
}

TEST_F(FilesystemEscapeTest, HardLinkOutOfAProtectedDirectoryFails) {
  fs::create_directories(root_ / ".git");
  WriteFile(root_ / ".git/config", "[core]\n");
  EXPECT_EQ(Probe({"link", (root_ / ".git/config").string(), (root_ / "cfg").string()}).out,
            "err EXDEV\n");
}

TEST_F(FilesystemEscapeTest, WritingThroughASymlinkToAReadOnlyPlaceFails) {
  // The target belongs to the cell's account, so only the sandbox can stop the write.
  TempDir other;
  WriteFile(other / "target", "before");
  EXPECT_EQ(Probe({"symlink", (other / "target").string(), (root_ / "link").string()}).out, "ok\n");
  EXPECT_EQ(Probe({"write", (root_ / "link").string()}).out, OutsideRootsWriteError());
  EXPECT_EQ(ReadFile(other / "target"), "before");
}

TEST_F(FilesystemEscapeTest, MountingOverAProtectedPathFails) {
  fs::create_directories(root_ / ".git");
  EXPECT_EQ(Probe({"mount-tmpfs", (root_ / ".git").string()}).out, "err EPERM\n");
}

TEST_F(FilesystemEscapeTest, HostRootThroughProcIsNotReachable) {
  // With --no-proc the host's /proc stays visible; /proc/1/root must still not be a way out.
  auto r = RunProbe({"--network", "off", "--no-proc", "--read-only"}, {"write", "/proc/1/root/tmp/sandgate-escape"});
  EXPECT_THAT(r.out, ::testing::AnyOf("err EACCES\n", "err EPERM\n", "err EROFS\n", "err ENOENT\n"));
  EXPECT_FALSE(fs::exists("/tmp/sandgate-escape"));
}

// The cwd's protected paths hold whatever -w says: with `-w ~/src -C ~/src/proj` the command
// must not plant .git/hooks (run at the user's next git command) in the cwd, neither in a .git
// directory nor in the gitdir a .git pointer file names, and must not move the cwd aside to put
// a .git of its own in its place.
TEST_F(FilesystemEscapeTest, CwdGitUnderAWiderWritableRootCannotBeModified) {
  const auto proj = root_ / "proj";
  fs::create_directories(proj / ".git/hooks");
  WriteFile(proj / ".git/config", "[core]\n");
  auto in_proj = [&](const std::vector<std::string>& args) {
    return RunProbe({"--network", "off", "-w", root_.Path().string(), "-C", proj.string()}, args);
  };
  EXPECT_EQ(in_proj({"write", (proj / ".git/config").string()}).out, "err EROFS\n");
  EXPECT_EQ(in_proj({"write", (proj / ".git/hooks/pre-commit").string()}).out, "err EROFS\n");
  EXPECT_EQ(in_proj({"mkdir", (proj / ".codex").string()}).out, "err EEXIST\n");
  EXPECT_EQ(in_proj({"rename", proj.string(), (root_ / "moved").string()}).out, "err EBUSY\n");
  EXPECT_EQ(ReadFile(proj / ".git/config"), "[core]\n");
  EXPECT_FALSE(fs::exists(proj / ".git/hooks/pre-commit"));
  EXPECT_FALSE(fs::exists(root_ / "moved"));
  // Work outside the protected names goes on as usual.
  EXPECT_EQ(in_proj({"write", (proj / "main.c").string()}).out, "ok\n");
}

// git finds the repository from a cwd deeper inside it: that .git is protected as well, and a
// .git the command would create at a level between them is blocked.
TEST_F(FilesystemEscapeTest, RepositoryAboveTheCwdUnderAWiderWritableRootCannotBeModified) {
  const auto proj = root_ / "proj";
  fs::create_directories(proj / ".git/hooks");
  fs::create_directories(proj / "src/lib");
  WriteFile(proj / ".git/config", "[core]\n");
  auto in_lib = [&](const std::vector<std::string>& args) {
    return RunProbe({"--network", "off", "-w", root_.Path().string(), "-C", (proj / "src/lib").string()},
                    args);
  };
  EXPECT_EQ(in_lib({"write", (proj / ".git/config").string()}).out, "err EROFS\n");
  EXPECT_EQ(in_lib({"write", (proj / ".git/hooks/pre-commit").string()}).out, "err EROFS\n");
  EXPECT_EQ(in_lib({"mkdir", (proj / "src/.git").string()}).out, "err EEXIST\n");
  EXPECT_EQ(in_lib({"rename", proj.string(), (root_ / "moved").string()}).out, "err EBUSY\n");
  EXPECT_EQ(ReadFile(proj / ".git/config"), "[core]\n");
  EXPECT_FALSE(fs::exists(proj / ".git/hooks/pre-commit"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(proj / "src/.git")));
}

TEST_F(FilesystemEscapeTest, CwdGitPointerTargetUnderAWiderWritableRootCannotBeModified) {
  const auto proj = root_ / "proj";
  fs::create_directories(root_ / "repo.git/hooks");
  WriteFile(root_ / "repo.git/config", "[core]\n");
  WriteFile(proj / ".git", "gitdir: ../repo.git\n");
  auto in_proj = [&](const std::vector<std::string>& args) {
    return RunProbe({"--network", "off", "-w", root_.Path().string(), "-C", proj.string()}, args);
  };
  EXPECT_EQ(in_proj({"write", (root_ / "repo.git/config").string()}).out, "err EROFS\n");
  EXPECT_EQ(in_proj({"write", (root_ / "repo.git/hooks/post-checkout").string()}).out, "err EROFS\n");
  EXPECT_EQ(in_proj({"write", (proj / ".git").string()}).out, "err EROFS\n");
  EXPECT_EQ(in_proj({"rename", (root_ / "repo.git").string(), (root_ / "old.git").string()}).out,
            "err EBUSY\n");
  EXPECT_EQ(ReadFile(root_ / "repo.git/config"), "[core]\n");
  EXPECT_EQ(ReadFile(proj / ".git"), "gitdir: ../repo.git\n");
}

}  // namespace
}  // namespace sandgate::testing
