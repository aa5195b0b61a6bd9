// sandgate's exit status and signal handling around the sandboxed command.
#include <gmock/gmock.h>
#include <sys/stat.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/helpers/sandbox_fixture.h"

namespace sandgate::testing {
namespace {

using ::testing::HasSubstr;

using ExitStatusTest = SandboxTest;

TEST_F(ExitStatusTest, CommandExitCodeIsPassedOn) {
  EXPECT_EQ(RunProbe({"--network", "off"}, {"exit", "0"}).exit_code, 0);
  EXPECT_EQ(RunProbe({"--network", "off"}, {"exit", "3"}).exit_code, 3);
  EXPECT_EQ(RunProbe({"--network", "off"}, {"exit", "125"}).exit_code, 125);
}

TEST_F(ExitStatusTest, DeathBySignalIs128PlusN) {
  EXPECT_EQ(RunProbe({"--network", "off"}, {"kill-self", "9"}).exit_code, 137);
  EXPECT_EQ(RunProbe({"--network", "off"}, {"kill-self", "15"}).exit_code, 143);
}

TEST_F(ExitStatusTest, NotFoundIs127AndNotExecutableIs126) {
  auto r = RunCommand({SandgateBinary(), "run", "--network", "off", "--", "/nonexistent/cmd"});
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_THAT(r.err, HasSubstr("cannot execute '/nonexistent/cmd'"));
  TempDir dir;
  WriteFile(dir / "script", "#!/bin/sh\necho hi\n");  // not executable
  r = RunCommand({SandgateBinary(), "run", "--network", "off", "--", (dir / "script").string()});
  EXPECT_EQ(r.exit_code, 126);
}

TEST_F(ExitStatusTest, StdoutAndStderrOfTheCommandPassThrough) {
  auto r = RunCommand({SandgateBinary(), "run", "--network", "off", "--", "/bin/sh", "-c",
                "echo out; echo err >&2"});
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
}

class SignalForwardingTest : public SandboxTest, public ::testing::WithParamInterface<int> {};

TEST_P(SignalForwardingTest, SignalToSandgateReachesTheCommand) {
  RunOptions options;
  options.signal = GetParam();
  options.signal_when_output = "ready";
  auto r = RunProbe({"--network", "off"}, {"sleep-ready"}, options);
  EXPECT_EQ(r.out, "ready\n");
  // The command died of the forwarded signal; sandgate itself exited normally with 128+N.
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.exit_code, 128 + GetParam()) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Signals, SignalForwardingTest, ::testing::Values(SIGINT, SIGTERM, SIGHUP));

bool ProcessWithArgumentExists(const std::string& marker) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream cmdline(entry.path() / "cmdline", std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(cmdline)), {});
    if (content.find(marker) != std::string::npos) return true;
  }
  return false;
}

TEST_F(ExitStatusTest, SandboxDiesWithSandgate) {
  const std::string marker = "sandgate-orphan-check-" + std::to_string(getpid());
  RunOptions options;
  options.signal = SIGKILL;
  options.signal_when_output = "ready";
  auto r = RunProbe({"--network", "off"}, {"sleep-ready", marker}, options);
  EXPECT_EQ(r.signal, SIGKILL);
  // The kernel delivers the parent-death signals asynchronously; give it a bounded while.
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = !ProcessWithArgumentExists(marker);
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(gone) << "the sandboxed command outlived sandgate";
}

}  // namespace
}  // namespace sandgate::testing
