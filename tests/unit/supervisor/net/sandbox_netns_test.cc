#include "supervisor/net/sandbox_netns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

namespace sandgate::supervisor {
namespace {

using base::UniqueFd;

constexpr std::uint16_t kPort = 4242;

approvals::Address Addr(const char* text) { return approvals::Address::Parse(text).value(); }

enum class Listen { kYes, kNo };
enum class V6Only { kNo, kYes };

// Each test gets a fresh network namespace (its loopback up, like bwrap's), so fixed ports
// never collide with other tests or the host. The test thread returns to its own namespace at
// once; sockets made through SandboxNetns::Socket (by its helper process, which stays there)
// live in the fresh one. The unprivileged case, where the helper must join bwrap's user
// namespace first, is covered by the integration suite's user cells.
class SandboxNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    UniqueFd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(home) << std::strerror(errno);
    if (::unshare(CLONE_NEWNET) != 0) {
      GTEST_SKIP() << "unshare(CLONE_NEWNET): " << std::strerror(errno);
    }
    const bool up = LoopbackUp();
    auto opened = SandboxNetns::Open(::gettid());
    if (::setns(home.Get(), CLONE_NEWNET) != 0) std::abort();  // never run on in the wrong one
    ASSERT_TRUE(up) << "bringing lo up: " << std::strerror(errno);
    ASSERT_TRUE(opened.Ok()) << opened.Err().Message();
    netns_.emplace(std::move(opened.Value()));
  }

  static bool LoopbackUp() {
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (!fd || ::ioctl(fd.Get(), SIOCGIFFLAGS, &ifr) != 0) return false;
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    return ::ioctl(fd.Get(), SIOCSIFFLAGS, &ifr) == 0;
  }

  // A socket in the namespace bound to `text`:`port` (listening, for TCP, unless told not to).
  UniqueFd Bind(Transport transport, const char* text, std::uint16_t port = kPort,
                V6Only v6only = V6Only::kNo, Listen listen = Listen::kYes) {
    sockaddr_storage sa{};
    socklen_t len = Sockaddr(text, port, &sa);
    const int type = transport == Transport::kTcp ? SOCK_STREAM : SOCK_DGRAM;
    auto made = netns_->Socket(sa.ss_family, type, 0);
    EXPECT_TRUE(made.Ok());
    if (!made.Ok()) return {};
    UniqueFd fd = std::move(made.Value());
    if (sa.ss_family == AF_INET6) {
      int on = v6only == V6Only::kYes ? 1 : 0;
      EXPECT_EQ(::setsockopt(fd.Get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on), 0);
    }
    EXPECT_EQ(::bind(fd.Get(), reinterpret_cast<sockaddr*>(&sa), len), 0)
        << text << ": " << std::strerror(errno);
    if (transport == Transport::kTcp && listen == Listen::kYes) {
      EXPECT_EQ(::listen(fd.Get(), 4), 0) << std::strerror(errno);
    }
    return fd;
  }

  static socklen_t Sockaddr(const char* text, std::uint16_t port, sockaddr_storage* sa) {
    auto* in = reinterpret_cast<sockaddr_in*>(sa);
    if (::inet_pton(AF_INET, text, &in->sin_addr) == 1) {
      in->sin_family = AF_INET;
      in->sin_port = htons(port);
      return sizeof(sockaddr_in);
    }
    auto* in6 = reinterpret_cast<sockaddr_in6*>(sa);
    EXPECT_EQ(::inet_pton(AF_INET6, text, &in6->sin6_addr), 1) << text;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    return sizeof(sockaddr_in6);
  }

  bool Tcp(const char* text, std::uint16_t port = kPort) {
    return netns_->HasLocalListener(Transport::kTcp, Addr(text), port);
  }
  bool Udp(const char* text, std::uint16_t port = kPort) {
    return netns_->HasLocalListener(Transport::kUdp, Addr(text), port);
  }

  std::optional<SandboxNetns> netns_;
};

TEST_F(SandboxNetnsTest, NothingThere) {
  EXPECT_FALSE(Tcp("127.0.0.1"));
  EXPECT_FALSE(Tcp("::1"));
  EXPECT_FALSE(Udp("127.0.0.1"));
  EXPECT_FALSE(Udp("::1"));
}

TEST_F(SandboxNetnsTest, TcpListenerOnLoopbackAddress) {
  auto listener = Bind(Transport::kTcp, "127.0.0.1");
  EXPECT_TRUE(Tcp("127.0.0.1"));
  EXPECT_TRUE(Tcp("0.0.0.0"));  // a connect to 0.0.0.0 goes to 127.0.0.1
  EXPECT_FALSE(Tcp("127.0.0.1", kPort + 1));
  EXPECT_FALSE(Tcp("127.0.0.2"));
  EXPECT_FALSE(Tcp("::1"));
  EXPECT_FALSE(Tcp("::"));
  EXPECT_FALSE(Udp("127.0.0.1"));
}

TEST_F(SandboxNetnsTest, TcpListenerOnAnotherLoopbackAddress) {
  auto listener = Bind(Transport::kTcp, "127.0.0.2");
  EXPECT_TRUE(Tcp("127.0.0.2"));
  EXPECT_FALSE(Tcp("127.0.0.1"));
  EXPECT_FALSE(Tcp("0.0.0.0"));
}

TEST_F(SandboxNetnsTest, TcpListenerOnIpv4Wildcard) {
  auto listener = Bind(Transport::kTcp, "0.0.0.0");
  EXPECT_TRUE(Tcp("127.0.0.1"));
  EXPECT_TRUE(Tcp("127.1.2.3"));
  EXPECT_TRUE(Tcp("0.0.0.0"));
  EXPECT_FALSE(Tcp("::1"));
}

