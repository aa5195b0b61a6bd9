// Attacks on network mediation (mode approve, nobody approves): each one tries to reach a host
// listener that policy forbids. The listener counts contacts; every test demands zero.
#include <gmock/gmock.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "tests/helpers/host_peers.h"
#include "tests/helpers/sandbox_fixture.h"

namespace sandgate::testing {
namespace {

using ::testing::AnyOf;
using ::testing::StartsWith;

class NetworkEscapeTest : public SandboxTest {
 protected:
  RunResult Attack(const std::vector<std::string>& probe_args,
                   std::vector<std::string> extra_options = {}) {
    std::vector<std::string> options = {"--network", "approve", "--approvals", "auto-deny"};
    options.insert(options.end(), extra_options.begin(), extra_options.end());
    return RunProbe(options, probe_args);
  }
  HostTcpListener tcp_;
  HostUdpEcho udp_;
};

TEST_F(NetworkEscapeTest, VsockIsRefused) {
  // vsock reaches the hypervisor, and no network namespace confines it: a connect must never be
  // left to the kernel. (Where the kernel has no vsock the socket itself fails.)
  auto r = Attack({"vsock-connect"});
  EXPECT_THAT(r.out, ::testing::AnyOf("err EPERM\n", "err EAFNOSUPPORT\n")) << r.err;
  EXPECT_EQ(RunProbe({"--network", "off"}, {"vsock-connect"}).out, "err EPERM\n");
}

TEST_F(NetworkEscapeTest, RawConnectSyscall) {
  EXPECT_EQ(Attack({"raw-connect", "127.0.0.1", tcp_.Port()}).out, "err EPERM\n");
  EXPECT_EQ(tcp_.Accepted(), 0);
}

TEST_F(NetworkEscapeTest, Ipv6AndV4MappedAddresses) {
  EXPECT_EQ(Attack({"connect6", "::ffff:127.0.0.1", tcp_.Port()}).out, "err EPERM\n");
  EXPECT_THAT(Attack({"connect6", "::1", tcp_.Port()}).out, AnyOf("err EPERM\n"));
  EXPECT_EQ(tcp_.Accepted(), 0);
}

TEST_F(NetworkEscapeTest, NonBlockingConnect) {
  EXPECT_EQ(Attack({"connect-nonblock", "127.0.0.1", tcp_.Port()}).out, "err EPERM\n");
  EXPECT_EQ(tcp_.Accepted(), 0);
}

TEST_F(NetworkEscapeTest, UdpInEveryForm) {
  for (const char* how : {"sendto", "sendmsg", "sendmmsg", "connect-send"}) {
    auto r = Attack({"udp", how, "127.0.0.1", udp_.Port()});
    EXPECT_THAT(r.out, StartsWith("err ")) << how;
  }
  EXPECT_EQ(udp_.Received(), 0);
}

TEST_F(NetworkEscapeTest, TcpFastOpen) {
  EXPECT_THAT(Attack({"tfo", "127.0.0.1", tcp_.Port()}).out, StartsWith("err "));
  EXPECT_EQ(tcp_.Accepted(), 0);
}

TEST_F(NetworkEscapeTest, ThreadsVforkAndDaemons) {
  EXPECT_EQ(Attack({"threads", "16", "127.0.0.1", tcp_.Port()}).out, "ok=0 err=16\n");
  EXPECT_EQ(Attack({"vfork-connect", "127.0.0.1", tcp_.Port()}).out, "err EPERM\n");
  EXPECT_EQ(Attack({"daemon-connect", "127.0.0.1", tcp_.Port()}).out, "err EPERM\n");
  EXPECT_EQ(tcp_.Accepted(), 0);
}

TEST_F(NetworkEscapeTest, SockaddrSwappedDuringTheCheckNeverReachesTheForbiddenPort) {
  // One port is allowed, the other forbidden; a thread flips the port in the sockaddr while the
  // main thread connects. sandgate connects from the address it read and checked, never from
  // what the kernel would re-read, so the forbidden listener must see nothing.
  HostTcpListener allowed;
  auto r = Attack({"swap-race", "127.0.0.1", allowed.Port(), tcp_.Port(), "400"},
                  {"--allow", "127.0.0.1:" + allowed.Port()});
  EXPECT_THAT(r.out, StartsWith("ok=")) << r.err;
  const int allowed_contacts = allowed.Accepted();
  EXPECT_EQ(tcp_.Accepted(), 0) << r.out << " allowed listener saw " << allowed_contacts;
  EXPECT_GT(allowed_contacts, 0) << r.out;
}

TEST_F(NetworkEscapeTest, UnixPathSocketOnTheHost) {
  TempDir dir;
  int server = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::string path = (dir / "host.sock").string();
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  ASSERT_EQ(bind(server, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(listen(server, 4), 0);
  EXPECT_EQ(Attack({"unix-connect", path}).out, "err EPERM\n");
  close(server);
}

TEST_F(NetworkEscapeTest, AbstractUnixSocketOnTheHost) {
  int server = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  const std::string name = "sandgate-escape-" + std::to_string(getpid());
  std::memcpy(sa.sun_path + 1, name.data(), name.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  ASSERT_EQ(bind(server, reinterpret_cast<sockaddr*>(&sa), len), 0);
  ASSERT_EQ(listen(server, 4), 0);
  // Abstract names belong to a network namespace: without a unix-abstract rule the connect is
  // made in the sandbox's own, where nothing listens under that name.
  EXPECT_EQ(Attack({"unix-abstract", name}).out, HostAbstractConnectError());
  pollfd p{server, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0) << "the host's abstract socket was reached";
  close(server);
}

TEST_F(NetworkEscapeTest, IoUringCannotConnectAroundTheFilter) {
  EXPECT_EQ(Attack({"io_uring"}).out, "err ENOSYS\n");
}

TEST_F(NetworkEscapeTest, NewNetworkNamespaceIsRefused) {
  EXPECT_EQ(Attack({"unshare-net"}).out, "err EPERM\n");
  EXPECT_EQ(Attack({"setns", "/proc/self/ns/net"}).out, "err EPERM\n");
}

TEST_F(NetworkEscapeTest, CommandCannotAnswerItsOwnNotifications) {
  // The listener fd must not survive into the command: nothing but 0-2 is open there.
  auto r = Attack({"open-fds"});
  EXPECT_EQ(r.out, "0 1 2\n") << r.err;
}

}  // namespace
}  // namespace sandgate::testing
