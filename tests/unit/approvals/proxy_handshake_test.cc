#include "approvals/proxy_handshake.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "approvals/proxy_url.h"

namespace sandgate::approvals {
namespace {

using ::testing::HasSubstr;
using State = ProxyHandshake::State;

std::string Str(const std::vector<std::uint8_t>& bytes) {
  return std::string(bytes.begin(), bytes.end());
}

std::span<const std::uint8_t> Span(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

ProxyUrl Proxy(std::string_view text) {
  auto parsed = ParseProxyUrl(text);
  if (const auto* error = std::get_if<std::string>(&parsed)) {
    ADD_FAILURE() << *error;
    return {};
  }
  return std::get<ProxyUrl>(parsed);
}

Address Addr(std::string_view text) {
  const auto address = Address::Parse(text);
  EXPECT_TRUE(address.has_value()) << text;
  return address.value_or(Address{});
}

TunnelTarget Named(std::string host, std::string_view address, std::uint16_t port) {
  return {std::move(host), Addr(address), port};
}

TunnelTarget Unnamed(std::string_view address, std::uint16_t port) {
  return {std::nullopt, Addr(address), port};
}

struct Outcome {
  State state;
  std::size_t consumed;  // total bytes the caller read off the socket
  std::string output;    // everything written to the proxy, the initial request included
};

// Plays the supervisor: the proxy's bytes `stream` become peekable `chunk` bytes at a time; each
// Feed sees everything peekable and not yet consumed.
Outcome Drive(ProxyHandshake& handshake, std::string_view stream, std::size_t chunk) {
  Outcome run{State::kNeedMore, 0, Str(handshake.TakeOutput())};
  std::size_t available = 0;
  while (run.state == State::kNeedMore && available < stream.size()) {
    available = std::min(stream.size(), available + chunk);
    const auto peek = Span(stream).subspan(run.consumed, available - run.consumed);
    const auto step = handshake.Feed(peek);
    EXPECT_LE(step.consumed, peek.size());
    run.consumed += step.consumed;
    run.state = step.state;
    run.output += Str(handshake.TakeOutput());
  }
  return run;
}

// Drive with every chunk size from 1 to the whole stream: the outcome must not depend on it.
Outcome DriveAllSplits(const ProxyUrl& proxy, const TunnelTarget& target, std::string_view stream) {
  ProxyHandshake whole(proxy, target);
  const Outcome expected = Drive(whole, stream, stream.size() + 1);
  for (std::size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    ProxyHandshake split(proxy, target);
    const Outcome run = Drive(split, stream, chunk);
    EXPECT_EQ(run.state, expected.state) << "chunk " << chunk;
    EXPECT_EQ(split.error(), whole.error()) << "chunk " << chunk;
    if (expected.state == State::kDone) {
      EXPECT_EQ(run.consumed, expected.consumed) << "chunk " << chunk;
      EXPECT_EQ(run.output, expected.output) << "chunk " << chunk;
    }
  }
  return expected;
}

// ---- HTTP CONNECT ----

TEST(HttpConnectTest, RequestWithHostName) {
  ProxyHandshake handshake(Proxy("http://proxy:3128"), Named("example.com", "93.184.216.34", 443));
  EXPECT_EQ(Str(handshake.TakeOutput()),
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
  EXPECT_TRUE(handshake.TakeOutput().empty());
  EXPECT_EQ(handshake.error(), 0);
  EXPECT_EQ(handshake.failure(), "");
}

TEST(HttpConnectTest, RequestWithBasicAuth) {
  ProxyHandshake handshake(Proxy("http://alice:s3cret@proxy:3128"),
                           Named("example.com", "93.184.216.34", 443));
  EXPECT_EQ(Str(handshake.TakeOutput()),
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
            "Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n\r\n");
  ProxyHandshake decoded(Proxy("http://me%40corp:p%3Aw@proxy:3128"), Unnamed("10.0.0.1", 80));
  EXPECT_THAT(Str(decoded.TakeOutput()), HasSubstr("Basic bWVAY29ycDpwOnc=\r\n"));
  ProxyHandshake no_password(Proxy("http://alice@proxy:3128"), Unnamed("10.0.0.1", 80));
  EXPECT_THAT(Str(no_password.TakeOutput()), HasSubstr("Basic YWxpY2U6\r\n"));
}

TEST(HttpConnectTest, RequestWithAddressTargets) {
  ProxyHandshake v4(Proxy("http://proxy:3128"), Unnamed("93.184.216.34", 80));
  EXPECT_EQ(Str(v4.TakeOutput()),
            "CONNECT 93.184.216.34:80 HTTP/1.1\r\nHost: 93.184.216.34:80\r\n\r\n");
  ProxyHandshake v6(Proxy("http://proxy:3128"), Unnamed("2001:db8::1", 8443));
  EXPECT_EQ(Str(v6.TakeOutput()),
            "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n");
}

TEST(HttpConnectTest, UnsafeHostNameFallsBackToTheAddress) {
  // DNS names may hold any byte; one must never inject header lines.
  for (const std::string& host :
       {std::string("evil.com\r\nX-Injected: 1"), std::string("a b"), std::string(""),
        std::string(254, 'a'), std::string("caf\xc3\xa9.example")}) {
    ProxyHandshake handshake(Proxy("http://proxy:3128"), Named(host, "10.0.0.1", 80));
    EXPECT_EQ(Str(handshake.TakeOutput()),
              "CONNECT 10.0.0.1:80 HTTP/1.1\r\nHost: 10.0.0.1:80\r\n\r\n");
  }
  ProxyHandshake longest(Proxy("http://proxy:3128"), Named(std::string(253, 'a'), "10.0.0.1", 80));
  EXPECT_THAT(Str(longest.TakeOutput()), HasSubstr("CONNECT " + std::string(253, 'a') + ":80"));
}

TEST(HttpConnectTest, Success200LeavesTheDestinationsBytes) {
  const std::string head = "HTTP/1.1 200 Connection established\r\n\r\n";
  const Outcome run = DriveAllSplits(Proxy("http://proxy:3128"), Unnamed("10.0.0.1", 22),
                                     head + "SSH-2.0-OpenSSH_9.2\r\n");
  EXPECT_EQ(run.state, State::kDone);
  EXPECT_EQ(run.consumed, head.size());
}

TEST(HttpConnectTest, SuccessWithHeadersAndVariants) {
  for (const std::string head : {
           "HTTP/1.0 200 OK\r\nProxy-Agent: tinyproxy/1.11.1\r\nVia: x\r\n\r\n",
           "HTTP/1.1 200\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n",
           "HTTP/1.1 200 OK\n\n",                           // bare LF
           "HTTP/1.1 200 OK\r\nA: b\n\r\n",                 // mixed
           "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",  // no body for CONNECT
       }) {
    const Outcome run =
        DriveAllSplits(Proxy("http://proxy:3128"), Unnamed("10.0.0.1", 443), head + "hello");
    EXPECT_EQ(run.state, State::kDone) << head;
    EXPECT_EQ(run.consumed, head.size()) << head;
  }
}

TEST(HttpConnectTest, InterimResponsesAreSkipped) {
  const std::string heads = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
  const Outcome run =
      DriveAllSplits(Proxy("http://proxy:3128"), Unnamed("10.0.0.1", 443), heads + "data");
  EXPECT_EQ(run.state, State::kDone);
  EXPECT_EQ(run.consumed, heads.size());
}

struct StatusCase {
  std::string status_line;
  int error;
  std::string failure;
};

TEST(HttpConnectTest, ErrorStatuses) {
  for (const StatusCase& c : std::vector<StatusCase>{
           {"HTTP/1.1 407 Proxy Authentication Required", EACCES,
            "HTTP proxy answered 407 Proxy Authentication Required"},
           {"HTTP/1.1 403 Forbidden", EACCES, "HTTP proxy answered 403 Forbidden"},
           {"HTTP/1.1 401 Unauthorized", EACCES, "HTTP proxy answered 401 Unauthorized"},
           {"HTTP/1.1 502 Bad Gateway", ECONNREFUSED, "HTTP proxy answered 502 Bad Gateway"},
           {"HTTP/1.1 503 Service Unavailable", ECONNREFUSED,
            "HTTP proxy answered 503 Service Unavailable"},
           {"HTTP/1.0 504 Gateway Time-out", ETIMEDOUT, "HTTP proxy answered 504 Gateway Time-out"},
           {"HTTP/1.1 500", ECONNREFUSED, "HTTP proxy answered 500"},
           {"HTTP/1.1 404 Not Found", ECONNREFUSED, "HTTP proxy answered 404 Not Found"},
           {"HTTP/1.1 405 Method Not Allowed", ECONNREFUSED,
            "HTTP proxy answered 405 Method Not Allowed"},
           {"HTTP/1.1 302 Found", ECONNREFUSED, "HTTP proxy answered 302 Found"},
           {"HTTP/1.1 101 Switching Protocols", EPROTO,
            "HTTP proxy answered 101 Switching Protocols"},
           {"HTTP/1.1 403 Bad\x01\xff", EACCES, "HTTP proxy answered 403 Bad??"},
       }) {
    const std::string response = c.status_line + "\r\nContent-Length: 0\r\n\r\n";
    ProxyHandshake handshake(Proxy("http://proxy:3128"), Unnamed("10.0.0.1", 443));
    const Outcome run = Drive(handshake, response, response.size());
    EXPECT_EQ(run.state, State::kFailed) << c.status_line;
    EXPECT_EQ(handshake.error(), c.error) << c.status_line;
    EXPECT_EQ(handshake.failure(), c.failure);
    DriveAllSplits(Proxy("http://proxy:3128"), Unnamed("10.0.0.1", 443), response);
  }
}

TEST(HttpConnectTest, Garbage) {
  for (const std::string& response : {
           std::string("SSH-2.0-OpenSSH\r\n\r\n"),
           std::string("\x05\x00", 2),  // a SOCKS5 server
           std::string("HTTP/2 200\r\n\r\n"),
           std::string("HTTP/1.1 2x0 OK\r\n\r\n"),
           std::string("HTTP/1.1 200OK\r\n\r\n"),
           std::string("HTTP/1.1  200 OK\r\n\r\n"),
           std::string("HTTP/1.1 999 What\r\n\r\n"),
           std::string("HTTP/1.1 20\r\n\r\n"),
           std::string("\r\nHTTP/1.1 200 OK\r\n\r\n"),
           std::string("http/1.1 200 OK\r\n\r\n"),
       }) {
    ProxyHandshake handshake(Proxy("http://proxy:3128"), Unnamed("10.0.0.1", 443));
    const Outcome run = Drive(handshake, response, response.size());
    EXPECT_EQ(run.state, State::kFailed) << response;
    EXPECT_EQ(handshake.error(), EPROTO) << response;
    EXPECT_THAT(handshake.failure(), HasSubstr("malformed status line"));
    EXPECT_EQ(handshake.failure().find_first_of("\r\n"), std::string::npos);
    DriveAllSplits(Proxy("http://proxy:3128"), Unnamed("10.0.0.1", 443), response);
  }
}

TEST(HttpConnectTest, NonHttpPeerFailsOnItsFirstByte) {
  ProxyHandshake handshake(Proxy("http://proxy:3128"), Unnamed("10.0.0.1", 443));
  const auto step = handshake.Feed(Span("\x05"));
  EXPECT_EQ(step.state, State::kFailed);
  EXPECT_EQ(handshake.error(), EPROTO);
}

TEST(HttpConnectTest, ResponseHeadIsCappedAt16KiB) {
  const std::string status = "HTTP/1.1 200 OK\r\n";
  const std::string end = "\r\n";
  std::string filler = "X-Filler: ";
  filler += std::string(16 * 1024 - status.size() - end.size() - filler.size() - 2, 'a');
  filler += "\r\n";
  const std::string fits = status + filler + end;
  ASSERT_EQ(fits.size(), 16u * 1024);
  {
    ProxyHandshake handshake(Proxy("http://proxy:3128"), Unnamed("10.0.0.1", 443));
    const Outcome run = Drive(handshake, fits + "data", 1);
    EXPECT_EQ(run.state, State::kDone);
    EXPECT_EQ(run.consumed, fits.size());
  }
  const std::string too_long = status + "A: b" + filler + end;
  for (const std::size_t chunk : {std::size_t{1}, std::size_t{1000}, too_long.size()}) {
    ProxyHandshake handshake(Proxy("http://proxy:3128"), Unnamed("10.0.0.1", 443));
    const Outcome run = Drive(handshake, too_long, chunk);
    EXPECT_EQ(run.state, State::kFailed);
    EXPECT_EQ(handshake.error(), EPROTO);
    EXPECT_EQ(handshake.failure(), "HTTP proxy response head is longer than 16 KiB");
  }
  // An endless head without line ends fails too, as soon as 16 KiB have arrived.
  ProxyHandshake endless(Proxy("http://proxy:3128"), Unnamed("10.0.0.1", 443));
  const Outcome run = Drive(endless, "HTTP/1.1 200 OK" + std::string(20000, 'x'), 4096);
  EXPECT_EQ(run.state, State::kFailed);
  EXPECT_EQ(endless.error(), EPROTO);
}

TEST(HttpConnectTest, IncompleteHeadNeedsMoreAndConsumesNothing) {
  ProxyHandshake handshake(Proxy("http://proxy:3128"), Unnamed("10.0.0.1", 443));
  const auto step = handshake.Feed(Span("HTTP/1.1 200 OK\r\nVia: x\r\n"));
  EXPECT_EQ(step.state, State::kNeedMore);
  EXPECT_EQ(step.consumed, 0u);
  const auto done = handshake.Feed(Span("HTTP/1.1 200 OK\r\nVia: x\r\n\r\nrest"));
  EXPECT_EQ(done.state, State::kDone);
  EXPECT_EQ(done.consumed, 27u);  // 17 + 8 + 2
  const auto after = handshake.Feed(Span("rest"));
  EXPECT_EQ(after.state, State::kDone);
  EXPECT_EQ(after.consumed, 0u);
}

// ---- SOCKS5 ----

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (const int b : bytes) {
    out += static_cast<char>(b);
  }
  return out;
}

const std::string kNoAuthChosen = Bytes({5, 0});
const std::string kIpv4Bound = Bytes({5, 0, 0, 1, 10, 0, 0, 1, 0x1f, 0x90});

TEST(Socks5Test, NoAuthWithDomainTarget) {
  ProxyHandshake handshake(Proxy("socks5://proxy:1080"),
                           Named("example.com", "93.184.216.34", 443));
  EXPECT_EQ(Str(handshake.TakeOutput()), Bytes({5, 1, 0}));
  auto step = handshake.Feed(Span(kNoAuthChosen));
  EXPECT_EQ(step.state, State::kNeedMore);
  EXPECT_EQ(step.consumed, 2u);
  EXPECT_EQ(Str(handshake.TakeOutput()),
            Bytes({5, 1, 0, 3, 11}) + "example.com" + Bytes({1, 0xbb}));
  const std::string reply = kIpv4Bound + "extra";
  step = handshake.Feed(Span(reply));
  EXPECT_EQ(step.state, State::kDone);
  EXPECT_EQ(step.consumed, kIpv4Bound.size());
  EXPECT_TRUE(handshake.TakeOutput().empty());
}

TEST(Socks5Test, AddressTargets) {
  ProxyHandshake v4(Proxy("socks5://proxy:1080"), Unnamed("93.184.216.34", 80));
  static_cast<void>(v4.TakeOutput());
  v4.Feed(Span(kNoAuthChosen));
  EXPECT_EQ(Str(v4.TakeOutput()), Bytes({5, 1, 0, 1, 93, 184, 216, 34, 0, 80}));

  ProxyHandshake v6(Proxy("socks5://proxy:1080"), Unnamed("2001:db8::1", 8443));
  static_cast<void>(v6.TakeOutput());
  v6.Feed(Span(kNoAuthChosen));
  EXPECT_EQ(Str(v6.TakeOutput()), Bytes({5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0,    0,
                                         0, 0, 0, 0, 0,    0,    0,    0,    1, 0x20, 0xfb}));

  // A name that is not safe to send falls back to the address.
  ProxyHandshake unsafe(Proxy("socks5://proxy:1080"), Named("a\nb", "10.0.0.1", 1));
  static_cast<void>(unsafe.TakeOutput());
  unsafe.Feed(Span(kNoAuthChosen));
  EXPECT_EQ(Str(unsafe.TakeOutput()), Bytes({5, 1, 0, 1, 10, 0, 0, 1, 0, 1}));
}

TEST(Socks5Test, UsernamePassword) {
  ProxyHandshake handshake(Proxy("socks5://alice:s3cret@proxy:1080"),
                           Named("example.com", "93.184.216.34", 443));
  EXPECT_EQ(Str(handshake.TakeOutput()), Bytes({5, 2, 0, 2}));
  auto step = handshake.Feed(Span(Bytes({5, 2})));
  EXPECT_EQ(step.consumed, 2u);
  EXPECT_EQ(Str(handshake.TakeOutput()), Bytes({1, 5}) + "alice" + Bytes({6}) + "s3cret");
  step = handshake.Feed(Span(Bytes({1, 0})));
  EXPECT_EQ(step.state, State::kNeedMore);
  EXPECT_EQ(step.consumed, 2u);
  EXPECT_EQ(Str(handshake.TakeOutput()),
            Bytes({5, 1, 0, 3, 11}) + "example.com" + Bytes({1, 0xbb}));
  step = handshake.Feed(Span(kIpv4Bound));
  EXPECT_EQ(step.state, State::kDone);
  EXPECT_EQ(step.consumed, kIpv4Bound.size());
}

TEST(Socks5Test, UsernameWithoutPasswordSendsAnEmptyOne) {
  ProxyHandshake handshake(Proxy("socks5://bob@proxy:1080"), Unnamed("10.0.0.1", 80));
  static_cast<void>(handshake.TakeOutput());
  handshake.Feed(Span(Bytes({5, 2})));
  EXPECT_EQ(Str(handshake.TakeOutput()), Bytes({1, 3}) + "bob" + Bytes({0}));
}

TEST(Socks5Test, ServerMayChooseNoAuthDespiteCredentials) {
  ProxyHandshake handshake(Proxy("socks5://alice:pw@proxy:1080"), Unnamed("10.0.0.1", 80));
  static_cast<void>(handshake.TakeOutput());
  handshake.Feed(Span(kNoAuthChosen));
  EXPECT_EQ(Str(handshake.TakeOutput()), Bytes({5, 1, 0, 1, 10, 0, 0, 1, 0, 80}));
}

TEST(Socks5Test, WholeExchangeInAnySplit) {
  const std::string proxy_bytes = Bytes({5, 2, 1, 0, 5, 0, 0, 3, 4}) + "abcd" + Bytes({0, 80});
  const Outcome run = DriveAllSplits(Proxy("socks5://alice:s3cret@proxy:1080"),
                                     Named("example.com", "10.0.0.1", 443), proxy_bytes + "hello");
  EXPECT_EQ(run.state, State::kDone);
  EXPECT_EQ(run.consumed, proxy_bytes.size());
  EXPECT_EQ(run.output, Bytes({5, 2, 0, 2}) + Bytes({1, 5}) + "alice" + Bytes({6}) + "s3cret" +
                            Bytes({5, 1, 0, 3, 11}) + "example.com" + Bytes({1, 0xbb}));
}

TEST(Socks5Test, BoundAddressOfEachTypeIsConsumedExactly) {
  const std::string v6_reply =
      Bytes({5, 0, 0, 4, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x04, 0x38});
  for (const std::string& reply :
       {kIpv4Bound, v6_reply, Bytes({5, 0, 0, 3, 5}) + "proxy" + Bytes({0x04, 0x38}),
        Bytes({5, 0, 0, 3, 0, 0x04, 0x38}), Bytes({5, 0, 0xaa, 1, 0, 0, 0, 0, 0, 0})}) {
    const Outcome run = DriveAllSplits(Proxy("socks5://proxy:1080"), Unnamed("10.0.0.1", 80),
                                       kNoAuthChosen + reply + Bytes({0x16, 3, 1}));
    EXPECT_EQ(run.state, State::kDone);
    EXPECT_EQ(run.consumed, kNoAuthChosen.size() + reply.size());
  }
}

TEST(Socks5Test, ReplyCodes) {
  const std::vector<std::pair<int, int>> cases = {
      {1, ECONNREFUSED}, {2, EACCES},     {3, ENETUNREACH},  {4, EHOSTUNREACH}, {5, ECONNREFUSED},
      {6, ETIMEDOUT},    {7, EOPNOTSUPP}, {8, EAFNOSUPPORT}, {9, EPROTO},       {0xff, EPROTO}};
  for (const auto& [rep, error] : cases) {
    const std::string stream = kNoAuthChosen + Bytes({5, rep, 0, 1, 0, 0, 0, 0, 0, 0});
    ProxyHandshake handshake(Proxy("socks5://proxy:1080"), Unnamed("10.0.0.1", 80));
    const Outcome run = Drive(handshake, stream, 1);
    EXPECT_EQ(run.state, State::kFailed) << rep;
    EXPECT_EQ(handshake.error(), error) << rep;
    EXPECT_THAT(handshake.failure(), HasSubstr("SOCKS5 proxy answered " + std::to_string(rep)));
  }
  ProxyHandshake refused(Proxy("socks5://proxy:1080"), Unnamed("10.0.0.1", 80));
  Drive(refused, kNoAuthChosen + Bytes({5, 5}), 4);
  EXPECT_EQ(refused.failure(), "SOCKS5 proxy answered 5 (connection refused)");
}

TEST(Socks5Test, NoAcceptableMethod) {
  ProxyHandshake handshake(Proxy("socks5://proxy:1080"), Unnamed("10.0.0.1", 80));
  static_cast<void>(handshake.TakeOutput());
  const auto step = handshake.Feed(Span(Bytes({5, 0xff})));
  EXPECT_EQ(step.state, State::kFailed);
  EXPECT_EQ(handshake.error(), EACCES);
  EXPECT_THAT(handshake.failure(), HasSubstr("requires authentication"));
  EXPECT_TRUE(handshake.TakeOutput().empty());

  ProxyHandshake with_auth(Proxy("socks5://a:b@proxy:1080"), Unnamed("10.0.0.1", 80));
  static_cast<void>(with_auth.TakeOutput());
  with_auth.Feed(Span(Bytes({5, 0xff})));
  EXPECT_EQ(with_auth.error(), EACCES);
}

TEST(Socks5Test, MethodThatWasNotOffered) {
  for (const int method : {1, 2, 3, 0x80}) {
    ProxyHandshake handshake(Proxy("socks5://proxy:1080"), Unnamed("10.0.0.1", 80));
    handshake.Feed(Span(Bytes({5, method})));
    EXPECT_EQ(handshake.state(), State::kFailed) << method;
    EXPECT_EQ(handshake.error(), EPROTO) << method;
    EXPECT_THAT(handshake.failure(), HasSubstr("not offered"));
  }
}

TEST(Socks5Test, AuthenticationFailure) {
  ProxyHandshake handshake(Proxy("socks5://alice:wrong@proxy:1080"), Unnamed("10.0.0.1", 80));
  const Outcome run = Drive(handshake, Bytes({5, 2, 1, 1}), 1);
  EXPECT_EQ(run.state, State::kFailed);
  EXPECT_EQ(handshake.error(), EACCES);
  EXPECT_EQ(handshake.failure(), "SOCKS5 proxy rejected the username/password (status 1)");
  // The CONNECT request was never sent.
  EXPECT_EQ(run.output, Bytes({5, 2, 0, 2, 1, 5}) + "alice" + Bytes({5}) + "wrong");
}

TEST(Socks5Test, WrongVersions) {
  struct Case {
    std::string url;
    std::string stream;
  };
  for (const Case& c : std::vector<Case>{
           {"socks5://proxy:1080", Bytes({4, 0})},                   // greeting reply
           {"socks5://proxy:1080", "HTTP/1.1 400 Bad Request\r\n"},  // an HTTP proxy
           {"socks5://a:b@proxy:1080", Bytes({5, 2, 5, 0})},         // RFC 1929 wants 1
           {"socks5://proxy:1080", Bytes({5, 0, 4, 0, 0, 1, 0, 0, 0, 0, 0, 0})},  // reply
           {"socks5://proxy:1080", Bytes({5, 0, 5, 0, 0, 7, 0, 0, 0, 0, 0, 0})},  // bad ATYP
       }) {
    ProxyHandshake handshake(Proxy(c.url), Unnamed("10.0.0.1", 80));
    const Outcome run = Drive(handshake, c.stream, 1);
    EXPECT_EQ(run.state, State::kFailed) << c.url;
    EXPECT_EQ(handshake.error(), EPROTO) << c.url;
  }
  ProxyHandshake http(Proxy("socks5://proxy:1080"), Unnamed("10.0.0.1", 80));
  http.Feed(Span("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_EQ(http.failure(), "SOCKS5 proxy answered the greeting with version 72 (an HTTP proxy?)");
}

TEST(Socks5Test, PartialRepliesConsumeNothing) {
  ProxyHandshake handshake(Proxy("socks5://proxy:1080"), Unnamed("10.0.0.1", 80));
  EXPECT_EQ(handshake.Feed({}).consumed, 0u);
  EXPECT_EQ(handshake.Feed(Span(Bytes({5}))).consumed, 0u);
  EXPECT_EQ(handshake.Feed(Span(kNoAuthChosen)).consumed, 2u);
  const std::string partial = Bytes({5, 0, 0, 3, 10}) + "abc";
  const auto step = handshake.Feed(Span(partial));
  EXPECT_EQ(step.state, State::kNeedMore);
  EXPECT_EQ(step.consumed, 0u);
}

}  // namespace
}  // namespace sandgate::approvals
