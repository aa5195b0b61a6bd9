#include "tests/helpers/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <optional>
#include <stdexcept>

#include "tests/helpers/identity.h"

extern char** environ;

namespace sandgate::testing {

std::string SandgateBinary() {
  // With the small inner stage beside it, as installed (child/pipeline.h).
  static const std::string path = ReachableExecutable(SANDGATE_TEST_SANDGATE, {"sandgate-inner"});
  return path;
}
std::string ProbeBinary() {
  static const std::string path = ReachableExecutable(SANDGATE_TEST_PROBE);
  return path;
}

RunResult RunProbe(const std::vector<std::string>& sandgate_options,
                   const std::vector<std::string>& probe_args, const RunOptions& options) {
  std::vector<std::string> argv = {SandgateBinary(), "run"};
  argv.insert(argv.end(), sandgate_options.begin(), sandgate_options.end());
  argv.push_back("--");
  argv.push_back(ProbeBinary());
  argv.insert(argv.end(), probe_args.begin(), probe_args.end());
  return RunCommand(argv, options);
}

bool SandboxesWork(std::string* why) {
  static const RunResult probe = RunCommand({SandgateBinary(), "run", "--network", "off", "--", "/bin/true"});
  if (probe.exit_code == 0) return true;
  *why = "sandgate cannot start a sandbox here (exit " + std::to_string(probe.exit_code) +
         "): " + probe.err;
  return false;
}

RunResult RunCommand(const std::vector<std::string>& argv, const RunOptions& options) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe2 failed");
  }
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    std::string key = entry.substr(0, entry.find('='));
    bool drop = options.env.count(key) > 0;
    for (const auto& u : options.unset_env) drop = drop || u == key;
    if (!drop) env_storage.push_back(entry);
  }
  for (const auto& [k, v] : options.env) env_storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  // sandgate runs as the cell's identity, from a directory every identity can enter.
  const bool sandgate = !argv.empty() && argv[0] == SandgateBinary();
  std::vector<std::string> args = sandgate ? AsCellIdentity(argv) : argv;
  const std::optional<std::string> cwd =
      options.cwd ? options.cwd : sandgate ? std::optional<std::string>(kSandgateCwd) : std::nullopt;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    for (int fd : options.inherit_fds) fcntl(fd, F_SETFD, 0);
    if (cwd && chdir(cwd->c_str()) != 0) _exit(120);
    execve(cargv[0], cargv.data(), envp.data());
    _exit(121);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);

  RunResult result;
  auto start = std::chrono::steady_clock::now();
  bool signalled = options.signal == 0;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    if (!signalled && result.out.find(options.signal_when_output) != std::string::npos) {
      kill(pid, options.signal);
      signalled = true;
    }
    if (elapsed >= options.timeout && !result.timed_out) {
      result.timed_out = true;
      kill(pid, SIGKILL);
    }
    int rc = poll(fds, 2, 50);
    if (rc < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[65536];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

}  // namespace sandgate::testing
