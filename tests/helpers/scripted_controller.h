#pragma once

// A scripted controller for `sandgate run --approvals stdio`: the test holds sandgate's stdin and
// stdout on real pipes, reads its JSON-RPC messages and answers them.
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/helpers/identity.h"
#include "tests/helpers/subprocess.h"

namespace sandgate::testing {

using nlohmann::json;

// sandgate with its stdin/stdout on pipes held by the test: the controller's side.
class Controller {
 public:
  // `wrapper`: a command that runs sandgate (e.g. prlimit with its options and "--"), outermost.
  explicit Controller(std::vector<std::string> args, std::vector<std::string> wrapper = {}) {
    // A late answer may reach a sandgate that already exited: that is an EPIPE, not a crash.
    std::signal(SIGPIPE, SIG_IGN);
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    std::vector<std::string> argv = {SandgateBinary(), "run", "--approvals", "stdio"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv = AsCellIdentity(std::move(argv));
    argv.insert(argv.begin(), wrapper.begin(), wrapper.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      if (chdir(kSandgateCwd) != 0) _exit(120);
      execv(cargv[0], cargv.data());
      _exit(121);
    }
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~Controller() {
    CloseInput();
    if (from_ >= 0) close(from_);
    if (pid_ > 0) Wait();
  }

  // False when sandgate no longer reads (it exited): tests that care check it.
  bool Send(const std::string& line) {
    std::string data = line + "\n";
    return write(to_, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  }
  bool SendJson(const json& message) { return Send(message.dump()); }
  void CloseInput() {
    if (to_ >= 0) close(to_);
    to_ = -1;
  }

  // The next message whose method (or, for responses, absence of one) matches; others are kept
  // in `seen`. Empty json when sandgate ends first or after 30 s (a safety net, not a timing).
  json Next(const std::string& method) {
    for (;;) {
      auto newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        json message = json::parse(buffer_.substr(0, newline));
        buffer_.erase(0, newline + 1);
        seen.push_back(message);
        if (message.value("method", std::string()) == method) return message;
        continue;
      }
      pollfd p{from_, POLLIN, 0};
      if (poll(&p, 1, 30000) != 1) return {};
      char buf[65536];
      ssize_t n = read(from_, buf, sizeof buf);
      if (n <= 0) return {};
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }
  // The next process/output of `stream` ("stdout" or "stderr"); the other stream's are kept in
  // `seen` like any other message.
  json NextOutput(const std::string& stream) {
    for (;;) {
      json message = Next("process/output");
      if (message.is_null() || message["params"]["stream"] == stream) return message;
    }
  }
  bool Answer(const json& request, const json& decision) {
    return SendJson(json{{"jsonrpc", "2.0"}, {"id", request["id"]}, {"result", {{"decision", decision}}}});
  }
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  // sandgate's pid (or setpriv's, which execs it), e.g. to count its fds.
  [[nodiscard]] pid_t Pid() const { return pid_; }

  std::vector<json> seen;

 private:
  pid_t pid_ = -1;
  int to_ = -1;
  int from_ = -1;
  std::string buffer_;
};

}  // namespace sandgate::testing
