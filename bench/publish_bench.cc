// Throughput through --publish against the same transfer over a direct loopback connection on
// the host, in the same run (alternated rounds, medians):
//   - upload: this benchmark, as the host client, sends MIB MiB to a peer inside the sandbox,
//     which checks every byte and answers with how many arrived intact;
//   - download: the peer inside sends MIB MiB, the client checks every byte.
// The peer is publish_peer, a C++ program listening on 127.0.0.1 inside the sandbox's network
// namespace (reached through `--publish 127.0.0.1:HOSTPORT:8000`, so every byte passes
// sandgate's splice relay), and the very same program listening on a loopback port of the host
// for the direct baseline; the client is this process on both paths.
// A transfer that is not byte-exact fails the benchmark; a slow one never does (the ratio is
// printed, not asserted: on a shared 2-core machine the absolute numbers swing).
// Usage: bench_publish [mib=512] [rounds=5]
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "bench/loopback_server.h"
#include "bench/publish_stream.h"

namespace {

namespace fs = std::filesystem;
namespace publish = sandgate::bench::publish;
using Clock = std::chrono::steady_clock;

// The peer's port inside the sandbox: its own network namespace, so any fixed port is free.
constexpr const char* kInsidePort = "8000";

pid_t Spawn(const std::vector<std::string>& argv) {
  pid_t pid = fork();
  if (pid == 0) {
    // No terminal and no input: sandgate then declines approvals by itself (none are expected).
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    std::vector<std::string> copy = argv;
    std::vector<char*> args;
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

int Connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  publish::SetTimeouts(fd, 60);
  return fd;
}

// One request without a stream (ping, quit): true when the peer answered with its ack.
bool Ask(std::uint16_t port, char op) {
  const int fd = Connect(port);
  if (fd < 0) return false;
  unsigned char header[publish::kHeaderBytes];
  publish::EncodeHeader({op, 0}, header);
  char answer = 0;
  const bool ok = publish::SendAll(fd, header, sizeof header) &&
                  publish::RecvExact(fd, &answer, 1) && answer == publish::kAck;
  ::close(fd);
  return ok;
}

// Waits until the peer answers a ping on `port`. Before sandgate listens the connect is refused;
// after, the relay accepts at once but resets the connection while nothing listens inside, so
// only an answer proves the peer is there. Gives up when `peer` exits, or after a minute.
bool WaitUntilServed(std::uint16_t port, pid_t peer) {
  for (int i = 0; i < 3000; ++i) {
    if (Ask(port, publish::kPing)) return true;
    if (waitpid(peer, nullptr, WNOHANG) == peer) return false;
    ::usleep(20000);
  }
  return false;
}

enum class Direction { kUpload, kDownload };

// Seconds one transfer of `bytes` took, connect included; nothing when it failed or was not
// byte-exact (said on stderr).
std::optional<double> Transfer(std::uint16_t port, Direction direction, std::uint64_t bytes,
                               const char* path) {
  const char* what = direction == Direction::kUpload ? "upload" : "download";
  const auto start = Clock::now();
  const int fd = Connect(port);
  if (fd < 0) {
    std::fprintf(stderr, "bench_publish: %s %s: connect failed\n", path, what);
    return std::nullopt;
  }
  unsigned char header[publish::kHeaderBytes];
  publish::EncodeHeader(
      {direction == Direction::kUpload ? publish::kUpload : publish::kDownload, bytes}, header);
  std::uint64_t matched = 0;
  bool sent = publish::SendAll(fd, header, sizeof header);
  if (direction == Direction::kUpload) {
    // The peer's count arrives only after it has received and checked the last byte.
    sent = sent && publish::SendStream(fd, bytes) &&
           publish::RecvExact(fd, &matched, sizeof matched);
  } else if (sent) {
    matched = publish::ReceiveStream(fd, bytes, true);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  if (!sent || matched != bytes) {
    std::fprintf(stderr,
                 "bench_publish: %s %s: not byte-exact: %llu of %llu bytes matched the stream%s\n",
                 path, what, static_cast<unsigned long long>(matched),
                 static_cast<unsigned long long>(bytes), sent ? "" : " (connection failed)");
    return std::nullopt;
  }
  return seconds;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct Rounds {
  std::vector<double> direct_mibs, published_mibs;
};

void Report(const char* what, const Rounds& rounds) {
  const double direct = Median(rounds.direct_mibs), published = Median(rounds.published_mibs);
  std::vector<double> ratios;
  std::string text;
  for (std::size_t i = 0; i < rounds.direct_mibs.size(); ++i) {
    ratios.push_back(rounds.published_mibs[i] / rounds.direct_mibs[i]);
    char pair[64];
    std::snprintf(pair, sizeof pair, "%s%.0f/%.0f", i ? " " : "", rounds.direct_mibs[i],
                  rounds.published_mibs[i]);
    text += pair;
  }
  const auto [low, high] = std::minmax_element(ratios.begin(), ratios.end());
  std::printf("%s: direct %.0f MiB/s (%.0f-%.0f), published %.0f MiB/s (%.0f-%.0f); "
              "rounds direct/published MiB/s: %s\n",
              what, direct,
              *std::min_element(rounds.direct_mibs.begin(), rounds.direct_mibs.end()),
              *std::max_element(rounds.direct_mibs.begin(), rounds.direct_mibs.end()), published,
              *std::min_element(rounds.published_mibs.begin(), rounds.published_mibs.end()),
              *std::max_element(rounds.published_mibs.begin(), rounds.published_mibs.end()),
              text.c_str());
  // Each round's two sides ran back to back, so a round's ratio is the least disturbed by the
  // load of the machine drifting; their median is the headline, their range the spread.
  std::printf("ratio %s published/direct = %.2f (rounds %.2f-%.2f; ratio of medians %.2f)\n",
              what, Median(ratios), *low, *high, published / direct);
}

}  // namespace

int main(int argc, char** argv) {
  const long mib = argc > 1 ? std::atol(argv[1]) : 512;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
  if (mib <= 0 || rounds <= 0) {
    std::fprintf(stderr, "usage: bench_publish [mib=512] [rounds=5]\n");
    return 2;
  }
  const std::uint64_t bytes = static_cast<std::uint64_t>(mib) << 20;
  std::printf("load average at start: %s\n", LoadAverage().c_str());

  // A writable root of its own, so that the sandbox leaves nothing in the build directory.
  char pattern[] = "/tmp/sandgate-bench-publish-XXXXXX";
  if (mkdtemp(pattern) == nullptr) return 1;
  const fs::path work = fs::canonical(pattern);

  const std::uint16_t direct_port = sandgate::bench::FreeLoopbackPort();
  const pid_t direct_peer = Spawn({SANDGATE_BENCH_PUBLISH_PEER, std::to_string(direct_port)});
  const std::uint16_t host_port = sandgate::bench::FreeLoopbackPort();
  const pid_t sandbox = Spawn({SANDGATE_BENCH_SANDGATE, "run", "--log-level", "error", "-w",
                               work.string(), "-C", work.string(), "--publish",
                               "127.0.0.1:" + std::to_string(host_port) + ":" + kInsidePort, "--",
                               SANDGATE_BENCH_PUBLISH_PEER, kInsidePort});

  bool ok = true;
  if (!WaitUntilServed(direct_port, direct_peer)) {
    std::fprintf(stderr, "bench_publish: the direct peer never answered on port %u\n",
                 direct_port);
    ok = false;
  }
  if (!WaitUntilServed(host_port, sandbox)) {
    std::fprintf(stderr, "bench_publish: the peer inside never answered through --publish on %u\n",
                 host_port);
    ok = false;
  }

  Rounds upload, download;
  if (ok) {
    // One unmeasured transfer each way on each path first: the first connection pays for
    // page faults in the peers and the relay's first pipes.
    const std::uint64_t warm = std::min<std::uint64_t>(bytes, std::uint64_t{32} << 20);
    for (const std::uint16_t port : {direct_port, host_port}) {
      const char* path = port == direct_port ? "direct" : "published";
      ok = Transfer(port, Direction::kUpload, warm, path).has_value() && ok;
      ok = Transfer(port, Direction::kDownload, warm, path).has_value() && ok;
    }
  }
  for (int round = 0; ok && round < rounds; ++round) {
    for (const Direction direction : {Direction::kUpload, Direction::kDownload}) {
      Rounds& into = direction == Direction::kUpload ? upload : download;
      // Which path goes first alternates, so that neither always runs on a warmer (or a
      // busier) machine.
      const bool direct_first = round % 2 == 0;
      for (int k = 0; k < 2; ++k) {
        const bool direct = (k == 0) == direct_first;
        const auto seconds = Transfer(direct ? direct_port : host_port, direction, bytes,
                                      direct ? "direct" : "published");
        if (!seconds) {
          ok = false;
          break;
        }
        (direct ? into.direct_mibs : into.published_mibs).push_back(static_cast<double>(mib) /
                                                                    *seconds);
      }
      if (!ok) break;
    }
  }

  // The peers quit when asked; sandgate then ends with its command's status.
  const bool direct_quit = Ask(direct_port, publish::kQuit);
  const bool sandbox_quit = Ask(host_port, publish::kQuit);
  if (!direct_quit) kill(direct_peer, SIGTERM);
  if (!sandbox_quit) kill(sandbox, SIGTERM);
  int status = 0;
  waitpid(direct_peer, &status, 0);
  if (direct_quit && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) ok = false;
  waitpid(sandbox, &status, 0);
  if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    std::fprintf(stderr, "bench_publish: sandgate ended with status %d\n",
                 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    ok = false;
  }
  std::error_code ec;
  fs::remove_all(work, ec);

  if (ok) {
    char what[96];
    std::snprintf(what, sizeof what, "upload host->sandbox %ld MiB x %d", mib, rounds);
    Report(what, upload);
    std::snprintf(what, sizeof what, "download sandbox->host %ld MiB x %d", mib, rounds);
    Report(what, download);
    std::printf("every transfer byte-exact (%d rounds each way and path, plus a warm-up)\n",
                rounds);
  }
  std::printf("load average at end: %s\n", LoadAverage().c_str());
  if (!ok) std::fprintf(stderr, "bench_publish: FAILED: a transfer did not complete (above)\n");
  return ok ? 0 : 1;
}
