// Whole workloads inside sandgate with an allow rule, against the same workload bare, in the
// same run (alternated rounds, medians):
//   - a shell loop of N `curl` requests to an HTTP server on the host (every request is a new
//     process and a new mediated connect);
//   - a `git clone` over git:// (git daemon on the host's loopback) of a repository with C
//     commits (one mediated connect, then a long stream and many file writes).
// Goal: sandgate/bare <= 1.10 for each.
// Usage: bench_workload [requests=200] [commits=2000] [rounds=3]
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
#include <string>
#include <vector>

#include "bench/loopback_server.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int Run(const std::vector<std::string>& argv, const char* cwd = nullptr) {
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    if (cwd != nullptr && chdir(cwd) != 0) _exit(126);
    std::vector<char*> args;
    std::vector<std::string> copy = argv;
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Seconds the command took, or -1 if it failed.
double Timed(const std::vector<std::string>& argv, const char* cwd = nullptr) {
  auto start = Clock::now();
  const int status = Run(argv, cwd);
  if (status != 0) {
    std::fprintf(stderr, "bench_workload: exit %d from:", status);
    for (const auto& a : argv) std::fprintf(stderr, " %s", a.c_str());
    std::fprintf(stderr, "\n");
    return -1;
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The smallest HTTP/1.1 server curl is happy with: reads up to the end of the request head,
// then one short answer per connection.
void AnswerHttp(int c) {
  static const char kAnswer[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
  char request[4096];
  std::string head;
  ssize_t n;
  while (head.find("\r\n\r\n") == std::string::npos && (n = read(c, request, sizeof request)) > 0) {
    head.append(request, static_cast<size_t>(n));
  }
  ssize_t unused = write(c, kAnswer, sizeof kAnswer - 1);
  static_cast<void>(unused);
}

// A repository of `commits` commits (fast-import: seconds, not minutes), served by git daemon.
class GitServer {
 public:
  GitServer(const fs::path& base, int commits) : base_(base) {
    const fs::path repo = base / "repo.git";
    ok_ = Run({"git", "init", "-q", "--bare", repo.string()}) == 0;
    std::string stream;
    for (int i = 1; i <= commits; ++i) {
      const std::string content = "line " + std::to_string(i) + "\n";
      const std::string message = "commit " + std::to_string(i) + "\n";
      stream += "commit refs/heads/main\nmark :" + std::to_string(i) +
                "\ncommitter bench <bench@example.org> " + std::to_string(1700000000 + i) +
                " +0000\ndata " + std::to_string(message.size()) + "\n" + message;
      if (i > 1) stream += "from :" + std::to_string(i - 1) + "\n";
      // A file per commit (200 of them over the history), and one that changes every time.
      stream += "M 100644 inline file" + std::to_string(i % 200) + ".txt\ndata " +
                std::to_string(content.size()) + "\n" + content;
      stream += "M 100644 inline log.txt\ndata " + std::to_string(content.size()) + "\n" +
                content + "\n";
    }
    const fs::path import = base / "import.txt";
    if (FILE* f = std::fopen(import.c_str(), "w")) {
      std::fputs(stream.c_str(), f);
      std::fclose(f);
    }
    ok_ = ok_ && Run({"sh", "-c", "git -C '" + repo.string() + "' fast-import --quiet < '" +
                                      import.string() + "' && git -C '" + repo.string() +
                                      "' symbolic-ref HEAD refs/heads/main"}) == 0;
    port_ = sandgate::bench::FreeLoopbackPort();
    pid_ = fork();
    if (pid_ == 0) {
      int null = open("/dev/null", O_RDWR);
      dup2(null, 1);
      dup2(null, 2);
      execlp("git", "git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1",
             ("--port=" + std::to_string(port_)).c_str(), ("--base-path=" + base.string()).c_str(),
             base.c_str(), nullptr);
      _exit(127);
    }
    if (!sandgate::bench::WaitUntilAccepting(port_)) ok_ = false;
  }
  ~GitServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  [[nodiscard]] bool Ok() const { return ok_; }
  [[nodiscard]] uint16_t Port() const { return port_; }
  [[nodiscard]] std::string Url() const {
    return "git://127.0.0.1:" + std::to_string(port_) + "/repo.git";
  }

 private:
  fs::path base_;
  bool ok_ = false;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? -1 : v[v.size() / 2];
}

std::vector<std::string> Sandboxed(const std::string& allow, const fs::path& root,
                                   std::vector<std::string> command) {
  std::vector<std::string> argv = {SANDGATE_BENCH_SANDGATE, "run", "--allow", allow,
                                   "--log-level", "error", "-w", root.string(), "-C",
                                   root.string(), "--"};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

bool Report(const char* what, const std::vector<double>& bare, const std::vector<double>& inside) {
  const double b = Median(bare), s = Median(inside);
  if (b <= 0 || s <= 0) {
    std::printf("%s: did not run\n", what);
    return false;
  }
  std::string rounds;
  for (std::size_t i = 0; i < bare.size(); ++i) {
    char pair[64];
    std::snprintf(pair, sizeof pair, "%s%.2f/%.2f", i ? " " : "", bare[i], inside[i]);
    rounds += pair;
  }
  std::printf("%s: bare %.3f s, sandgate %.3f s (rounds bare/sandgate: %s)\n", what, b, s,
              rounds.c_str());
  std::printf("ratio %s sandgate/bare = %.2f (goal <= 1.10)\n", what, s / b);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const int requests = argc > 1 ? std::atoi(argv[1]) : 200;
  const int commits = argc > 2 ? std::atoi(argv[2]) : 2000;
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 3;
  char pattern[] = "/tmp/sandgate-bench-workload-XXXXXX";
  if (mkdtemp(pattern) == nullptr) return 1;
  const fs::path work = fs::canonical(pattern);
  bool ok = true;
  {
    sandgate::bench::LoopbackServer http(INADDR_LOOPBACK, AnswerHttp);
    const std::string url = "http://127.0.0.1:" + std::to_string(http.Port()) + "/";
    const std::vector<std::string> loop = {
        "/bin/sh", "-c",
        "i=0; while [ $i -lt " + std::to_string(requests) +
            " ]; do curl -sf -o /dev/null " + url + " || exit 1; i=$((i+1)); done"};
    const std::string allow = "127.0.0.1:" + std::to_string(http.Port());
    std::vector<double> bare, inside;
    for (int r = 0; r < rounds; ++r) {
      bare.push_back(Timed(loop));
      inside.push_back(Timed(Sandboxed(allow, work, loop)));
    }
    char what[64];
    std::snprintf(what, sizeof what, "%d curl requests", requests);
    ok = Report(what, bare, inside) && ok;
  }
  {
    GitServer git(work / "served", commits);
    if (!git.Ok()) {
      std::fprintf(stderr, "bench_workload: git daemon did not start (is Debian's git installed?)\n");
      ok = false;
    } else {
      const std::string allow = "127.0.0.1:" + std::to_string(git.Port());
      std::vector<double> bare, inside;
      for (int r = 0; r < rounds; ++r) {
        const fs::path bare_dest = work / ("bare" + std::to_string(r));
        const fs::path inside_dest = work / ("inside" + std::to_string(r));
        bare.push_back(Timed({"git", "clone", "-q", git.Url(), bare_dest.string()}));
        inside.push_back(
            Timed(Sandboxed(allow, work, {"git", "clone", "-q", git.Url(), inside_dest.string()})));
      }
      char what[64];
      std::snprintf(what, sizeof what, "git clone of %d commits", commits);
      ok = Report(what, bare, inside) && ok;
    }
  }
  std::error_code ec;
  fs::remove_all(work, ec);
  if (!ok) std::fprintf(stderr, "bench_workload: FAILED: a measurement did not run (above)\n");
  return ok ? 0 : 1;
}
