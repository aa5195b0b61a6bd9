// What the command can reach besides files: capabilities, namespaces, network, kernel interfaces.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "base/unique_fd.h"
#include "tests/helpers/host_peers.h"
#include "tests/helpers/sandbox_fixture.h"

namespace sandgate::testing {
namespace {

using ::testing::HasSubstr;

using IsolationTest = SandboxTest;

using HostListener = HostTcpListener;

TEST_F(IsolationTest, CommandHasNoCapabilities) {
  auto r = RunProbe({"--network", "off"}, {"capeff"});
  EXPECT_EQ(r.out, "0000000000000000\n") << r.err;
}

TEST_F(IsolationTest, CommandRunsInItsOwnPidNamespace) {
  auto r = RunProbe({"--network", "off"}, {"pid"});
  // bwrap's init is pid 1 of the namespace and the command its first child.
  EXPECT_EQ(r.out, "2\n") << r.err;
  auto all = RunCommand({SandgateBinary(), "run", "--network", "off", "--", "/bin/ls", "/proc"});
  EXPECT_THAT(all.out, ::testing::Not(HasSubstr("\n" + std::to_string(getpid()) + "\n")));
}

TEST_F(IsolationTest, NetworkOnReachesAHostListener) {
  HostListener listener;
  auto r = RunProbe({"--network", "on"}, {"connect", "127.0.0.1", listener.Port()});
  EXPECT_EQ(r.out, "ok\n") << r.err;
}

TEST_F(IsolationTest, NetworkOffAndApproveDoNotReachAHostListener) {
  HostListener listener;
  EXPECT_EQ(RunProbe({"--network", "off"}, {"connect", "127.0.0.1", listener.Port()}).out,
            "err EPERM\n");
  // Approve mode with nobody to ask (auto-deny): held, then refused.
  EXPECT_EQ(RunProbe({"--network", "approve", "--approvals", "auto-deny"},
                     {"connect", "127.0.0.1", listener.Port()})
                .out,
            "err EPERM\n");
}

}  // namespace
}  // namespace sandgate::testing
