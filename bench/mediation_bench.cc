// Costs of network mediation, each as a ratio against a baseline measured in the same run:
//   - an allowed connect (notification, decision, host-side connect, fd installation) against
//     the same connect+close made outside any sandbox, and sandgate's added cost against the
//     added cost of the minimal mechanism (minimal_allow_path: the same seccomp notification,
//     host connect and fd installation with no policy and no loop), the floor of the naive
//     design; both with and without synchronous wake-ups (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
//   - the same connects after 2 ms of work each, where the supervisor has gone idle between
//     them (for information: where the wake-ups land then costs most, see README);
//   - throughput of an allowed TCP stream against the same stream outside (the data must not
//     pass through sandgate: expect ~1.0);
//   - decisions per second for 1,000 simultaneous connects (auto-deny) and sandgate's peak RSS.
// Usage: bench_mediation [connects=2000] [mib=512]
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/loopback_server.h"

namespace {

// The host side of both benchmarks: reads everything from each connection until EOF.
sandgate::bench::LoopbackServer Sink() {
  return sandgate::bench::LoopbackServer(
      INADDR_LOOPBACK, [buf = std::vector<char>(1 << 16)](int c) mutable {
        while (read(c, buf.data(), buf.size()) > 0) {
        }
      });
}

struct Output {
  std::string text;
  int status = -1;  // as from waitpid
  [[nodiscard]] bool Ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

Output Run(const std::vector<std::string>& argv) {
  Output result;
  int pipefd[2];
  if (pipe(pipefd) != 0) return result;
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
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0)
    result.text.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  waitpid(pid, &result.status, 0);
  return result;
}

std::string Capture(const std::vector<std::string>& argv) { return Run(argv).text; }

// A measurement that did not run (non-zero exit, no number) fails the benchmark: a missing
// side would otherwise turn into a ratio against zero.
bool g_failed = false;

double Measure(const char* what, const std::vector<std::string>& argv) {
  Output out = Run(argv);
  char* end = nullptr;
  double value = std::strtod(out.text.c_str(), &end);
  if (!out.Ok() || end == out.text.c_str() || !(value > 0)) {
    std::fprintf(stderr, "%s did not run (exit status %d): %s\n", what,
                 WIFEXITED(out.status) ? WEXITSTATUS(out.status) : -1, out.text.c_str());
    g_failed = true;
    return 0;
  }
  return value;
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

// microsocks (Debian's SOCKS5 proxy) on a free loopback port, for the routed stream; killed with
// the benchmark; ready once it accepts.
class SocksProxy {
 public:
  SocksProxy() {
    const std::uint16_t port = sandgate::bench::FreeLoopbackPort();
    port_ = std::to_string(port);
    pid_ = fork();
    if (pid_ == 0) {
      int null = open("/dev/null", O_WRONLY);  // it logs every client; the report is ours
      dup2(null, 1);
      dup2(null, 2);
      execlp("microsocks", "microsocks", "-i", "127.0.0.1", "-p", port_.c_str(), nullptr);
      _exit(127);
    }
    ready_ = sandgate::bench::WaitUntilAccepting(port, 200);
  }
  ~SocksProxy() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  [[nodiscard]] bool Ready() const { return ready_; }
  [[nodiscard]] std::string Url() const { return "socks5://127.0.0.1:" + port_; }

 private:
  std::string port_;
  pid_t pid_ = -1;
  bool ready_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  const std::string connects = argc > 1 ? argv[1] : "2000";
  const std::string mib = argc > 2 ? argv[2] : "512";
  const auto sink = Sink();
  const std::string allow = "127.0.0.1:" + sink.PortText();

  // Interleaved rounds, in a rotating order, so that drift in machine load hits all sides alike.
  // Each side reports the median of `connects` connect+close cycles; the rounds are averaged.
  // Synchronous wake-ups (Linux 6.6) are one side each way for both mechanisms: the goal is
  // sandgate as it runs against the minimal mechanism without them, the floor of the naive design.
  constexpr int kRounds = 3;
  const std::vector<std::string> bench = {"connect-bench", connects, "127.0.0.1", sink.PortText()};
  auto with = [&](std::vector<std::string> program) {
    program.insert(program.end(), bench.begin(), bench.end());
    return program;
  };
  struct Side {
    const char* name;
    std::vector<std::string> argv;
    double total_ns = 0;
    std::string rounds;
  };
  const std::vector<std::string> sandgate_options = {"--allow", allow, "--log-level", "error"};
  std::vector<std::string> sandgate_plain = Sandboxed(sandgate_options, bench);
  sandgate_plain.insert(sandgate_plain.begin(),
                        {"/usr/bin/env", "SANDGATE_SECCOMP_SYNC_WAKE_UP=off"});
  // sandgate-crosscpu: without keeping each round trip on one CPU (NotifyWakeUps::same_cpu).
  auto cross_cpu = [&](const std::vector<std::string>& probe_args) {
    std::vector<std::string> program = Sandboxed(sandgate_options, probe_args);
    program.insert(program.begin(), {"/usr/bin/env", "SANDGATE_SAME_CPU_ROUND_TRIP=off"});
    return program;
  };
  std::vector<Side> sides = {
      {"bare", with({SANDGATE_BENCH_PROBE}), 0, ""},
      {"minimal", with({SANDGATE_BENCH_MINIMAL}), 0, ""},
      {"minimal+sync", with({SANDGATE_BENCH_MINIMAL, "--sync-wakeup"}), 0, ""},
      {"sandgate", Sandboxed(sandgate_options, bench), 0, ""},
      {"sandgate-nosync", sandgate_plain, 0, ""},
      {"sandgate-crosscpu", cross_cpu(bench), 0, ""},
  };
  auto measure_rounds = [&](std::vector<Side>& set, const char* label) {
    for (int round = 0; round < kRounds; ++round) {
      for (std::size_t k = 0; k < set.size(); ++k) {
        Side& side = set[(round + k) % set.size()];
        const double ns = Measure(side.name, side.argv);
        side.total_ns += ns / kRounds;
        side.rounds += (side.rounds.empty() ? "" : "/") + std::to_string(static_cast<int>(ns / 1e3));
      }
    }
    std::printf("%s median, us (rounds):", label);
    for (const Side& side : set) {
      std::printf(" %s %.1f (%s)", side.name, side.total_ns / 1e3, side.rounds.c_str());
    }
    std::printf("\n");
  };
  measure_rounds(sides, "connect+close");
  const double bare_ns = sides[0].total_ns;
  auto added = [&](const Side& side) { return side.total_ns - bare_ns; };
  auto ratio = [&](const char* what, const Side& ours, const Side& floor, const char* goal) {
    if (bare_ns <= 0 || ours.total_ns <= 0 || added(floor) <= 0) {
      std::printf("ratio added cost %s = n/a (a side did not run or added nothing)\n", what);
      return;
    }
    std::printf("ratio added cost %s = %.2f%s: added %.1f us vs %.1f us\n", what,
                added(ours) / added(floor), goal, added(ours) / 1e3, added(floor) / 1e3);
  };
  // The minimal mechanism answers with ADDFD(SETFD) and then NOTIF_SEND(0): ADDFD_FLAG_SEND would
  // make connect return the fd number (see minimal_allow_path.cc).
  ratio("sandgate/minimal", sides[3], sides[1], " (goal <= 1.0)");
  ratio("sandgate/minimal+sync", sides[3], sides[2], " (both with synchronous wake-ups)");
  ratio("sandgate-nosync/minimal", sides[4], sides[1], " (both without)");
  ratio("sandgate-crosscpu/minimal", sides[5], sides[1], " (sandgate without the same-CPU round trip)");
  if (bare_ns > 0) {
    std::printf(
        "ratio allowed/bare connect = %.2f (for information: below the floor of this "
        "design, see ARCHITECTURE.md)\n",
        sides[3].total_ns / bare_ns);
  }

  // The same connects with 2 ms of work before each, as in a real program: now the supervisor
  // has gone idle between them, and which CPU each wake-up lands on decides the cost (README).
  const std::string cold_connects = std::to_string(std::max(std::atoi(connects.c_str()) / 4, 20));
  const std::vector<std::string> cold = {"connect-bench", cold_connects, "127.0.0.1",
                                         sink.PortText(), "2000"};
  auto with_cold = [&](std::vector<std::string> program) {
    program.insert(program.end(), cold.begin(), cold.end());
    return program;
  };
  std::vector<Side> cold_sides = {
      {"bare", with_cold({SANDGATE_BENCH_PROBE}), 0, ""},
      {"minimal+sync", with_cold({SANDGATE_BENCH_MINIMAL, "--sync-wakeup"}), 0, ""},
      {"sandgate", Sandboxed(sandgate_options, cold), 0, ""},
      {"sandgate-crosscpu", cross_cpu(cold), 0, ""},
  };
  measure_rounds(cold_sides, "connect+close after 2 ms of work");
  const double cold_bare_ns = cold_sides[0].total_ns;
  auto cold_added = [&](const Side& side) { return side.total_ns - cold_bare_ns; };
  auto cold_ratio = [&](const char* what, const Side& ours) {
    if (cold_bare_ns <= 0 || cold_added(cold_sides[1]) <= 0 || ours.total_ns <= 0) return;
    std::printf(
        "ratio added cost after work %s/minimal+sync = %.2f (for information): added %.1f us "
        "vs %.1f us\n",
        what, cold_added(ours) / cold_added(cold_sides[1]), cold_added(ours) / 1e3,
        cold_added(cold_sides[1]) / 1e3);
  };
  cold_ratio("sandgate", cold_sides[2]);
  cold_ratio("sandgate-crosscpu", cold_sides[3]);

  // The stream: C++ sender (sandbox_probe) and receiver (Sink) on both sides, alternated over
  // five rounds; each side's median, since one slow round on a 2-CPU machine is noise.
  const std::vector<std::string> stream = {"stream-bench", mib, "127.0.0.1", sink.PortText()};
  std::vector<double> bare_runs, allowed_runs;
  for (int round = 0; round < 5; ++round) {
    std::vector<std::string> bare_stream = {SANDGATE_BENCH_PROBE};
    bare_stream.insert(bare_stream.end(), stream.begin(), stream.end());
    const bool bare_first = round % 2 == 0;
    if (bare_first) bare_runs.push_back(Measure("bare stream-bench", bare_stream));
    allowed_runs.push_back(Measure("stream-bench via sandgate", Sandboxed(sandgate_options, stream)));
    if (!bare_first) bare_runs.push_back(Measure("bare stream-bench", bare_stream));
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double bare_mibs = median(bare_runs);
  const double allowed_mibs = median(allowed_runs);
  std::printf("stream: bare %.0f MiB/s, allowed via sandgate %.0f MiB/s (medians of 5)\n",
              bare_mibs, allowed_mibs);
  if (bare_mibs > 0)
    std::printf("ratio allowed/bare throughput = %.2f (goal >= 0.95)\n", allowed_mibs / bare_mibs);

  // The same stream routed through a SOCKS5 proxy: now every byte is copied by the proxy.
  SocksProxy proxy;
  if (!proxy.Ready()) {
    std::fprintf(stderr, "microsocks did not start (is Debian's microsocks installed?)\n");
    g_failed = true;
  } else {
    double routed_mibs =
        Measure("stream-bench routed via sandgate",
                Sandboxed({"--route", allow, "--proxy", proxy.Url(), "--log-level", "error"},
                          {"stream-bench", mib, "127.0.0.1", sink.PortText()}));
    std::printf("stream routed through microsocks: %.0f MiB/s\n", routed_mibs);
    if (bare_mibs > 0 && allowed_mibs > 0) {
      std::printf("ratio routed/allowed throughput = %.2f, routed/bare = %.2f\n",
                  routed_mibs / allowed_mibs, routed_mibs / bare_mibs);
    }
  }

  // 1,000 threads connect at once; every one is held, coalesced into one prompt, declined.
  auto start = std::chrono::steady_clock::now();
  std::string out = Capture(
      Sandboxed({"--approvals", "auto-deny"}, {"threads", "1000", "127.0.0.1", sink.PortText()}));
  if (out.rfind("ok=", 0) != 0) {
    std::fprintf(stderr, "1000 simultaneous connects did not run: %s\n", out.c_str());
    g_failed = true;
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "1000 simultaneous denied connects: %s  whole run %.2f s (%.0f decisions/s including "
      "sandbox start)\n",
      out.substr(0, out.find('\n')).c_str(), seconds, 1000 / seconds);
  // The supervisor's peak RSS for the same run, from its own debug line on stderr.
  std::string log = Capture({"/bin/sh", "-c",
                             std::string(SANDGATE_BENCH_SANDGATE) +
                                 " run --approvals auto-deny --log-level debug -- " +
                                 SANDGATE_BENCH_PROBE + " threads 1000 127.0.0.1 " + sink.PortText() +
                                 " 2>&1 >/dev/null | grep 'peak RSS'"});
  std::printf("%s", log.c_str());
  if (log.empty()) {
    std::fprintf(stderr, "no peak RSS line from the supervisor\n");
    g_failed = true;
  }
  // A benchmark reports; it fails only when a measurement did not run, never on a slow machine.
  if (g_failed)
    std::fprintf(stderr, "bench_mediation: FAILED: a measurement did not run (above)\n");
  return g_failed ? 1 : 0;
}
