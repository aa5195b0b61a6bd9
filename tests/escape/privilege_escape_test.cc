// Attacks on privileges, namespaces and kernel interfaces that would walk around the sandbox.
#include <gmock/gmock.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

#include "tests/helpers/sandbox_fixture.h"

namespace sandgate::testing {
namespace {

using PrivilegeEscapeTest = SandboxTest;

TEST_F(PrivilegeEscapeTest, CommandCannotRemountOrMount) {
  EXPECT_EQ(RunProbe({"--network", "off"}, {"remount-rw"}).out, "err EPERM\n");
  EXPECT_EQ(RunProbe({"--network", "off"}, {"mount-tmpfs", "/tmp"}).out, "err EPERM\n");
}

TEST_F(PrivilegeEscapeTest, CommandCannotCreateNamespaces) {
  EXPECT_EQ(RunProbe({"--network", "on"}, {"unshare-net"}).out, "err EPERM\n");
  EXPECT_EQ(RunProbe({"--network", "on"}, {"unshare-user"}).out, "err EPERM\n");
  EXPECT_EQ(RunProbe({"--network", "on"}, {"clone-newuser"}).out, "err EPERM\n");
}

TEST_F(PrivilegeEscapeTest, CommandCannotJoinTheHostNetworkNamespace) {
  // With --no-proc the host's /proc is visible: opening the host's namespace files is refused
  // (the command may not ptrace host processes)...
  EXPECT_THAT(RunProbe({"--network", "off", "--no-proc"}, {"setns", "/proc/1/ns/net"}).out,
              ::testing::AnyOf("err EACCES\n", "err EPERM\n"));
  // ...and a namespace file it can open still cannot be joined (seccomp, and no capabilities).
  EXPECT_EQ(RunProbe({"--network", "off"}, {"setns", "/proc/self/ns/net"}).out, "err EPERM\n");
}

TEST_F(PrivilegeEscapeTest, RawSocketsFailEvenWithNetworkOn) {
  EXPECT_EQ(RunProbe({"--network", "on"}, {"socket", "raw"}).out, "err EPERM\n");
  EXPECT_EQ(RunProbe({"--network", "on"}, {"socket", "packet"}).out, "err EPERM\n");
}

TEST_F(PrivilegeEscapeTest, NetworkOffBlocksEveryNonUnixSocket) {
  for (const char* kind : {"inet", "inet6", "netlink", "packet", "raw"}) {
    EXPECT_EQ(RunProbe({"--network", "off"}, {"socket", kind}).out, "err EPERM\n") << kind;
  }
  EXPECT_EQ(RunProbe({"--network", "off"}, {"socket", "unix"}).out, "ok\n");
}

TEST_F(PrivilegeEscapeTest, IoUringIsRefused) {
  for (const char* mode : {"off", "approve", "on"}) {
    EXPECT_EQ(RunProbe({"--network", mode}, {"io_uring"}).out, "err ENOSYS\n") << mode;
  }
}

TEST_F(PrivilegeEscapeTest, X32SyscallsKillTheProcess) {
  auto r = RunProbe({"--network", "off"}, {"x32-getpid"});
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.exit_code, 128 + SIGSYS) << r.err;
}

TEST_F(PrivilegeEscapeTest, ThirtyTwoBitEntryPointIsKilled) {
  for (const char* mode : {"off", "approve"}) {
    auto r = RunProbe({"--network", mode}, {"int80-socket"});
    if (r.exit_code == 128 + SIGSEGV) {
      GTEST_SKIP() << "this kernel has no 32-bit entry point (int $0x80 faults): nothing to bypass";
    }
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.exit_code, 128 + SIGSYS) << mode << ": " << r.out << r.err;
  }
}

TEST_F(PrivilegeEscapeTest, InheritedHostSocketDoesNotReachTheCommand) {
  // A caller that leaks a connected host socket into sandgate (no CLOEXEC) must not leak it
  // into the sandbox: with it, the command could talk to the host network in any mode.
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  RunOptions options;
  options.inherit_fds = {pair[0]};
  auto r = RunProbe({"--network", "off"}, {"write-fd", std::to_string(pair[0])}, options);
  close(pair[0]);
  close(pair[1]);
  EXPECT_EQ(r.out, "err EBADF\n") << r.err;
}

}  // namespace
}  // namespace sandgate::testing
