#include "vendor/bubblewrap/bwrap_probe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/unit/bubblewrap/bwrap_samples.h"
#include "tests/helpers/temp_dir.h"
#include "vendor/bubblewrap/run_capture.h"

namespace sandgate::bubblewrap {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::TempDir;
using testing::WriteScript;
using namespace std::chrono_literals;

constexpr const char* kSystemBwrap = "/usr/bin/bwrap";

TEST(ProbeBwrapTest, RealBwrap) {
  if (access(kSystemBwrap, X_OK) != 0) {
    GTEST_SKIP() << kSystemBwrap << " is absent: install the Debian package 'bubblewrap'";
  }
  base::Result<BwrapInfo> info = ProbeBwrap(kSystemBwrap);
  ASSERT_TRUE(info.Ok()) << info.Err().Message();
  EXPECT_EQ(info->path, kSystemBwrap);
  EXPECT_GE(info->version, kMinimumBwrapVersion);
  EXPECT_THAT(MissingRequiredFlags(info->features), IsEmpty());
}

TEST(ProbeBwrapTest, PastedSamplesMatchTheInstalledBwrap) {
  if (access(kSystemBwrap, X_OK) != 0) {
    GTEST_SKIP() << kSystemBwrap << " is absent";
  }
  base::Result<CapturedRun> version = RunAndCapture(kSystemBwrap, {"--version"}, 5s);
  ASSERT_TRUE(version.Ok()) << version.Err().Message();
  if (version->output != testdata::kVersion080) {
    GTEST_SKIP() << "the samples are from bubblewrap 0.8.0; installed: " << version->output;
  }
  base::Result<CapturedRun> help = RunAndCapture(kSystemBwrap, {"--help"}, 5s);
  ASSERT_TRUE(help.Ok()) << help.Err().Message();
  EXPECT_EQ(help->output, testdata::kHelp080);
}

TEST(ProbeBwrapTest, FakeBwrapThatAnswers) {
  TempDir dir;
  WriteScript(dir.Path() / "bwrap",
              "case \"$1\" in\n"
              "  --version) echo 'bubblewrap 0.9.0' ;;\n"
              "  --help) printf '%s\\n' '    --argv0 VALUE  x' '    --unshare-user  x' ;;\n"
              "  *) exit 1 ;;\n"
              "esac\n");
  base::Result<BwrapInfo> info = ProbeBwrap(dir.Path() / "bwrap");
  ASSERT_TRUE(info.Ok()) << info.Err().Message();
  EXPECT_EQ(info->version, (BwrapVersion{0, 9, 0}));
  EXPECT_TRUE(info->features.Has("--argv0"));
  EXPECT_TRUE(info->features.Has("--unshare-user"));
  EXPECT_FALSE(info->features.Has("--disable-userns"));
}

TEST(ProbeBwrapTest, HangingBwrapTimesOut) {
  TempDir dir;
  WriteScript(dir.Path() / "bwrap", "exec sleep 1000\n");
  base::Result<BwrapInfo> info = ProbeBwrap(dir.Path() / "bwrap", 500ms);
  ASSERT_FALSE(info.Ok());
  EXPECT_THAT(info.Err().context, HasSubstr("timed out"));
  EXPECT_THAT(info.Err().context, HasSubstr("bwrap --version"));
}

TEST(ProbeBwrapTest, HelpThatHangsTimesOutToo) {
  TempDir dir;
  WriteScript(dir.Path() / "bwrap",
              "if [ \"$1\" = --version ]; then echo 'bubblewrap 0.8.0'; exit 0; fi\n"
              "exec sleep 1000\n");
  base::Result<BwrapInfo> info = ProbeBwrap(dir.Path() / "bwrap", 500ms);
  ASSERT_FALSE(info.Ok());
  EXPECT_THAT(info.Err().context, HasSubstr("timed out"));
}

TEST(ProbeBwrapTest, GarbageIsAnError) {
  TempDir dir;
  WriteScript(dir.Path() / "bwrap", "printf 'Hello \\033[31mworld\\n'\n");
  base::Result<BwrapInfo> info = ProbeBwrap(dir.Path() / "bwrap");
  ASSERT_FALSE(info.Ok());
  EXPECT_EQ(info.Err().context, (dir.Path() / "bwrap").string() +
                                    " --version printed \"Hello ?[31mworld\", not \"bubblewrap "
                                    "X.Y.Z\": is it bubblewrap?");
}

TEST(ProbeBwrapTest, HelpWithoutOptionsIsAnError) {
  TempDir dir;
  WriteScript(dir.Path() / "bwrap", "echo 'bubblewrap 0.8.0'\n");
  base::Result<BwrapInfo> info = ProbeBwrap(dir.Path() / "bwrap");
  ASSERT_FALSE(info.Ok());
  EXPECT_THAT(info.Err().context, HasSubstr("--help listed no options"));
}

TEST(ProbeBwrapTest, FailingBwrapIsAnError) {
  TempDir dir;
  WriteScript(dir.Path() / "bwrap", "echo 'bwrap: something broke' >&2; exit 1\n");
  base::Result<BwrapInfo> info = ProbeBwrap(dir.Path() / "bwrap");
  ASSERT_FALSE(info.Ok());
  EXPECT_EQ(info.Err().context, (dir.Path() / "bwrap").string() +
                                    " --version exited with status 1: bwrap: something broke");
}

TEST(ProbeBwrapTest, MissingBinaryIsAnError) {
  TempDir dir;
  base::Result<BwrapInfo> info = ProbeBwrap(dir.Path() / "bwrap");
  ASSERT_FALSE(info.Ok());
  EXPECT_EQ(info.Err().errnum, ENOENT);
}

}  // namespace
}  // namespace sandgate::bubblewrap
