// The real peers the network tests route through (dnsmasq, tinyproxy, microsocks): each starts,
// is ready, answers, resolves test names through its private /etc/hosts, and leaves the machine's
// /etc/hosts alone. Clients here are plain sockets, so every byte the peers see is known.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <sstream>
#include <string>

#include "tests/helpers/host_peers.h"
#include "tests/helpers/proxy_peers.h"
#include "tests/helpers/temp_dir.h"

namespace sandgate::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class Socket {
 public:
  // A TCP connection to 127.0.0.1:port, with 5 s receive and send timeouts against hangs.
  explicit Socket(std::uint16_t port) : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    timeval timeout{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  }
  ~Socket() { close(fd_); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  bool Send(const std::string& data) {
    return connected_ &&
           send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  // Exactly n bytes, or fewer on EOF, error or timeout.
  std::string Receive(size_t n) {
    std::string data;
    char buf[512];
    while (connected_ && data.size() < n) {
      ssize_t got = recv(fd_, buf, std::min(sizeof buf, n - data.size()), 0);
      if (got <= 0) break;
      data.append(buf, static_cast<size_t>(got));
    }
    return data;
  }
  // Up to and including the blank line that ends an HTTP response head.
  std::string ReceiveHead() {
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
      std::string byte = Receive(1);
      if (byte.empty()) break;
      head += byte;
    }
    return head;
  }

 private:
  int fd_;
  bool connected_ = false;
};

std::string Base64(const std::string& in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    unsigned chunk = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) chunk |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) chunk |= static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[chunk >> 18 & 63];
    out += kAlphabet[chunk >> 12 & 63];
    out += i + 1 < in.size() ? kAlphabet[chunk >> 6 & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[chunk & 63] : '=';
  }
  return out;
}

// "CONNECT target" through the HTTP proxy; returns the response's status code (0: none).
int HttpConnect(std::uint16_t proxy, const std::string& target,
                const std::optional<BasicAuth>& auth = std::nullopt) {
  Socket s(proxy);
  std::string request = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n";
  if (auth)
    request += "Proxy-Authorization: Basic " + Base64(auth->user + ":" + auth->password) + "\r\n";
  if (!s.Send(request + "\r\n")) return 0;
  std::string head = s.ReceiveHead();
  if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12) return 0;
  return std::stoi(head.substr(9, 3));
}

// A SOCKS5 CONNECT to a domain name, step by step; -1 marks a step that was never reached.
struct Socks5Result {
  int method = -1;       // the method the server chose; 0xFF: none of ours is acceptable
  int auth_status = -1;  // RFC 1929 status, 0 = success
  int reply = -1;        // the CONNECT reply code, 0 = succeeded
};

Socks5Result Socks5Connect(std::uint16_t proxy, const std::string& host, const std::string& port,
                           const std::optional<BasicAuth>& auth = std::nullopt) {
  Socks5Result result;
  Socket s(proxy);
  // Offer exactly one method, so the test decides which one the server must accept.
  if (!s.Send({0x05, 0x01, static_cast<char>(auth ? 0x02 : 0x00)})) return result;
  std::string choice = s.Receive(2);
  if (choice.size() != 2) return result;
  result.method = static_cast<unsigned char>(choice[1]);
  if (result.method == 0xFF) return result;
  if (auth) {
    std::string request = {0x01, static_cast<char>(auth->user.size())};
    request += auth->user;
    request += static_cast<char>(auth->password.size());
    request += auth->password;
    std::string status = s.Send(request) ? s.Receive(2) : "";
    if (status.size() != 2) return result;
    result.auth_status = static_cast<unsigned char>(status[1]);
    if (result.auth_status != 0) return result;
  }
  int port_number = std::stoi(port);
  std::string request = {0x05, 0x01, 0x00, 0x03, static_cast<char>(host.size())};
  request += host;
  request += {static_cast<char>(port_number >> 8), static_cast<char>(port_number & 0xFF)};
  // The reply for an IPv4 bound address is 10 bytes; only its code matters here.
  std::string reply = s.Send(request) ? s.Receive(2) : "";
  if (reply.size() == 2) result.reply = static_cast<unsigned char>(reply[1]);
  return result;
}

// The machine's /etc/hosts as the test process sees it: its bytes and whether anything is
// mounted over it.
std::string MachineHosts() {
  std::string mounts;
  std::string line;
  std::istringstream in(ReadFile("/proc/self/mountinfo"));
  while (std::getline(in, line)) {
    if (line.find(" /etc/hosts ") != std::string::npos) mounts += line + "\n";
  }
  return ReadFile("/etc/hosts") + "\n--- mounts:\n" + mounts;
}

