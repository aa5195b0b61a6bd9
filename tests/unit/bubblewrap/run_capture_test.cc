#include "vendor/bubblewrap/run_capture.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include "tests/helpers/temp_dir.h"

namespace sandgate::bubblewrap {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;
using testing::WriteFile;
using testing::WriteScript;
using namespace std::chrono_literals;

constexpr std::chrono::milliseconds kGenerous = 10s;

TEST(RunAndCaptureTest, CapturesStdoutAndStderrInOrder) {
  TempDir dir;
  WriteScript(dir.Path() / "talk", "echo out1; echo err1 >&2; echo \"args: $*\"; exit 3\n");
  base::Result<CapturedRun> run = RunAndCapture(dir.Path() / "talk", {"a", "b c"}, kGenerous);
  ASSERT_TRUE(run.Ok()) << run.Err().Message();
  EXPECT_EQ(run->output, "out1\nerr1\nargs: a b c\n");
  EXPECT_TRUE(run->exited);
  EXPECT_EQ(run->exit_code, 3);
}

TEST(RunAndCaptureTest, StdinIsDevNull) {
  TempDir dir;
  WriteScript(dir.Path() / "cat", "exec cat\n");
  base::Result<CapturedRun> run = RunAndCapture(dir.Path() / "cat", {}, kGenerous);
  ASSERT_TRUE(run.Ok()) << run.Err().Message();
  EXPECT_EQ(run->output, "");
  EXPECT_EQ(run->exit_code, 0);
}

TEST(RunAndCaptureTest, ReportsDeathBySignal) {
  TempDir dir;
  WriteScript(dir.Path() / "die", "kill -TERM $$\n");
  base::Result<CapturedRun> run = RunAndCapture(dir.Path() / "die", {}, kGenerous);
  ASSERT_TRUE(run.Ok()) << run.Err().Message();
  EXPECT_FALSE(run->exited);
  EXPECT_EQ(run->term_signal, SIGTERM);
}

TEST(RunAndCaptureTest, ExecFailureCarriesErrno) {
  TempDir dir;
  base::Result<CapturedRun> missing = RunAndCapture(dir.Path() / "nope", {}, kGenerous);
  ASSERT_FALSE(missing.Ok());
  EXPECT_EQ(missing.Err().errnum, ENOENT);
  EXPECT_THAT(missing.Err().context, HasSubstr("execve("));

  WriteFile(dir.Path() / "plain", "#!/bin/sh\n", 0644);
  base::Result<CapturedRun> plain = RunAndCapture(dir.Path() / "plain", {}, kGenerous);
  ASSERT_FALSE(plain.Ok());
  EXPECT_EQ(plain.Err().errnum, EACCES);
}

TEST(RunAndCaptureTest, TimeoutKillsTheChild) {
  TempDir dir;
  // exec: the sleeping process is the child itself, so the kill reaches it.
  WriteScript(dir.Path() / "hang", "echo started; exec sleep 1000\n");
  base::Result<CapturedRun> run = RunAndCapture(dir.Path() / "hang", {"--version"}, 300ms);
  ASSERT_FALSE(run.Ok());
  EXPECT_THAT(run.Err().context, HasSubstr("timed out after 300 ms"));
  EXPECT_THAT(run.Err().context, HasSubstr("hang --version"));
  EXPECT_EQ(run.Err().errnum, 0);
}

TEST(RunAndCaptureTest, DoesNotWaitForGrandchildrenHoldingThePipe) {
  TempDir dir;
  // The background sleep keeps the output pipe open after the script exits. Its own timeout is
  // far above what the test allows, so a hang would show as a timeout error.
  WriteScript(dir.Path() / "fork", "sleep 30 &\necho done\n");
  base::Result<CapturedRun> run = RunAndCapture(dir.Path() / "fork", {}, 10s);
  ASSERT_TRUE(run.Ok()) << run.Err().Message();
  EXPECT_EQ(run->output, "done\n");
  EXPECT_EQ(run->exit_code, 0);
}

TEST(RunAndCaptureTest, CapsHugeOutput) {
  TempDir dir;
  WriteScript(dir.Path() / "flood", "head -c 3000000 /dev/zero\n");
  base::Result<CapturedRun> run = RunAndCapture(dir.Path() / "flood", {}, kGenerous);
  ASSERT_TRUE(run.Ok()) << run.Err().Message();
  EXPECT_EQ(run->output.size(), kMaxCapturedBytes);
  EXPECT_EQ(run->exit_code, 0);
}

TEST(RunAndCaptureTest, LeaksNoDescriptors) {
  TempDir dir;
  WriteScript(dir.Path() / "true", "exit 0\n");
  // The lowest free descriptor before and after must be the same.
  const int before = open("/dev/null", O_RDONLY | O_CLOEXEC);
  close(before);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(RunAndCapture(dir.Path() / "true", {}, kGenerous).Ok());
  }
  ASSERT_FALSE(RunAndCapture(dir.Path() / "missing", {}, kGenerous).Ok());
  const int after = open("/dev/null", O_RDONLY | O_CLOEXEC);
  close(after);
  EXPECT_EQ(before, after);
}

}  // namespace
}  // namespace sandgate::bubblewrap
