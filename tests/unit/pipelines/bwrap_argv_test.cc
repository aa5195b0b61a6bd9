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