const HostMap kHosts = {{"allowed.test", "127.0.0.1"}, {"cdn.allowed.test", "127.0.0.1"}};

class DnsmasqPeersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why; !Dnsmasq::Installed(&why)) GTEST_SKIP() << why;
  }
};

// The proxies need a private mount namespace for their /etc/hosts.
template <typename Peer>
class ProxyPeersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why; !Peer::Installed(&why)) GTEST_SKIP() << why;
    if (geteuid() != 0) GTEST_SKIP() << "a private /etc/hosts needs root (mount namespace)";
  }
};
using TinyproxyPeersTest = ProxyPeersTest<Tinyproxy>;
using MicrosocksPeersTest = ProxyPeersTest<Microsocks>;

TEST_F(DnsmasqPeersTest, AnswersConfiguredNamesAndCountsQueries) {
  Dnsmasq dns({.records = {{"allowed.test", "127.0.0.1"},
                           {"cdn.allowed.test", "127.0.0.1"},
                           {"denied.test", "127.0.0.1"},
                           {"v6.test", "::1"}}});
  auto a = QueryDns(dns.PortNumber(), "allowed.test");
  ASSERT_TRUE(a.has_value()) << dns.Log();
  EXPECT_EQ(a->rcode, 0);
  EXPECT_THAT(a->addresses, ElementsAre("127.0.0.1"));
  auto v6 = QueryDns(dns.PortNumber(), "v6.test", DnsType::kAaaa);
  ASSERT_TRUE(v6.has_value());
  EXPECT_THAT(v6->addresses, ElementsAre("::1"));
  auto v6_as_v4 = QueryDns(dns.PortNumber(), "v6.test", DnsType::kA);
  ASSERT_TRUE(v6_as_v4.has_value());
  EXPECT_EQ(v6_as_v4->rcode, 0);  // the name exists, without an A record
  EXPECT_EQ(v6_as_v4->answers, 0);
  ASSERT_TRUE(QueryDns(dns.PortNumber(), "ALLOWED.test").has_value());

  EXPECT_EQ(dns.QueriesFor("allowed.test"), 2);  // names compare case-insensitively
  EXPECT_EQ(dns.QueriesFor("v6.test"), 2);
  EXPECT_EQ(dns.QueriesFor("denied.test"), 0);
  EXPECT_EQ(dns.QueriesFor("cdn.allowed.test"), 0);  // exact names, not suffixes
}

TEST_F(DnsmasqPeersTest, OtherNamesAreNxdomainAndNeverForwarded) {
  Dnsmasq dns({.records = {{"allowed.test", "127.0.0.1"}}});
  for (const char* name : {"unknown.test", "sub.allowed.test", "example.com"}) {
    auto reply = QueryDns(dns.PortNumber(), name);
    ASSERT_TRUE(reply.has_value()) << name;
    EXPECT_EQ(reply->rcode, 3) << name;
    EXPECT_EQ(dns.QueriesFor(name), 1);
  }
  EXPECT_THAT(dns.Log(), ::testing::Not(HasSubstr("forwarded")));
}

TEST_F(DnsmasqPeersTest, CnameAndTtl) {
  Dnsmasq dns({.records = {{"allowed.test", "127.0.0.1"}},
               .cnames = {{"alias.test", "allowed.test"}},
               .ttl = 42});
  auto reply = QueryDns(dns.PortNumber(), "alias.test");
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->rcode, 0);
  EXPECT_EQ(reply->answers, 2);  // the CNAME and the A record of its target
  EXPECT_THAT(reply->addresses, ElementsAre("127.0.0.1"));
  EXPECT_EQ(reply->min_ttl, 42u);
}

TEST_F(DnsmasqPeersTest, TwoAtOnceGetTheirOwnPorts) {
  Dnsmasq first({.records = {{"one.test", "127.0.0.1"}}});
  Dnsmasq second({.records = {{"two.test", "127.0.0.1"}}});
  EXPECT_NE(first.Port(), second.Port());
  EXPECT_EQ(QueryDns(second.PortNumber(), "one.test").value().rcode, 3);
  EXPECT_EQ(QueryDns(second.PortNumber(), "two.test").value().rcode, 0);
}

