// A real Go program (Debian's golang-go) inside the sandbox: 64 goroutines GET one URL at once
// while others burn CPU and allocate, so that the runtime's preemption signals and garbage
// collector hit threads whose connects wait for a controller that answers after 1.5 s. All 64
// succeed, on one prompt, and the server sees exactly 64 requests.
#include <gmock/gmock.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "tests/helpers/http_server.h"
#include "tests/helpers/sandbox_fixture.h"
#include "tests/helpers/scripted_controller.h"

namespace sandgate::testing {
namespace {

class GoRuntimeTest : public SandboxTest {
 protected:
  void SetUp() override {
    SandboxTest::SetUp();
    if (IsSkipped()) return;
    if (::access("/usr/bin/go", X_OK) != 0) GTEST_SKIP() << "golang-go is not installed";
    RunOptions options;
    options.env = {{"GOCACHE", (dir_ / "gocache").string()}, {"HOME", dir_.Path().string()},
                   {"CGO_ENABLED", "0"}, {"GOFLAGS", "-mod=mod"}, {"GO111MODULE", "off"}};
    options.timeout = std::chrono::minutes(3);
    auto built = RunCommand({"/usr/bin/go", "build", "-o", binary_.string(),
                             SANDGATE_TEST_SOURCE_DIR "/tests/integration/go/many_gets.go"},
                            options);
    ASSERT_EQ(built.exit_code, 0) << built.out << built.err;
  }

  void ExpectSixtyFourOnOnePrompt(const char* wait_killable);

  TempDir dir_;
  std::filesystem::path binary_ = dir_ / "many_gets";
};

// With the kernel's WAIT_KILLABLE_RECV, and without it (the path of kernels before 5.19).
TEST_F(GoRuntimeTest, SixtyFourGoroutinesOnOnePromptAllSucceed) {
  for (const char* wait_killable : {"on", "off"}) {
    SCOPED_TRACE(wait_killable);
    ExpectSixtyFourOnOnePrompt(wait_killable);
  }
}

void GoRuntimeTest::ExpectSixtyFourOnOnePrompt(const char* wait_killable) {
  HostHttpServer http;
  ::setenv("SANDGATE_SECCOMP_WAIT_KILLABLE", wait_killable, 1);
  Controller c({"--", binary_.string(), "http://127.0.0.1:" + http.Port() + "/", "64"});
  ::unsetenv("SANDGATE_SECCOMP_WAIT_KILLABLE");
  json request = c.Next("network/requestApproval");
  ASSERT_FALSE(request.is_null());
  // The identical connects gather on this one prompt while the runtime keeps signalling.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  c.Answer(request, "accept");
  json exited = c.Next("sandbox/exited");
  EXPECT_EQ(exited["params"]["exitCode"], 0);
  c.Wait();
  int prompts = 0;
  std::string out;
  for (const auto& m : c.seen) {
    prompts += m.value("method", "") == "network/requestApproval";
    if (m.value("method", "") == "process/output" && m["params"]["stream"] == "stdout") {
      out += m["params"]["data"].get<std::string>();
    }
  }
  EXPECT_EQ(out, "ok=64 failed=0\n");
  EXPECT_EQ(prompts, 1);
  EXPECT_EQ(http.Served(), 64);
}

}  // namespace
}  // namespace sandgate::testing
