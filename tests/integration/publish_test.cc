// --publish with real sandboxes: an HTTP server inside (python3 -m http.server on the sandbox's
// own loopback) fetched with curl from the host through the published port, in every cell.
// Without a network namespace (the cell without user namespaces) sandgate refuses instead.
#include <gmock/gmock.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <vector>

#include "tests/helpers/host_peers.h"
#include "tests/helpers/sandbox_fixture.h"

namespace sandgate::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A port of the host's 127.0.0.1 that nothing listens on now (the kernel's pick, given back).
std::string FreeHostPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof sa;
  ::bind(fd, reinterpret_cast<sockaddr*>(&sa), length);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &length);
  ::close(fd);
  return std::to_string(ntohs(sa.sin_port));
}

// Connects to 127.0.0.1:`port` on the host and reads until the stream ends: 0 for an orderly
// end, the errno otherwise (ECONNRESET for a reset, ECONNREFUSED when nothing listens).
int HostConnectAndRead(const std::string& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const timeval timeout{20, 0};  // a safety net against hangs, not a measurement
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(static_cast<std::uint16_t>(std::stoi(port)));
  int result = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    result = errno;
  } else {
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
    }
    result = n == 0 ? 0 : errno;
  }
  ::close(fd);
  return result;
}

// For host commands that move a lot through the relay: a wider safety net against hangs.
RunOptions LongRun() {
  RunOptions options;
  options.timeout = std::chrono::milliseconds(180000);
  return options;
}

class PublishTest : public SandboxTest {
 protected:
  void SetUp() override {
    SandboxTest::SetUp();
    if (IsSkipped()) return;
    WriteFile(dir_ / "ready.txt", "ready\n");
  }
  void TearDown() override { StopSandbox(); }

  // Starts `sandgate run OPTIONS --publish 127.0.0.1:HOST:INSIDE` around a shell that runs
  // `serve` in the background until the test stops it (StopSandbox).
  void StartSandbox(const std::string& serve, const std::string& inside_port,
                    std::vector<std::string> options = {}) {
    std::vector<std::string> argv = {
        SandgateBinary(),     "run",       "-C",
        dir_.Path().string(), "--publish", "127.0.0.1:" + host_port_ + ":" + inside_port};
    argv.insert(argv.end(), options.begin(), options.end());
    const std::string stop = (dir_ / "stop").string();
    argv.insert(argv.end(), {"--", "/bin/sh", "-c",
                             serve + " & server=$!; while [ ! -e " + stop +
                                 " ]; do sleep 0.05; done; kill $server; exit 0"});
    RunOptions run = LongRun();
    run.timeout *= 2;  // the sandbox outlives the host commands of the test
    sandbox_ = std::async(std::launch::async, [argv, run] { return RunCommand(argv, run); });
  }
  void StartHttpServer(std::vector<std::string> options = {}) {
    StartSandbox("/usr/bin/python3 -m http.server --bind 127.0.0.1 " + inside_port_, inside_port_,
                 std::move(options));
  }

  // Ends the sandbox's command (once) and returns how sandgate exited.
  RunResult StopSandbox() {
    if (!sandbox_.valid()) return result_;
    WriteFile(dir_ / "stop", "");
    result_ = sandbox_.get();
    return result_;
  }

  // Waits until the published server answers (at most a minute, a safety net); false, with
  // sandgate's output in `why`, if it never did or sandgate ended first.
  bool WaitUntilServed(std::string* why) {
    for (int i = 0; i < 600; ++i) {
      if (Curl("/ready.txt").out == "ready\n") return true;
      if (sandbox_.wait_for(std::chrono::milliseconds(100)) == std::future_status::ready) {
        const RunResult r = StopSandbox();
        *why = "sandgate ended (exit " + std::to_string(r.exit_code) + "): " + r.err;
        return false;
      }
    }
    *why = "the published server never answered";
    return false;
  }

  // What the first connection to the published port that is not refused ends with: the port
  // is taken only once sandgate has started (at most a minute, a safety net); -1 if sandgate
  // ended first.
  int FirstAnswer() {
    for (int i = 0; i < 600; ++i) {
      const int answer = HostConnectAndRead(host_port_);
      if (answer != ECONNREFUSED) return answer;
      if (sandbox_.wait_for(std::chrono::milliseconds(100)) == std::future_status::ready) {
        return -1;
      }
    }
    return -1;
  }

  RunResult Curl(const std::string& path) {
    return RunCommand(
        {"/bin/sh", "-c", "curl -sS --max-time 20 http://127.0.0.1:" + host_port_ + path});
  }

  TempDir dir_;
  const std::string host_port_ = FreeHostPort();
  const std::string inside_port_ = "8000";
  std::future<RunResult> sandbox_;
  RunResult result_;
};

