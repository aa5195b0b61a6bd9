#include "supervisor/child/bwrap_pipeline.h"

#include <gmock/gmock.h>
#include <unistd.h>

#include <algorithm>

#include "tests/helpers/temp_dir.h"

namespace sandgate::supervisor {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

pipelines::SandboxSpec Spec(const testing::TempDir& dir) {
  pipelines::SandboxSpec spec;
  spec.cwd = dir.Path();
  spec.writable_roots = {dir.Path()};
  spec.command = {"/bin/true"};
  spec.network = pipelines::NetworkMode::kOff;
  return spec;
}

TEST(BwrapPipelineTest, StartsTheInnerStageInsideBwrapAndFallsBackWithoutProcOnce) {
  if (::access("/usr/bin/bwrap", X_OK) != 0) GTEST_SKIP() << "bubblewrap is not installed";
  testing::TempDir dir;
  BwrapPipeline pipeline(Spec(dir), "/usr/bin/bwrap");
  auto prepared = pipeline.Prepare();
  if (!prepared.Ok()) GTEST_SKIP() << prepared.Err().Message();  // e.g. no user namespaces
  EXPECT_STREQ(pipeline.Name(), "bwrap");
  const StageLaunch stage = pipeline.Stage(pipelines::InnerAction::kExecCommand);
  EXPECT_EQ(stage.program, "/usr/bin/bwrap");
  EXPECT_THAT(stage.args, Contains("__sandgate-inner"));
  EXPECT_THAT(stage.args, Contains("--proc"));
  EXPECT_THAT(pipeline.Stage(pipelines::InnerAction::kProbe).args, Contains("--probe"));
  // The missing protected names are held as placeholders while the pipeline lives.
  EXPECT_TRUE(std::filesystem::exists(dir / ".git"));

  ASSERT_TRUE(pipeline.CanFallBackWithoutProc());
  EXPECT_TRUE(pipeline.FallBackWithoutProc());
  EXPECT_THAT(pipeline.Stage(pipelines::InnerAction::kExecCommand).args, Not(Contains("--proc")));
  EXPECT_FALSE(pipeline.CanFallBackWithoutProc());
  EXPECT_FALSE(pipeline.FallBackWithoutProc());
}

TEST(BwrapPipelineTest, AMissingBwrapFailsPrepareAndNamesWhereItLooked) {
  testing::TempDir dir;
  BwrapPipeline pipeline(Spec(dir), "/nonexistent/bwrap");
  auto prepared = pipeline.Prepare();
  ASSERT_FALSE(prepared.Ok());
  EXPECT_THAT(prepared.Err().Message(), HasSubstr("--bwrap"));
}

TEST(BwrapPipelineTest, SetupFailureInsideTheSandboxIsExplainedAsSuch) {
  testing::TempDir dir;
  BwrapPipeline pipeline(Spec(dir), "/nonexistent/bwrap");
  ChildOutcome outcome;
  outcome.inner_failure = "cannot mediate: setns(x): Operation not permitted";
  EXPECT_EQ(pipeline.ExplainSetupFailure(outcome),
            "sandbox setup failed: cannot mediate: setns(x): Operation not permitted");
}

}  // namespace
}  // namespace sandgate::supervisor
