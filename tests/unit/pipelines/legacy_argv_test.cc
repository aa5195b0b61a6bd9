#include "pipelines/legacy_argv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace sandgate::pipelines {
namespace {

using ::testing::ElementsAreArray;

SandboxSpec Spec() {
  SandboxSpec spec;
  spec.command = {"make", "-j2"};
  spec.cwd = "/work/repo";
  spec.writable_roots = {"/work/repo", "/tmp"};
  spec.network = NetworkMode::kApprove;
  spec.pipeline = Pipeline::kLegacy;
  return spec;
}

const InnerStageLaunch kInner{"/usr/bin/sandgate", 3, 4};
const std::vector<Protection> kProtections = {
    {"/work/repo/.git", ProtectionKind::kReadOnly, ""},
    {"/work/repo/.codex", ProtectionKind::kBlockMissing, ""},
    {"/work/repo/.agents", ProtectionKind::kUncreatable, ""},
};

TEST(LegacyArgvTest, GoldenUserNamespaces) {
  std::vector<std::string> expected = {
      "__sandgate-inner", "--network=approve", "--handoff-fd=3", "--stderr-fd=4",
      "--legacy=user", "--landlock-abi=7", "--chdir=/work/repo",
      "--write=/work/repo", "--write=/tmp",
      // PlanMounts' order: parents first, the protection after the root at the same path.
      "--mount=rw:/tmp", "--mount=rw:/work/repo", "--mount=null:/work/repo/.codex",
      "--mount=ro:/work/repo/.git",
      "--", "make", "-j2"};
  EXPECT_THAT(BuildLegacyArgv(Spec(), kProtections, {LegacyNamespaces::kUser, 7}, kInner,
                              InnerAction::kExecCommand),
              ElementsAreArray(expected));
}

TEST(LegacyArgvTest, WithoutNamespacesThereAreNoMountsAndNoProc) {
  auto argv = BuildLegacyArgv(Spec(), kProtections, {LegacyNamespaces::kNone, 6}, kInner,
                              InnerAction::kExecCommand);
  EXPECT_EQ(std::count_if(argv.begin(), argv.end(),
                          [](const std::string& a) { return a.rfind("--mount=", 0) == 0; }),
            0);
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--no-proc"), 1);
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--legacy=none"), 1);
  // Landlock still needs the roots.
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--write=/tmp"), 1);
}

TEST(LegacyArgvTest, ProbeAndNoProc) {
  SandboxSpec spec = Spec();
  spec.proc = ProcMount::kNone;
  auto argv = BuildLegacyArgv(spec, {}, {LegacyNamespaces::kRoot, 5}, kInner, InnerAction::kProbe);
  EXPECT_EQ(argv.back(), "--probe");
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--no-proc"), 1);
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "make"), 0);
}

TEST(LegacyArgvTest, NetworkNamespaceWhereverNamespacesAreUnlessTheNetworkIsOn) {
  SandboxSpec spec = Spec();
  EXPECT_TRUE(HasNetworkNamespace(spec, {LegacyNamespaces::kRoot, 7}));
  EXPECT_TRUE(HasNetworkNamespace(spec, {LegacyNamespaces::kUser, 7}));
  EXPECT_FALSE(HasNetworkNamespace(spec, {LegacyNamespaces::kNone, 7}));
  spec.network = NetworkMode::kOn;
  EXPECT_FALSE(HasNetworkNamespace(spec, {LegacyNamespaces::kUser, 7}));
}

}  // namespace
}  // namespace sandgate::pipelines