TEST_F(TinyproxyPeersTest, ConnectReachesTheListenerByItsPrivateHostName) {
  HostTcpListener listener;
  Tinyproxy proxy({.hosts = kHosts});
  EXPECT_EQ(HttpConnect(proxy.PortNumber(), "allowed.test:" + listener.Port()), 200) << proxy.Log();
  EXPECT_EQ(listener.Accepted(), 1);
  EXPECT_TRUE(proxy.SawConnect("allowed.test:" + listener.Port())) << proxy.Log();
  EXPECT_FALSE(proxy.SawConnect("denied.test:" + listener.Port()));
}

TEST_F(TinyproxyPeersTest, NameOutsideItsHostsDoesNotResolve) {
  HostTcpListener listener;
  Tinyproxy proxy({.hosts = kHosts});
  EXPECT_NE(HttpConnect(proxy.PortNumber(), "unknown.test:" + listener.Port()), 200);
  EXPECT_EQ(listener.Accepted(), 0);
  EXPECT_TRUE(proxy.SawConnect("unknown.test:" + listener.Port()));
}

TEST_F(TinyproxyPeersTest, BasicAuthRefusesMissingAndWrongCredentials) {
  HostTcpListener listener;
  Tinyproxy proxy({.hosts = kHosts, .basic_auth = BasicAuth{"user", "secret"}});
  std::string target = "allowed.test:" + listener.Port();
  EXPECT_EQ(HttpConnect(proxy.PortNumber(), target), 407);
  // Tinyproxy 1.11's quirk: wrong credentials get "401 Unauthorized" (with WWW-Authenticate).
  EXPECT_EQ(HttpConnect(proxy.PortNumber(), target, BasicAuth{"user", "wrong"}), 401);
  EXPECT_EQ(listener.Accepted(), 0);
  EXPECT_EQ(HttpConnect(proxy.PortNumber(), target, BasicAuth{"user", "secret"}), 200);
  EXPECT_EQ(listener.Accepted(), 1);
}

TEST_F(TinyproxyPeersTest, RefuseAllAnswers403AndLogsTheRequest) {
  HostTcpListener listener;
  Tinyproxy proxy({.hosts = kHosts, .refuse_all = true});
  EXPECT_EQ(HttpConnect(proxy.PortNumber(), "allowed.test:" + listener.Port()), 403);
  EXPECT_EQ(listener.Accepted(), 0);
  EXPECT_TRUE(proxy.SawConnect("allowed.test:" + listener.Port()));
}

TEST_F(TinyproxyPeersTest, MachineHostsFileIsUntouched) {
  std::string before = MachineHosts();
  {
    Tinyproxy proxy({.hosts = kHosts});
    Microsocks socks({.hosts = kHosts});
    EXPECT_EQ(MachineHosts(), before);
  }
  EXPECT_EQ(MachineHosts(), before);
}

TEST_F(MicrosocksPeersTest, TunnelReachesTheListenerByItsPrivateHostName) {
  HostTcpListener listener;
  Microsocks proxy({.hosts = kHosts});
  auto r = Socks5Connect(proxy.PortNumber(), "cdn.allowed.test", listener.Port());
  EXPECT_EQ(r.method, 0x00);
  EXPECT_EQ(r.reply, 0x00) << proxy.Log();
  EXPECT_EQ(listener.Accepted(), 1);
}

TEST_F(MicrosocksPeersTest, NameOutsideItsHostsDoesNotResolve) {
  HostTcpListener listener;
  Microsocks proxy({.hosts = kHosts});
  auto r = Socks5Connect(proxy.PortNumber(), "unknown.test", listener.Port());
  EXPECT_EQ(r.method, 0x00);
  EXPECT_NE(r.reply, 0x00);
  EXPECT_EQ(listener.Accepted(), 0);
}

TEST_F(MicrosocksPeersTest, WithCredentialsRefusesNoAuthAndWrongPassword) {
  HostTcpListener listener;
  Microsocks proxy({.hosts = kHosts, .auth = BasicAuth{"user", "secret"}});
  EXPECT_EQ(Socks5Connect(proxy.PortNumber(), "allowed.test", listener.Port()).method, 0xFF);
  auto wrong = Socks5Connect(proxy.PortNumber(), "allowed.test", listener.Port(),
                             BasicAuth{"user", "wrong"});
  EXPECT_EQ(wrong.method, 0x02);
  EXPECT_NE(wrong.auth_status, 0);
  EXPECT_EQ(listener.Accepted(), 0);
  auto right = Socks5Connect(proxy.PortNumber(), "allowed.test", listener.Port(),
                             BasicAuth{"user", "secret"});
  EXPECT_EQ(right.auth_status, 0);
  EXPECT_EQ(right.reply, 0x00);
  EXPECT_EQ(listener.Accepted(), 1);
}

}  // namespace
}  // namespace sandgate::testing
