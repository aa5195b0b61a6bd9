// PublishRelay with real loopback sockets on a real libuv loop. The "inside" of these tests is
// the host's own loopback (the relay is given plain host sockets), so they need no namespaces;
// the integration suite publishes out of real sandboxes.
#include "supervisor/net/publish_relay.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sandgate::supervisor {
namespace {

using base::UniqueFd;

approvals::Address Addr(const char* text) { return approvals::Address::Parse(text).value(); }

// A spec on a port of the kernel's choice (the relay reports it), to `sandbox_port` "inside".
approvals::PublishSpec Spec(std::uint16_t sandbox_port, const char* host = "127.0.0.1") {
  approvals::PublishSpec spec;
  spec.host_address = Addr(host);
  spec.host_port = 0;
  spec.sandbox_port = sandbox_port;
  spec.text = std::string(host) + ":0:" + std::to_string(sandbox_port);
  return spec;
}

sockaddr_storage Loopback(const char* address, std::uint16_t port, socklen_t* length) {
  sockaddr_storage sa{};
  if (std::strchr(address, ':') != nullptr) {
    auto& in6 = reinterpret_cast<sockaddr_in6&>(sa);
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(port);
    ::inet_pton(AF_INET6, address, &in6.sin6_addr);
    *length = sizeof in6;
  } else {
    auto& in = reinterpret_cast<sockaddr_in&>(sa);
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    ::inet_pton(AF_INET, address, &in.sin_addr);
    *length = sizeof in;
  }
  return sa;
}

// A blocking client socket connected to `address`:`port`; receives time out after 20 s, a safety
// net against hangs, not a measurement.
UniqueFd Connect(std::uint16_t port, const char* address = "127.0.0.1") {
  socklen_t length = 0;
  const sockaddr_storage sa = Loopback(address, port, &length);
  UniqueFd fd(::socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const timeval timeout{20, 0};
  ::setsockopt(fd.Get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd.Get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (::connect(fd.Get(), reinterpret_cast<const sockaddr*>(&sa), length) != 0) return UniqueFd();
  return fd;
}

bool SendAll(int fd, const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}
bool SendAll(int fd, const std::string& text) { return SendAll(fd, text.data(), text.size()); }

// Everything until the end of the stream; errno is left as recv set it when the stream failed.
std::string ReadToEnd(int fd, bool* clean = nullptr) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (clean != nullptr) *clean = n == 0;
    return out;
  }
}

// What a receive on `fd` ends with: 0 for an orderly end, else the errno (ECONNRESET...).
int EndOfStream(int fd) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) continue;
    return n == 0 ? 0 : errno;
  }
}

// The "sandbox's" server: listens on a loopback address and serves each connection on a thread
// of its own, so that many can be open at once.
class Server {
 public:
  using Serve = std::function<void(int connection)>;
  Server(const char* address, Serve serve) : serve_(std::move(serve)) {
    socklen_t length = 0;
    sockaddr_storage sa = Loopback(address, 0, &length);
    fd_ = UniqueFd(::socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const int one = 1;
    if (sa.ss_family == AF_INET6)
      ::setsockopt(fd_.Get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    ok_ = ::bind(fd_.Get(), reinterpret_cast<sockaddr*>(&sa), length) == 0 &&
          ::listen(fd_.Get(), 512) == 0 &&
          ::getsockname(fd_.Get(), reinterpret_cast<sockaddr*>(&sa), &length) == 0;
    port_ = ntohs(sa.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(sa).sin6_port
                                           : reinterpret_cast<sockaddr_in&>(sa).sin_port);
    acceptor_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_.Get(), POLLIN, 0};
        if (::poll(&p, 1, 20) != 1) continue;
        const int c = ::accept4(fd_.Get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        accepted_++;
        std::lock_guard lock(mutex_);
        workers_.emplace_back([this, c] {
          serve_(c);
          ::close(c);
        });
      }
    });
  }
  ~Server() {
    stop_ = true;
    acceptor_.join();
    for (auto& worker : workers_) worker.join();
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  [[nodiscard]] bool Ok() const { return ok_; }
  [[nodiscard]] std::uint16_t Port() const { return port_; }
  [[nodiscard]] int Accepted() const { return accepted_.load(); }

 private:
  Serve serve_;
  UniqueFd fd_;
  bool ok_ = false;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::mutex mutex_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;
};

