// Costs of network mediation, each as a ratio against a baseline measured in the same run:
//   - an allowed connect (notification, decision, host-side connect, fd installation) against
//     the same connect+close made outside any sandbox;
//   - throughput of an allowed TCP stream against the same stream outside (the data must not
//     pass through sandgate: expect ~1.0);
//   - decisions per second for 1,000 simultaneous connects (auto-deny) and sandgate's peak RSS.
// Usage: bench_mediation [connects=2000] [mib=512]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

// Accepts connections and reads everything from them until EOF (a sink for both benchmarks).
class Sink {
 public:
  Sink() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    bind(fd_, reinterpret_cast<sockaddr*>(&sa), len);
    listen(fd_, 4096);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread([this] {
      std::vector<char> buf(1 << 16);
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 50) != 1) continue;
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        while (read(c, buf.data(), buf.size()) > 0) {
        }
        close(c);
      }
    });
  }
  ~Sink() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  [[nodiscard]] std::string Port() const { return std::to_string(port_); }

 private:
  int fd_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string Capture(const std::vector<std::string>& argv) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return "";
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1);
    std::vector<char*> args;
    std::vector<std::string> copy = argv;
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(pipefd[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  waitpid(pid, nullptr, 0);
  return out;
}

std::vector<std::string> Sandboxed(std::vector<std::string> sandgate_options,
                                   std::vector<std::string> probe) {
  std::vector<std::string> argv = {SANDGATE_BENCH_SANDGATE, "run", "--network", "approve"};
  argv.insert(argv.end(), sandgate_options.begin(), sandgate_options.end());
  argv.push_back("--");
  argv.push_back(SANDGATE_BENCH_PROBE);
  argv.insert(argv.end(), probe.begin(), probe.end());
  return argv;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string connects = argc > 1 ? argv[1] : "2000";
  const std::string mib = argc > 2 ? argv[2] : "512";
  Sink sink;
  const std::string allow = "127.0.0.1:" + sink.Port();

  // Interleaved rounds so that drift in machine load hits both sides alike.
  double bare_ns = 0, allowed_ns = 0;
  for (int round = 0; round < 3; ++round) {
    bare_ns += std::atof(Capture({SANDGATE_BENCH_PROBE, "connect-bench", connects, "127.0.0.1", sink.Port()}).c_str());
    allowed_ns += std::atof(Capture(Sandboxed({"--allow", allow, "--log-level", "error"},
                                              {"connect-bench", connects, "127.0.0.1", sink.Port()}))
                                .c_str());
  }
  std::printf("connect+close median: bare %.1f us, allowed via sandgate %.1f us\n", bare_ns / 3e3,
              allowed_ns / 3e3);
  if (bare_ns > 0) std::printf("ratio allowed/bare connect = %.2f (goal <= 1.3)\n", allowed_ns / bare_ns);

  double bare_mibs = std::atof(Capture({SANDGATE_BENCH_PROBE, "stream-bench", mib, "127.0.0.1", sink.Port()}).c_str());
  double allowed_mibs = std::atof(Capture(Sandboxed({"--allow", allow, "--log-level", "error"},
                                                    {"stream-bench", mib, "127.0.0.1", sink.Port()}))
                                      .c_str());
  std::printf("stream: bare %.0f MiB/s, allowed via sandgate %.0f MiB/s\n", bare_mibs, allowed_mibs);
  if (bare_mibs > 0) std::printf("ratio allowed/bare throughput = %.2f (goal >= 0.95)\n", allowed_mibs / bare_mibs);

  // 1,000 threads connect at once; every one is held, coalesced into one prompt, declined.
  auto start = std::chrono::steady_clock::now();
  std::string out = Capture(Sandboxed({"--approvals", "auto-deny"},
                                      {"threads", "1000", "127.0.0.1", sink.Port()}));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("1000 simultaneous denied connects: %s  whole run %.2f s (%.0f decisions/s including "
              "sandbox start)\n",
              out.substr(0, out.find('\n')).c_str(), seconds, 1000 / seconds);
  // The supervisor's peak RSS for the same run, from its own debug line on stderr.
  std::string log = Capture({"/bin/sh", "-c",
                             std::string(SANDGATE_BENCH_SANDGATE) +
                                 " run --approvals auto-deny --log-level debug -- " + SANDGATE_BENCH_PROBE +
                                 " threads 1000 127.0.0.1 " + sink.Port() + " 2>&1 >/dev/null | grep 'peak RSS'"});
  std::printf("%s", log.c_str());
  return 0;
}