TEST_F(PublishTest, HttpServerInsideIsFetchedFromTheHost) {
  WriteFile(dir_ / "index.txt", "served from inside the sandbox\n");
  StartHttpServer();
  std::string why;
  ASSERT_TRUE(WaitUntilServed(&why)) << why;
  EXPECT_EQ(Curl("/index.txt").out, "served from inside the sandbox\n");
  const RunResult r = StopSandbox();
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(PublishTest, FiftyConcurrentRequestsAllSucceed) {
  WriteFile(dir_ / "index.txt", "ok\n");
  StartHttpServer();
  std::string why;
  ASSERT_TRUE(WaitUntilServed(&why)) << why;
  // http.server's listen backlog is 5: the inside connects beyond it wait for the server's
  // SYN retries, and still every request must succeed.
  const RunResult r =
      RunCommand({"/bin/sh", "-c",
                  "for i in $(seq 50); do curl -sS --max-time 60 -o /dev/null -w '%{http_code}\\n' "
                  "http://127.0.0.1:" +
                      host_port_ + "/index.txt & done; wait"},
                 LongRun());
  std::istringstream lines(r.out);
  std::string line;
  int ok = 0;
  while (std::getline(lines, line)) ok += line == "200" ? 1 : 0;
  EXPECT_EQ(ok, 50) << r.out << r.err;
}

TEST_F(PublishTest, SixtyFourMebibyteFileArrivesIntact) {
  {
    // Bytes that are not all alike, so that a lost or repeated block changes the checksum.
    std::ofstream big(dir_ / "big.bin", std::ios::binary);
    std::uint64_t state = 0x9e3779b97f4a7c15ULL;
    std::vector<char> block(1 << 16);
    for (int b = 0; b < 1024; ++b) {
      for (auto& c : block) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        c = static_cast<char>(state);
      }
      big.write(block.data(), static_cast<std::streamsize>(block.size()));
    }
  }
  StartHttpServer();
  std::string why;
  ASSERT_TRUE(WaitUntilServed(&why)) << why;
  const RunResult fetched = RunCommand(
      {"/bin/sh", "-c",
       "curl -sS --max-time 120 http://127.0.0.1:" + host_port_ + "/big.bin | sha256sum"},
      LongRun());
  const RunResult local =
      RunCommand({"/bin/sh", "-c", "sha256sum < " + (dir_ / "big.bin").string()});
  ASSERT_EQ(local.out.size(), 68u) << local.err;  // 64 hex digits, "  -", newline
  EXPECT_EQ(fetched.out, local.out) << fetched.err;
}

TEST_F(PublishTest, PortWithNothingListeningInsideIsReset) {
  // The server listens on another port inside; the published one has nobody.
  StartSandbox("/usr/bin/python3 -m http.server --bind 127.0.0.1 8001", inside_port_);
  EXPECT_EQ(FirstAnswer(), ECONNRESET);
  const RunResult r = StopSandbox();
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(PublishTest, HostPortIsClosedAfterSandgateExits) {
  StartHttpServer();
  std::string why;
  ASSERT_TRUE(WaitUntilServed(&why)) << why;
  const RunResult r = StopSandbox();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(HostConnectAndRead(host_port_), ECONNREFUSED);
}

TEST_F(PublishTest, NetworkOffRelaysToo) {
  // In mode off the command may make unix sockets only, so nothing of it can listen on TCP
  // inside: the relay is up (it accepts, connects inside its namespace, and resets), and the
  // command runs normally around it.
  StartSandbox("sleep 1000", inside_port_, {"--network", "off"});
  EXPECT_EQ(FirstAnswer(), ECONNRESET);
  const RunResult r = StopSandbox();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(HostConnectAndRead(host_port_), ECONNREFUSED);
}

TEST_F(PublishTest, PortInUseOnTheHostStopsSandgateBeforeTheCommandRuns) {
  HostTcpListener busy;
  const fs::path marker = dir_ / "ran";
  const std::string spec = "127.0.0.1:" + busy.Port() + ":80";
  const RunResult r = RunCommand({SandgateBinary(), "run", "-C", dir_.Path().string(), "--publish",
                                  spec, "--", "/bin/sh", "-c", "echo ran > " + marker.string()});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(r.err, "sandgate: --publish " + spec + ": cannot listen on 127.0.0.1:" + busy.Port() +
                       ": Address already in use\n");
  EXPECT_FALSE(fs::exists(marker));
}

// The cell without user namespaces, where the command shares the host's network: nothing is
// sandbox-local to publish, and sandgate says so instead of relaying to the host's own ports.
class PublishRefusedTest : public SandboxTest {};

TEST_F(PublishRefusedTest, WithoutANetworkNamespaceSandgateRefusesBeforeTheCommandRuns) {
  if (CellHasUserNamespaces()) {
    GTEST_SKIP() << "only the cell without user namespaces has no network namespace";
  }
  const std::string port = FreeHostPort();
  // --no-proc: otherwise a line saying that there is no PID namespace comes first.
  for (const char* network : {"approve", "off"}) {
    const RunResult r =
        RunCommand({SandgateBinary(), "run", "--read-only", "--no-proc", "--network", network,
                    "--publish", port + ":80", "--", "/bin/echo", "ran"});
    EXPECT_EQ(r.exit_code, 125) << network;
    EXPECT_EQ(r.out, "") << network << ": the command never ran";
    EXPECT_THAT(r.err, HasSubstr("--publish needs the sandbox's own network namespace"));
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(HostConnectAndRead(port), ECONNREFUSED) << "nothing was bound";
  }
}

}  // namespace
}  // namespace sandgate::testing