// A port of 127.0.0.1 and ::1 nothing listens on now (the kernel's pick, released again).
std::uint16_t UnusedPort() {
  UniqueFd fd(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  socklen_t length = 0;
  sockaddr_storage sa = Loopback("::", 0, &length);
  ::bind(fd.Get(), reinterpret_cast<sockaddr*>(&sa), length);  // dual-stack: both families
  ::getsockname(fd.Get(), reinterpret_cast<sockaddr*>(&sa), &length);
  return ntohs(reinterpret_cast<sockaddr_in6&>(sa).sin6_port);
}

// The relay runs on a loop of its own thread, as in sandgate; the tests' clients and servers are
// plain blocking sockets on other threads. On() runs something on the loop thread and waits.
class PublishRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    ASSERT_EQ(uv_async_init(&loop_, &wake_, &PublishRelayTest::OnWake), 0);
    wake_.data = this;
  }
  void TearDown() override {
    if (thread_.joinable()) {
      On([this] {
        if (relay_) relay_->Close();
        uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
      });
      thread_.join();
    } else {
      uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
      uv_run(&loop_, UV_RUN_DEFAULT);
    }
    // Every handle the relay made is closed and freed.
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  // Binds `specs` and starts relaying, with plain host sockets for "inside".
  void StartRelay(std::vector<approvals::PublishSpec> specs, std::size_t max_relays = 0) {
    relay_ = std::make_unique<PublishRelay>(std::move(specs), max_relays);
    auto bound = relay_->Bind();
    ASSERT_TRUE(bound.Ok()) << bound.Err().Message();
    auto started = relay_->Start(&loop_, [](int domain) -> base::Result<UniqueFd> {
      UniqueFd fd(::socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!fd) return base::ErrnoError("socket");
      return fd;
    });
    ASSERT_TRUE(started.Ok()) << started.Err().Message();
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }

  void On(std::function<void()> work) {
    std::promise<void> done;
    {
      std::lock_guard lock(mutex_);
      work_.push_back([&] {
        work();
        done.set_value();
      });
    }
    uv_async_send(&wake_);
    done.get_future().wait();
  }

  std::size_t Relays() {
    std::size_t n = 0;
    On([&] { n = relay_->Relays(); });
    return n;
  }
  // Waits (at most 20 s, a safety net) until the relay holds `n` connections.
  bool RelaysBecome(std::size_t n) {
    for (int i = 0; i < 2000; ++i) {
      if (Relays() == n) return true;
      ::usleep(10000);
    }
    return false;
  }

  std::uint16_t HostPort() const { return relay_->HostPort(0); }

  // Handles on the loop that are not closing.
  int OpenHandles() {
    int n = 0;
    On([&] {
      uv_walk(
          &loop_,
          [](uv_handle_t* h, void* count) {
            if (uv_is_closing(h) == 0) ++*static_cast<int*>(count);
          },
          &n);
    });
    return n;
  }

  static void OnWake(uv_async_t* handle) {
    auto* self = static_cast<PublishRelayTest*>(handle->data);
    std::vector<std::function<void()>> work;
    {
      std::lock_guard lock(self->mutex_);
      work.swap(self->work_);
    }
    for (auto& w : work) w();
  }

  uv_loop_t loop_{};
  uv_async_t wake_{};
  std::mutex mutex_;
  std::vector<std::function<void()>> work_;
  std::unique_ptr<PublishRelay> relay_;
  std::thread thread_;
};

TEST_F(PublishRelayTest, DataFlowsBothWays) {
  Server server("127.0.0.1", [](int c) {
    char buf[4];
    if (::recv(c, buf, 4, MSG_WAITALL) == 4 && std::memcmp(buf, "ping", 4) == 0) {
      SendAll(c, "pong");
    }
    EndOfStream(c);
  });
  ASSERT_TRUE(server.Ok());
  StartRelay({Spec(server.Port())});
  UniqueFd client = Connect(HostPort());
  ASSERT_TRUE(client) << std::strerror(errno);
  ASSERT_TRUE(SendAll(client.Get(), "ping"));
  char buf[4];
  ASSERT_EQ(::recv(client.Get(), buf, 4, MSG_WAITALL), 4);
  EXPECT_EQ(std::string(buf, 4), "pong");
  ::shutdown(client.Get(), SHUT_WR);
  EXPECT_EQ(EndOfStream(client.Get()), 0);  // the server closed after our end: orderly
  EXPECT_TRUE(RelaysBecome(0));
}

