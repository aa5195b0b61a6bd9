// The legacy pipeline where user namespaces are unavailable (the cell nouserns/legacy): what it
// refuses, what it still promises, and that it says which is which.
#include <gmock/gmock.h>

#include <filesystem>

#include "tests/helpers/host_peers.h"
#include "tests/helpers/sandbox_fixture.h"

namespace sandgate::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class NoUserNamespacesTest : public SandboxTest {
 protected:
  void SetUp() override {
    if (CellHasUserNamespaces()) {
      GTEST_SKIP() << "only the cell without user namespaces has this shape";
    }
    SandboxTest::SetUp();
  }
  TempDir dir_;
};

TEST_F(NoUserNamespacesTest, WritableRootIsRefusedByName) {
  const auto marker = dir_ / "ran";
  auto r = RunCommand({SandgateBinary(), "run", "--network", "off", "-w", dir_.Path().string(),
                       "-C", dir_.Path().string(), "--", "/bin/sh", "-c",
                       "echo x > " + marker.string()});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, StartsWith("sandgate: the legacy pipeline cannot keep " + dir_.Path().string()));
  EXPECT_THAT(r.err, HasSubstr("user namespaces are unavailable"));
  EXPECT_THAT(r.err, HasSubstr("--read-only"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(marker));
  for (const char* name : {".git", ".codex", ".agents"}) {
    EXPECT_FALSE(fs::exists(dir_ / name)) << name << ": a refused sandbox leaves nothing behind";
  }
}

TEST_F(NoUserNamespacesTest, ReadOnlyRunsAndSaysItHasNoPidNamespace) {
  auto r = RunCommand({SandgateBinary(), "run", "--network", "off", "--read-only", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("no PID namespace here"));
  EXPECT_THAT(r.err, HasSubstr("sees the host's processes"));
  auto quiet = RunCommand(
      {SandgateBinary(), "run", "--network", "off", "--read-only", "--no-proc", "--", "/bin/true"});
  EXPECT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "") << "--no-proc asks for exactly this: nothing to warn about";
}

TEST_F(NoUserNamespacesTest, HostLoopbackIsMediated) {
  // The command's loopback is the host's: a listener there is a host service, decided like any.
  HostTcpListener listener;
  auto denied = RunProbe({"--network", "approve", "--approvals", "auto-deny"},
                         {"connect", "127.0.0.1", listener.Port()});
  EXPECT_EQ(denied.out, "err EPERM\n") << denied.err;
  EXPECT_EQ(listener.Accepted(), 0);
  auto allowed = RunProbe({"--network", "approve", "--approvals", "auto-deny", "--allow",
                           "127.0.0.1:" + listener.Port()},
                          {"connect", "127.0.0.1", listener.Port()});
  EXPECT_EQ(allowed.out, "ok\n") << allowed.err;
  EXPECT_EQ(listener.Accepted(), 1);
}

}  // namespace
}  // namespace sandgate::testing
