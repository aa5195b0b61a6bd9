// The legacy pipeline's own refusals, in every cell that runs it.
#include <gmock/gmock.h>

#include <filesystem>

#include "tests/helpers/sandbox_fixture.h"

namespace sandgate::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class LegacyPipelineTest : public SandboxTest {
 protected:
  void SetUp() override {
    if (CellPipeline() != TestPipeline::kLegacy) {
      GTEST_SKIP() << "about the legacy pipeline: the bwrap cells do not run it";
    }
    SandboxTest::SetUp();
  }
};

TEST_F(LegacyPipelineTest, WithoutLandlockItRefusesWithTheReason) {
  TempDir dir;
  const auto marker = dir / "ran";
  // A kernel without Landlock, imitated by a filter that fails its syscalls with ENOSYS.
  std::vector<std::string> argv = {ProbeBinary(), "without-landlock"};
  for (const auto& arg : AsCellIdentity({SandgateBinary(), "run", "--network", "off", "--read-only",
                                         "--", "/bin/sh", "-c", "echo x > " + marker.string()})) {
    argv.push_back(arg);
  }
  RunOptions options;
  options.cwd = kSandgateCwd;
  auto r = RunCommand(argv, options);
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, StartsWith("sandgate: the legacy pipeline needs Landlock: this kernel has no "
                                "Landlock"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(marker));
}

}  // namespace
}  // namespace sandgate::testing