TEST_F(PublishRelayTest, HalfCloseFromTheClientLetsTheAnswerFlow) {
  // The server answers only after the end of the request: the client's FIN must arrive as a
  // FIN while the way back stays open.
  Server server("127.0.0.1", [](int c) {
    const std::string request = ReadToEnd(c);
    SendAll(c, "got " + request);
  });
  ASSERT_TRUE(server.Ok());
  StartRelay({Spec(server.Port())});
  UniqueFd client = Connect(HostPort());
  ASSERT_TRUE(client);
  ASSERT_TRUE(SendAll(client.Get(), "request"));
  ASSERT_EQ(::shutdown(client.Get(), SHUT_WR), 0);
  bool clean = false;
  EXPECT_EQ(ReadToEnd(client.Get(), &clean), "got request");
  EXPECT_TRUE(clean);
}

TEST_F(PublishRelayTest, HalfCloseFromTheServerLetsTheClientGoOnSending) {
  std::promise<std::string> received;
  Server server("127.0.0.1", [&received](int c) {
    SendAll(c, "hello");
    ::shutdown(c, SHUT_WR);
    received.set_value(ReadToEnd(c));
  });
  ASSERT_TRUE(server.Ok());
  StartRelay({Spec(server.Port())});
  UniqueFd client = Connect(HostPort());
  ASSERT_TRUE(client);
  bool clean = false;
  EXPECT_EQ(ReadToEnd(client.Get(), &clean), "hello");
  EXPECT_TRUE(clean);
  ASSERT_TRUE(SendAll(client.Get(), "still here"));
  ::shutdown(client.Get(), SHUT_WR);
  EXPECT_EQ(received.get_future().get(), "still here");
}

// A deterministic byte stream (xorshift), so both ends can check 64 MiB without storing it.
class Pattern {
 public:
  void Fill(unsigned char* out, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      state_ ^= state_ << 13;
      state_ ^= state_ >> 7;
      state_ ^= state_ << 17;
      out[i] = static_cast<unsigned char>(state_);
    }
  }

 private:
  std::uint64_t state_ = 0x9e3779b97f4a7c15ULL;
};

TEST_F(PublishRelayTest, SixtyFourMebibytesArriveByteExactBothWays) {
  constexpr std::size_t kBytes = std::size_t{64} << 20;
  // The server echoes everything back, so the stream crosses the relay in both directions.
  Server server("127.0.0.1", [](int c) {
    std::vector<char> buf(1 << 16);
    for (;;) {
      const ssize_t n = ::recv(c, buf.data(), buf.size(), 0);
      if (n <= 0) break;
      if (!SendAll(c, buf.data(), static_cast<std::size_t>(n))) break;
    }
    ::shutdown(c, SHUT_WR);
  });
  ASSERT_TRUE(server.Ok());
  StartRelay({Spec(server.Port())});
  UniqueFd client = Connect(HostPort());
  ASSERT_TRUE(client);
  std::thread writer([fd = client.Get()] {
    Pattern pattern;
    std::vector<unsigned char> chunk(1 << 16);
    for (std::size_t sent = 0; sent < kBytes; sent += chunk.size()) {
      pattern.Fill(chunk.data(), chunk.size());
      if (!SendAll(fd, chunk.data(), chunk.size())) return;
    }
    ::shutdown(fd, SHUT_WR);
  });
  Pattern expected;
  std::vector<unsigned char> want(1 << 16);
  std::vector<unsigned char> got(1 << 16);
  std::size_t received = 0;
  std::size_t mismatches = 0;
  bool clean = false;
  for (;;) {
    const ssize_t n = ::recv(client.Get(), got.data(), got.size(), 0);
    if (n <= 0) {
      clean = n == 0;
      break;
    }
    expected.Fill(want.data(), static_cast<std::size_t>(n));
    if (std::memcmp(want.data(), got.data(), static_cast<std::size_t>(n)) != 0) ++mismatches;
    received += static_cast<std::size_t>(n);
  }
  writer.join();
  EXPECT_TRUE(clean);
  EXPECT_EQ(received, kBytes);
  EXPECT_EQ(mismatches, 0u);
}

