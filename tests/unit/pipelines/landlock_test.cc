#include "pipelines/landlock.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "tests/helpers/temp_dir.h"

namespace sandgate::pipelines {
namespace {

using namespace landlock;

TEST(LandlockPlanTest, RightsFollowTheAbi) {
  EXPECT_EQ(FsRightsOfAbi(0), 0U);
  EXPECT_EQ(FsRightsOfAbi(1), (kMakeSym << 1) - 1);
  EXPECT_EQ(FsRightsOfAbi(2) & kRefer, kRefer);
  EXPECT_EQ(FsRightsOfAbi(2) & kTruncate, 0U);
  EXPECT_EQ(FsRightsOfAbi(3) & kTruncate, kTruncate);
  EXPECT_EQ(FsRightsOfAbi(4), FsRightsOfAbi(3));  // ABI 4 added network rights only
  EXPECT_EQ(FsRightsOfAbi(5) & kIoctlDev, kIoctlDev);
  EXPECT_EQ(FsRightsOfAbi(7), FsRightsOfAbi(5));
}

TEST(LandlockPlanTest, ReadEverywhereWriteInRootsAndDevices) {
  auto plan = PlanLandlock(5, {"/work/repo"}, {"/dev/pts/3"});
  EXPECT_EQ(plan.handled_fs, FsRightsOfAbi(5));
  EXPECT_EQ(plan.scoped, 0U) << "scopes need ABI 6";
  ASSERT_GE(plan.rules.size(), 3U);
  EXPECT_EQ(plan.rules[0], (LandlockRule{"/", kReadFile | kReadDir | kExecute}));
  EXPECT_EQ(plan.rules[1], (LandlockRule{"/work/repo", FsRightsOfAbi(5)}));
  const std::uint64_t device = kReadFile | kWriteFile | kTruncate | kIoctlDev;
  EXPECT_THAT(plan.rules, ::testing::Contains(LandlockRule{"/dev/null", device}));
  EXPECT_THAT(plan.rules, ::testing::Contains(LandlockRule{"/dev/pts/3", device}));
  for (const auto& rule : plan.rules) {
    if (rule.path != "/work/repo") {
      EXPECT_EQ(rule.access & kMakeReg, 0U) << rule.path;
    }
  }
}

TEST(LandlockPlanTest, AbiSixScopesSignalsAndAbstractSockets) {
  EXPECT_EQ(PlanLandlock(6, {}, {}).scoped, kScopeAbstractUnixSocket | kScopeSignal);
  // An ABI 3 plan asks for no right the kernel does not know.
  auto old = PlanLandlock(3, {"/w"}, {});
  for (const auto& rule : old.rules) EXPECT_EQ(rule.access & ~FsRightsOfAbi(3), 0U);
}

TEST(LandlockPlanTest, NothingToEnforceIsRefused) {
  LandlockPlan empty;
  EXPECT_FALSE(ApplyLandlock(empty).Ok());
}

// The real kernel: a child restricted to one writable directory.
TEST(LandlockApplyTest, WritesOutsideTheRootsAreDenied) {
  auto abi = ProbeLandlockAbi();
  if (!abi.Ok()) GTEST_SKIP() << "no Landlock here: " << abi.Err().Message();
  if (abi.Value() < kMinimumLandlockAbi) GTEST_SKIP() << "Landlock ABI " << abi.Value() << " < 3";
  sandgate::testing::TempDir inside;
  sandgate::testing::TempDir outside;
  { std::ofstream(outside.Path() / "kept") << "data"; }
  const auto plan = PlanLandlock(abi.Value(), {inside.Path()}, {});
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(10);
    if (!ApplyLandlock(plan).Ok()) ::_exit(11);
    const std::string in = (inside.Path() / "new").string();
    const std::string out = (outside.Path() / "new").string();
    const std::string kept = (outside.Path() / "kept").string();
    if (::open(in.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600) < 0) ::_exit(12);
    if (::open(out.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600) >= 0) ::_exit(13);
    if (::truncate(kept.c_str(), 0) == 0) ::_exit(14);
    if (::open(kept.c_str(), O_RDONLY | O_CLOEXEC) < 0) ::_exit(15);
    if (::open("/dev/null", O_WRONLY | O_TRUNC | O_CLOEXEC) < 0) ::_exit(16);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "10 nnp, 11 apply, 12 create inside, 13 create outside allowed, 14 truncate outside "
         "allowed, 15 read outside, 16 /dev/null";
}

}  // namespace
}  // namespace sandgate::pipelines
