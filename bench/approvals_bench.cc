// Decisions per second when every attempt is a question: N threads of the command connect at
// once, each to an address of its own (so nothing coalesces into one prompt), and a controller
// written in C++ answers each network/requestApproval with "accept" as soon as it reads it.
// Each accepted attempt is a host connect and an fd installed in the command. Reported:
//   - decisions/s from the first request to the last network/decision notification,
//   - the same for the whole run including sandbox start and exit,
//   - how long each approval took from its request to its decision (matched by approvalId),
//     median and maximum: a burst must not make the first answers wait for the last requests,
//   - sandgate's peak RSS (its own debug line).
// The baseline in the same run: the same N threads connecting outside any sandbox (what the
// connects alone cost on this machine).
// Usage: bench_approvals [N=1000]
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <map>
#include <string>
#include <vector>

#include "bench/loopback_server.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

struct Child {
  pid_t pid = -1;
  int stdout_read = -1;
};

Child Spawn(const std::vector<std::string>& argv, int protocol_fd, const char* stderr_path) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    if (stderr_path != nullptr) {
      int err = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      dup2(err, 2);
    }
    if (protocol_fd >= 0) dup2(protocol_fd, 3);  // without CLOEXEC: fd:3 for sandgate
    std::vector<char*> args;
    std::vector<std::string> copy = argv;
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  return {pid, out[0]};
}

std::string ReadAll(int fd) {
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  close(fd);
  return text;
}

bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1000;
  // Accepts and closes each connection, on 0.0.0.0: every 127.0.A.B reaches it.
  sandgate::bench::LoopbackServer sink(INADDR_ANY, [](int) {});
  const std::string threads = std::to_string(n);

  // Baseline: the connects alone, outside any sandbox.
  auto bare_start = Clock::now();
  Child bare = Spawn({SANDGATE_BENCH_PROBE, "threads-spread", threads, sink.PortText()}, -1, nullptr);
  std::string bare_out = ReadAll(bare.stdout_read);
  int status = 0;
  waitpid(bare.pid, &status, 0);
  const double bare_seconds = Seconds(bare_start, Clock::now());

  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) return 1;
  const int controller = pair[0];
  fcntl(controller, F_SETFD, FD_CLOEXEC);
  char log_path[] = "/tmp/sandgate-bench-approvals-XXXXXX";
  int log_fd = mkstemp(log_path);
  close(log_fd);
  auto run_start = Clock::now();
  Child sandboxed = Spawn({SANDGATE_BENCH_SANDGATE, "run", "--approvals", "fd:3", "--log-level",
                           "debug", "--", SANDGATE_BENCH_PROBE, "threads-spread", threads,
                           sink.PortText()},
                          pair[1], log_path);
  close(pair[1]);

  // The controller: answer every request at once; count the decisions it is told about.
  int requests = 0, decisions = 0, bad = 0;
  Clock::time_point first_request{}, last_decision{};
  std::map<std::string, Clock::time_point> asked_at;  // by approvalId
  std::vector<double> latencies;                      // request to decision, seconds
  std::string buffer;
  char chunk[65536];
  for (;;) {
    ssize_t got = read(controller, chunk, sizeof chunk);
    if (got <= 0) break;
    buffer.append(chunk, static_cast<size_t>(got));
    std::string answers;
    size_t start = 0;
    for (size_t eol; (eol = buffer.find('\n', start)) != std::string::npos; start = eol + 1) {
      auto message = nlohmann::json::parse(buffer.begin() + static_cast<std::ptrdiff_t>(start),
                                           buffer.begin() + static_cast<std::ptrdiff_t>(eol),
                                           nullptr, false);
      if (message.is_discarded() || !message.contains("method")) {
        ++bad;
        continue;
      }
      const std::string method = message["method"];
      if (method == "network/requestApproval") {
        if (requests++ == 0) first_request = Clock::now();
        asked_at[message["params"].value("approvalId", "")] = Clock::now();
        nlohmann::json answer = {{"jsonrpc", "2.0"},
                                 {"id", message["id"]},
                                 {"result", {{"decision", "accept"}}}};
        answers += answer.dump();
        answers += '\n';
      } else if (method == "network/decision") {
        ++decisions;
        last_decision = Clock::now();
        auto asked = asked_at.find(message["params"].value("approvalId", ""));
        if (asked != asked_at.end()) latencies.push_back(Seconds(asked->second, last_decision));
      }
    }
    buffer.erase(0, start);
    if (!answers.empty() && !WriteAll(controller, answers)) break;
  }
  std::string out = ReadAll(sandboxed.stdout_read);
  waitpid(sandboxed.pid, &status, 0);
  const double run_seconds = Seconds(run_start, Clock::now());
  close(controller);

  std::string rss;
  if (FILE* log = std::fopen(log_path, "r")) {
    char line[512];
    while (std::fgets(line, sizeof line, log) != nullptr) {
      if (std::string(line).find("peak RSS") != std::string::npos) rss = line;
    }
    std::fclose(log);
  }
  unlink(log_path);

  const bool ok = out.rfind("ok=" + threads + " err=0", 0) == 0 && requests == n &&
                  decisions == n && bad == 0 && !rss.empty() &&
                  latencies.size() == static_cast<std::size_t>(n);
  std::sort(latencies.begin(), latencies.end());
  const double answered = requests > 0 ? Seconds(first_request, last_decision) : 0;
  std::printf("%d approvals answered by a C++ controller: command says %s", n,
              out.empty() ? "nothing\n" : out.c_str());
  std::printf("requests %d, decisions %d; first request to last decision %.3f s = %.0f "
              "decisions/s (goal >= 10000); whole run %.3f s\n",
              requests, decisions, answered, answered > 0 ? decisions / answered : 0.0,
              run_seconds);
  if (!latencies.empty()) {
    std::printf("request to decision: median %.2f ms, max %.2f ms\n",
                1e3 * latencies[latencies.size() / 2], 1e3 * latencies.back());
  }
  std::printf("baseline: the same %d connects outside a sandbox %.3f s (%s)\n", n, bare_seconds,
              bare_out.substr(0, bare_out.find('\n')).c_str());
  std::printf("%s", rss.c_str());  // goal: <= 32 MiB
  if (!ok) std::fprintf(stderr, "bench_approvals: FAILED: a measurement did not run (above)\n");
  return ok ? 0 : 1;
}