TEST_F(PublishRelayTest, HundredConnectionsAreRelayedAtOnce) {
  constexpr int kConnections = 100;
  Server server("127.0.0.1", [](int c) {
    // Echo the client's line once it has said all of it.
    SendAll(c, ReadToEnd(c));
  });
  ASSERT_TRUE(server.Ok());
  StartRelay({Spec(server.Port())});
  std::vector<UniqueFd> clients;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(Connect(HostPort()));
    ASSERT_TRUE(clients.back()) << i << ": " << std::strerror(errno);
  }
  // All of them open together, each with its own relay.
  ASSERT_TRUE(RelaysBecome(kConnections));
  for (int i = 0; i < kConnections; ++i) {
    ASSERT_TRUE(SendAll(clients[i].Get(), "client " + std::to_string(i)));
    ::shutdown(clients[i].Get(), SHUT_WR);
  }
  for (int i = 0; i < kConnections; ++i) {
    EXPECT_EQ(ReadToEnd(clients[i].Get()), "client " + std::to_string(i));
  }
  EXPECT_EQ(server.Accepted(), kConnections);
  EXPECT_TRUE(RelaysBecome(0));
}

TEST_F(PublishRelayTest, NothingListeningInsideResetsTheClient) {
  StartRelay({Spec(UnusedPort())});
  UniqueFd client = Connect(HostPort());
  ASSERT_TRUE(client);                               // the host side accepted...
  EXPECT_EQ(EndOfStream(client.Get()), ECONNRESET);  // ...and then reset, not a clean end
  EXPECT_TRUE(RelaysBecome(0));
}

TEST_F(PublishRelayTest, ServerOnlyOnIpv6LoopbackIsReached) {
  Server server("::1", [](int c) { SendAll(c, "over ::1"); });
  if (!server.Ok()) GTEST_SKIP() << "no ::1 on this machine's loopback";
  StartRelay({Spec(server.Port())});
  UniqueFd client = Connect(HostPort());
  ASSERT_TRUE(client);
  EXPECT_EQ(ReadToEnd(client.Get()), "over ::1");
}

