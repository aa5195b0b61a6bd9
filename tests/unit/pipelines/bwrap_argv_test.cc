#include "pipelines/bwrap_argv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sandgate::pipelines {
namespace {

using ::testing::ElementsAreArray;

SandboxSpec Spec() {
  SandboxSpec spec;
  spec.command = {"make", "-j2"};
  spec.cwd = "/work/repo";
  spec.writable_roots = {"/work/repo", "/tmp"};
  spec.network = NetworkMode::kOff;
  return spec;
}

const InnerStageLaunch kInner{"/usr/bin/sandgate", 3, 4};

TEST(BwrapArgvTest, GoldenDefault) {
  std::vector<Protection> protections = {
      {"/work/repo/.git", ProtectionKind::kReadOnly, ""},
      {"/work/repo/.codex", ProtectionKind::kBlockMissing, ""},
  };
  std::vector<std::string> expected = {
      "--new-session", "--die-with-parent", "--unshare-user", "--disable-userns", "--cap-drop",
      "ALL", "--unshare-pid", "--unshare-net", "--ro-bind", "/", "/",
      "--bind", "/tmp", "/tmp",
      "--bind", "/work/repo", "/work/repo",
      "--ro-bind", "/dev/null", "/work/repo/.codex",
      "--ro-bind", "/work/repo/.git", "/work/repo/.git",
      "--dev", "/dev", "--proc", "/proc", "--chdir", "/work/repo",
      "--", "/usr/bin/sandgate", "__sandgate-inner", "--network=off", "--handoff-fd=3",
      "--stderr-fd=4", "--", "make", "-j2"};
  EXPECT_THAT(BuildBwrapArgv(Spec(), protections, kInner), ElementsAreArray(expected));
}

TEST(BwrapArgvTest, NetworkOnKeepsHostNetworkAndNoProcSkipsProc) {
  SandboxSpec spec = Spec();
  spec.network = NetworkMode::kOn;
  spec.proc = ProcMount::kNone;
  auto argv = BuildBwrapArgv(spec, {}, kInner);
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--unshare-net"), 0);
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--proc"), 0);
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--unshare-pid"), 1);
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--network=on"), 1);
}

TEST(BwrapArgvTest, ApproveModeUnsharesNetwork) {
  SandboxSpec spec = Spec();
  spec.network = NetworkMode::kApprove;
  auto argv = BuildBwrapArgv(spec, {}, kInner);
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--unshare-net"), 1);
}

TEST(BwrapArgvTest, ReadOnlyHasNoWritableBinds) {
  SandboxSpec spec = Spec();
  spec.writable_roots.clear();
  auto argv = BuildBwrapArgv(spec, {}, kInner);
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--bind"), 0);
}

TEST(BwrapArgvTest, NestedRootsAndProtectionsAreOrderedParentFirst) {
  SandboxSpec spec = Spec();
  // A root nested inside another, and a root the user named inside a protected path.
  spec.writable_roots = {"/w", "/w/sub", "/w/.git/hooks"};
  std::vector<Protection> protections = {
      {"/w/sub/.git", ProtectionKind::kReadOnly, ""},
      {"/w/.git", ProtectionKind::kReadOnly, ""},
      // gitdir of a worktree in /w/sub pointing into the outer repository
      {"/w/.git/worktrees/sub", ProtectionKind::kReadOnly, ""},
  };
  auto argv = BuildBwrapArgv(spec, protections, kInner);
  std::vector<std::string> mounts;
  for (size_t i = 0; i + 2 < argv.size(); ++i) {
    if ((argv[i] == "--bind" || argv[i] == "--ro-bind") && argv[i + 2] != "/") {
      mounts.push_back(argv[i] + " " + argv[i + 2]);
    }
  }
  EXPECT_THAT(mounts, ElementsAreArray({"--bind /w", "--ro-bind /w/.git", "--bind /w/.git/hooks",
                                        "--ro-bind /w/.git/worktrees/sub", "--bind /w/sub",
                                        "--ro-bind /w/sub/.git"}));
}

// The writable binds and read-only covers among the mounts, in argv order.
std::vector<std::string> Mounts(const std::vector<std::string>& argv) {
  std::vector<std::string> mounts;
  for (size_t i = 0; i + 2 < argv.size(); ++i) {
    if ((argv[i] == "--bind" || argv[i] == "--ro-bind") && argv[i + 2] != "/") {
      mounts.push_back(argv[i] + " " + argv[i + 1] + " " + argv[i + 2]);
      i += 2;
    }
  }
  return mounts;
}

TEST(BwrapArgvTest, CwdProtectionsComeAfterTheWiderRootAndTheCwdIsPinned) {
  // -w /home/u/src -C /home/u/src/proj
  SandboxSpec spec = Spec();
  spec.cwd = "/home/u/src/proj";
  spec.writable_roots = {"/home/u/src"};
  std::vector<Protection> protections = {
      {"/home/u/src/.git", ProtectionKind::kBlockMissing, ""},
      {"/home/u/src/proj/.git", ProtectionKind::kReadOnly, ""},
      {"/home/u/src/proj/.codex", ProtectionKind::kBlockMissing, ""},
      {"/home/u/src/main/.git/worktrees/proj", ProtectionKind::kReadOnly, ""},
  };
  EXPECT_THAT(
      Mounts(BuildBwrapArgv(spec, protections, kInner)),
      ElementsAreArray({"--bind /home/u/src /home/u/src", "--ro-bind /dev/null /home/u/src/.git",
                        // Directories on the way to a protection cannot be renamed away.
                        "--bind /home/u/src/main /home/u/src/main",
                        "--bind /home/u/src/main/.git /home/u/src/main/.git",
                        "--bind /home/u/src/main/.git/worktrees "
                        "/home/u/src/main/.git/worktrees",
                        "--ro-bind /home/u/src/main/.git/worktrees/proj "
                        "/home/u/src/main/.git/worktrees/proj",
                        "--bind /home/u/src/proj /home/u/src/proj",
                        "--ro-bind /dev/null /home/u/src/proj/.codex",
                        "--ro-bind /home/u/src/proj/.git /home/u/src/proj/.git"}));
}

TEST(BwrapArgvTest, UncreatablePathGetsNoMountButItsDirectoryIsPinned) {
  SandboxSpec spec = Spec();
  spec.writable_roots = {"/w"};
  std::vector<Protection> protections = {
      {"/w/.git", ProtectionKind::kUncreatable, ""},
      {"/w/foreign/.git", ProtectionKind::kUncreatable, ""},
  };
  EXPECT_THAT(Mounts(BuildBwrapArgv(spec, protections, kInner)),
              ElementsAreArray({"--bind /w /w", "--bind /w/foreign /w/foreign"}));
}

TEST(BwrapArgvTest, DirectoriesBetweenNestedRootsArePinned) {
  SandboxSpec spec = Spec();
  spec.writable_roots = {"/w/a/b/sub", "/w", "/tmp"};
  EXPECT_THAT(Mounts(BuildBwrapArgv(spec, {}, kInner)),
              ElementsAreArray({"--bind /tmp /tmp", "--bind /w /w", "--bind /w/a /w/a",
                                "--bind /w/a/b /w/a/b", "--bind /w/a/b/sub /w/a/b/sub"}));
}

TEST(BwrapArgvTest, NothingInsideAReadOnlyProtectionIsPinned) {
  // A worktree's gitdir inside the outer repository's .git: /w/.git is read-only, so nothing in
  // it can be renamed, and a writable bind there would undo the protection.
  SandboxSpec spec = Spec();
  spec.writable_roots = {"/w"};
  std::vector<Protection> protections = {
      {"/w/.git", ProtectionKind::kReadOnly, ""},
      {"/w/.git/worktrees/sub", ProtectionKind::kReadOnly, ""},
      {"/w/.git/modules/m/.git", ProtectionKind::kBlockMissing, ""},
  };
  EXPECT_THAT(Mounts(BuildBwrapArgv(spec, protections, kInner)),
              ElementsAreArray({"--bind /w /w", "--ro-bind /w/.git /w/.git",
                                "--ro-bind /dev/null /w/.git/modules/m/.git",
                                "--ro-bind /w/.git/worktrees/sub /w/.git/worktrees/sub"}));
}

TEST(BwrapArgvTest, ProtectionAtTheSamePathAsARootComesAfterIt) {
  SandboxSpec spec = Spec();
  spec.writable_roots = {"/w/.git"};
  auto argv = BuildBwrapArgv(spec, {{"/w/.git", ProtectionKind::kReadOnly, ""}}, kInner);
  auto bind = std::find(argv.begin(), argv.end(), "--bind");
  auto ro = std::find(bind, argv.end(), "/w/.git");
  ASSERT_NE(bind, argv.end());
  EXPECT_NE(std::find(ro + 1, argv.end(), "--ro-bind"), argv.end());
}

TEST(BwrapArgvTest, DevAndProcComeAfterAWritableRootSlash) {
  SandboxSpec spec = Spec();
  spec.writable_roots = {"/"};
  auto argv = BuildBwrapArgv(spec, {}, kInner);
  auto bind = std::find(argv.begin(), argv.end(), "--bind");
  auto dev = std::find(argv.begin(), argv.end(), "--dev");
  auto proc = std::find(argv.begin(), argv.end(), "--proc");
  EXPECT_LT(bind, dev);
  EXPECT_LT(dev, proc);
}

TEST(BwrapArgvTest, ProbeRunsTheInnerStageWithoutCommand) {
  auto argv = BuildBwrapArgv(Spec(), {}, kInner, InnerAction::kProbe);
  EXPECT_EQ(argv.back(), "--probe");
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "make"), 0);
}

TEST(BwrapArgvTest, CommandArgumentsArePassedVerbatim) {
  SandboxSpec spec = Spec();
  spec.command = {"sh", "-c", "echo --bind / / && --", ""};
  auto argv = BuildBwrapArgv(spec, {}, kInner);
  std::vector<std::string> tail(argv.end() - 4, argv.end());
  EXPECT_EQ(tail, spec.command);
}

}  // namespace
}  // namespace sandgate::pipelines
