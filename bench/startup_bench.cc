// Start-up cost of a sandbox: `sandgate run -- /bin/true` against bubblewrap run directly with
// the very argv sandgate builds (same namespaces, same mounts, same protections) and /bin/true
// in place of sandgate's inner stage. The difference is sandgate's own cost: locating bwrap,
// inspecting protected paths, the re-exec of itself inside, the seccomp filter, the handoff.
// The legacy pipeline is measured against the same baseline: what a sandbox of the same shape
// costs to start there, without bwrap.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/ratio_reporter.h"
#include "pipelines/bwrap_argv.h"
#include "pipelines/protected_paths.h"

namespace {

namespace fs = std::filesystem;
using sandgate::pipelines::NetworkMode;

int RunQuietly(const std::vector<std::string>& argv) {
  std::vector<char*> cargv;
  std::vector<std::string> copy = argv;
  for (auto& a : copy) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A writable root with every protected name present, so that neither side creates placeholders.
struct Workspace {
  Workspace() {
    std::string pattern = "/tmp/sandgate-bench-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp");
    root = fs::canonical(pattern);
    for (const char* name : sandgate::pipelines::kProtectedNames) fs::create_directory(root / name);
  }
  ~Workspace() { fs::remove_all(root); }
  fs::path root;
};

const Workspace& TheWorkspace() {
  static Workspace workspace;
  return workspace;
}

std::string FindBwrap() {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"}) {
    fs::path candidate = fs::path(dir) / "bwrap";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  throw std::runtime_error("bwrap not found");
}

void BM_BwrapDirect(benchmark::State& state) {
  sandgate::pipelines::SandboxSpec spec;
  spec.cwd = TheWorkspace().root;
  spec.writable_roots = {TheWorkspace().root};
  spec.network = NetworkMode::kOff;
  spec.command = {"/bin/true"};
  auto protections = sandgate::pipelines::FindProtections(spec.writable_roots, spec.cwd);
  auto argv = sandgate::pipelines::BuildBwrapArgv(spec, protections.Value(), {"/unused", 3, 4});
  // Replace the inner stage (everything after the first "--") by the command itself.
  auto sep = std::find(argv.begin(), argv.end(), "--");
  argv.erase(sep + 1, argv.end());
  argv.insert(argv.begin(), FindBwrap());
  argv.push_back("/bin/true");
  for (auto _ : state) {
    if (RunQuietly(argv) != 0) state.SkipWithError("bwrap failed");
  }
}

void BM_SandgateRun(benchmark::State& state) {
  std::vector<std::string> argv = {SANDGATE_BENCH_SANDGATE, "run", "--network", "off",
                                   "--log-level", "error", "-C", TheWorkspace().root.string(),
                                   "-w", TheWorkspace().root.string(), "--", "/bin/true"};
  for (auto _ : state) {
    if (RunQuietly(argv) != 0) state.SkipWithError("sandgate failed");
  }
}

// Mode approve (auto-deny): the listener handoff, the namespace helper and the DNS forwarder on
// top of the same start.
void BM_SandgateRunApprove(benchmark::State& state) {
  std::vector<std::string> argv = {SANDGATE_BENCH_SANDGATE, "run", "--approvals", "auto-deny",
                                   "--log-level", "error", "-C", TheWorkspace().root.string(),
                                   "-w", TheWorkspace().root.string(), "--", "/bin/true"};
  for (auto _ : state) {
    if (RunQuietly(argv) != 0) state.SkipWithError("sandgate --approvals auto-deny failed");
  }
}

// The legacy pipeline on the same workspace: sandgate's own inner stage makes the namespaces,
// mounts the protections and applies Landlock, without bwrap.
void BM_SandgateRunLegacy(benchmark::State& state) {
  std::vector<std::string> argv = {SANDGATE_BENCH_SANDGATE, "run", "--pipeline", "legacy",
                                   "--network", "off", "--log-level", "error",
                                   "-C", TheWorkspace().root.string(),
                                   "-w", TheWorkspace().root.string(), "--", "/bin/true"};
  for (auto _ : state) {
    if (RunQuietly(argv) != 0) state.SkipWithError("sandgate --pipeline legacy failed");
  }
}

BENCHMARK(BM_BwrapDirect)->Unit(benchmark::kMillisecond)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_SandgateRun)->Unit(benchmark::kMillisecond)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_SandgateRunApprove)->Unit(benchmark::kMillisecond)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_SandgateRunLegacy)->Unit(benchmark::kMillisecond)->Repetitions(5)->ReportAggregatesOnly(true);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  sandgate::bench::RatioReporter reporter({{"BM_SandgateRun", "BM_BwrapDirect", 1.2},
                                           {"BM_SandgateRunApprove", "BM_BwrapDirect", 1.3},
                                           {"BM_SandgateRunLegacy", "BM_BwrapDirect", 1.2}});
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