TEST_F(PublishRelayTest, IPv6HostAddressIsPublished) {
  Server server("127.0.0.1", [](int c) { SendAll(c, "hi"); });
  ASSERT_TRUE(server.Ok());
  UniqueFd probe(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  socklen_t length = 0;
  sockaddr_storage sa = Loopback("::1", 0, &length);
  if (::bind(probe.Get(), reinterpret_cast<sockaddr*>(&sa), length) != 0) {
    GTEST_SKIP() << "no ::1 on this machine's loopback";
  }
  StartRelay({Spec(server.Port(), "::1")});
  UniqueFd client = Connect(HostPort(), "::1");
  ASSERT_TRUE(client);
  EXPECT_EQ(ReadToEnd(client.Get()), "hi");
}

TEST_F(PublishRelayTest, ResetInsideResetsTheClient) {
  Server server("127.0.0.1", [](int c) {
    char buf[5];
    ::recv(c, buf, sizeof buf, MSG_WAITALL);
    const linger abort{1, 0};
    ::setsockopt(c, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  });
  ASSERT_TRUE(server.Ok());
  StartRelay({Spec(server.Port())});
  UniqueFd client = Connect(HostPort());
  ASSERT_TRUE(client);
  ASSERT_TRUE(SendAll(client.Get(), "hello"));
  EXPECT_EQ(EndOfStream(client.Get()), ECONNRESET);
  EXPECT_TRUE(RelaysBecome(0));
}

TEST_F(PublishRelayTest, ServerGoneMidStreamRaisesNoSigpipe) {
  // splice into a socket whose peer is gone raises SIGPIPE (no MSG_NOSIGNAL for splice); with
  // the default disposition that would end this process. The relay must take it back.
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  struct sigaction old {};
  ASSERT_EQ(::sigaction(SIGPIPE, &default_action, &old), 0);
  Server server("127.0.0.1", [](int c) {
    char byte;
    ::recv(c, &byte, 1, 0);
    ::shutdown(c, SHUT_RDWR);
  });
  ASSERT_TRUE(server.Ok());
  StartRelay({Spec(server.Port())});
  UniqueFd client = Connect(HostPort());
  ASSERT_TRUE(client);
  std::vector<char> chunk(1 << 16, 'x');
  int sent_error = 0;
  for (int i = 0; i < 1024 && sent_error == 0; ++i) {
    if (!SendAll(client.Get(), chunk.data(), chunk.size())) sent_error = errno;
  }
  EXPECT_TRUE(sent_error == ECONNRESET || sent_error == EPIPE) << std::strerror(sent_error);
  EXPECT_TRUE(RelaysBecome(0));
  ASSERT_EQ(::sigaction(SIGPIPE, &old, nullptr), 0);
}

TEST_F(PublishRelayTest, CloseEndsEveryRelayAndTheListener) {
  Server server("127.0.0.1", [](int c) {
    SendAll(c, "up");
    EndOfStream(c);
  });
  ASSERT_TRUE(server.Ok());
  StartRelay({Spec(server.Port())});
  const std::uint16_t port = HostPort();
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(Connect(port));
    char buf[2];
    ASSERT_EQ(::recv(clients.back().Get(), buf, 2, MSG_WAITALL), 2);
  }
  On([this] { relay_->Close(); });
  for (auto& client : clients) EXPECT_EQ(EndOfStream(client.Get()), ECONNRESET);
  EXPECT_FALSE(Connect(port));
  EXPECT_EQ(errno, ECONNREFUSED);
  // Nothing of the relay's is left open on the loop, only the test's own wake-up.
  EXPECT_EQ(OpenHandles(), 1);
}

TEST_F(PublishRelayTest, ConnectionsBeyondTheCapAreReset) {
  Server server("127.0.0.1", [](int c) {
    SendAll(c, "in");
    EndOfStream(c);
  });
  ASSERT_TRUE(server.Ok());
  StartRelay({Spec(server.Port())}, /*max_relays=*/2);
  UniqueFd first = Connect(HostPort());
  UniqueFd second = Connect(HostPort());
  char buf[2];
  ASSERT_EQ(::recv(first.Get(), buf, 2, MSG_WAITALL), 2);
  ASSERT_EQ(::recv(second.Get(), buf, 2, MSG_WAITALL), 2);
  UniqueFd third = Connect(HostPort());
  ASSERT_TRUE(third);
  EXPECT_EQ(EndOfStream(third.Get()), ECONNRESET);
  // Room again once one ends.
  first.Reset();
  ASSERT_TRUE(RelaysBecome(1));
  UniqueFd fourth = Connect(HostPort());
  ASSERT_EQ(::recv(fourth.Get(), buf, 2, MSG_WAITALL), 2);
  EXPECT_EQ(std::string(buf, 2), "in");
}

TEST_F(PublishRelayTest, PortInUseIsReportedAndNothingStaysBound) {
  Server busy("127.0.0.1", [](int) {});
  ASSERT_TRUE(busy.Ok());
  const std::uint16_t free_port = UnusedPort();
  auto first = approvals::ParsePublishSpec(std::to_string(free_port) + ":80");
  auto second = approvals::ParsePublishSpec("127.0.0.1:" + std::to_string(busy.Port()) + ":80");
  ASSERT_TRUE(std::holds_alternative<approvals::PublishSpec>(first));
  ASSERT_TRUE(std::holds_alternative<approvals::PublishSpec>(second));
  PublishRelay relay(
      {std::get<approvals::PublishSpec>(first), std::get<approvals::PublishSpec>(second)});
  auto bound = relay.Bind();
  ASSERT_FALSE(bound.Ok());
  const std::string port = std::to_string(busy.Port());
  EXPECT_EQ(bound.Err().Message(), "--publish 127.0.0.1:" + port +
                                       ":80: cannot listen on 127.0.0.1:" + port +
                                       ": Address already in use");
  // The first spec's port was given back.
  EXPECT_FALSE(Connect(free_port));
  EXPECT_EQ(errno, ECONNREFUSED);
}

}  // namespace
}  // namespace sandgate::supervisor