TEST_F(SandboxNetnsTest, TcpDualStackListener) {
  auto listener = Bind(Transport::kTcp, "::");
  EXPECT_TRUE(Tcp("::1"));
  EXPECT_TRUE(Tcp("::"));
  EXPECT_TRUE(Tcp("127.0.0.1"));
  EXPECT_TRUE(Tcp("::ffff:127.0.0.1"));  // an IPv4 connect from a dual-stack socket
}

TEST_F(SandboxNetnsTest, TcpV6OnlyListenerDoesNotTakeIpv4) {
  auto listener = Bind(Transport::kTcp, "::", kPort, V6Only::kYes);
  EXPECT_TRUE(Tcp("::1"));
  EXPECT_FALSE(Tcp("127.0.0.1"));
  EXPECT_FALSE(Tcp("::ffff:127.0.0.1"));
  EXPECT_FALSE(Tcp("0.0.0.0"));
}

TEST_F(SandboxNetnsTest, TcpListenerOnIpv6Loopback) {
  auto listener = Bind(Transport::kTcp, "::1");
  EXPECT_TRUE(Tcp("::1"));
  EXPECT_FALSE(Tcp("127.0.0.1"));
}

TEST_F(SandboxNetnsTest, TcpSocketsThatAreNotListenersDoNotCount) {
  auto bound = Bind(Transport::kTcp, "127.0.0.1", kPort + 1, V6Only::kNo, Listen::kNo);
  EXPECT_FALSE(Tcp("127.0.0.1", kPort + 1));

  // An established connection keeps the port after its listener is gone.
  auto listener = Bind(Transport::kTcp, "127.0.0.1");
  auto client = netns_->Socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_TRUE(client.Ok());
  sockaddr_storage sa{};
  socklen_t len = Sockaddr("127.0.0.1", kPort, &sa);
  ASSERT_EQ(::connect(client->Get(), reinterpret_cast<sockaddr*>(&sa), len), 0)
      << std::strerror(errno);
  UniqueFd accepted(::accept4(listener.Get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(accepted);
  EXPECT_TRUE(Tcp("127.0.0.1"));
  listener.Reset();
  EXPECT_FALSE(Tcp("127.0.0.1"));
}

TEST_F(SandboxNetnsTest, UdpBoundSockets) {
  auto v4 = Bind(Transport::kUdp, "127.0.0.1");
  EXPECT_TRUE(Udp("127.0.0.1"));
  EXPECT_TRUE(Udp("0.0.0.0"));
  EXPECT_FALSE(Udp("127.0.0.2"));
  EXPECT_FALSE(Udp("::1"));
  EXPECT_FALSE(Udp("127.0.0.1", kPort + 1));
  EXPECT_FALSE(Tcp("127.0.0.1"));

  auto wildcard = Bind(Transport::kUdp, "0.0.0.0", kPort + 1);
  EXPECT_TRUE(Udp("127.0.0.3", kPort + 1));
  EXPECT_FALSE(Udp("::1", kPort + 1));
}

TEST_F(SandboxNetnsTest, UdpDualStackAndV6Only) {
  auto dual = Bind(Transport::kUdp, "::");
  EXPECT_TRUE(Udp("::1"));
  EXPECT_TRUE(Udp("127.0.0.1"));

  auto v6only = Bind(Transport::kUdp, "::", kPort + 1, V6Only::kYes);
  EXPECT_TRUE(Udp("::1", kPort + 1));
  EXPECT_FALSE(Udp("127.0.0.1", kPort + 1));

  auto loopback6 = Bind(Transport::kUdp, "::1", kPort + 2);
  EXPECT_TRUE(Udp("::1", kPort + 2));
  EXPECT_TRUE(Udp("::", kPort + 2));
  EXPECT_FALSE(Udp("127.0.0.1", kPort + 2));
}

// A connected datagram socket takes datagrams from its peer only. Not counted: the datagram is
// then mediated, the safe side.
TEST_F(SandboxNetnsTest, UdpConnectedSocketIsNotCounted) {
  auto socket = Bind(Transport::kUdp, "127.0.0.1");
  sockaddr_storage peer{};
  socklen_t len = Sockaddr("127.0.0.1", kPort + 7, &peer);
  ASSERT_EQ(::connect(socket.Get(), reinterpret_cast<sockaddr*>(&peer), len), 0);
  EXPECT_FALSE(Udp("127.0.0.1"));
}

// Where sandgate's DNS forwarder listens: a nameserver address made local in the sandbox.
TEST_F(SandboxNetnsTest, AddressMadeLocal) {
  auto added = netns_->AddLocalAddress(Addr("10.53.0.1"));
  ASSERT_TRUE(added.Ok()) << added.Err().Message();
  // Bound by the helper, as the DNS forwarder's are (port 53 needs its rights there).
  sockaddr_storage sa{};
  const socklen_t len = Sockaddr("10.53.0.1", 53, &sa);
  auto udp = netns_->BoundSocket(SOCK_DGRAM, sa, len);
  ASSERT_TRUE(udp.Ok()) << udp.Err().Message();
  auto tcp = netns_->BoundSocket(SOCK_STREAM, sa, len);
  ASSERT_TRUE(tcp.Ok()) << tcp.Err().Message();
  ASSERT_EQ(::listen(tcp->Get(), 4), 0) << std::strerror(errno);
  EXPECT_TRUE(Udp("10.53.0.1", 53));
  EXPECT_TRUE(Tcp("10.53.0.1", 53));
  EXPECT_FALSE(Udp("10.53.0.2", 53));
  EXPECT_FALSE(Udp("127.0.0.1", 53));
}

}  // namespace
}  // namespace sandgate::supervisor
