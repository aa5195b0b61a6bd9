#pragma once

// A scripted controller for `sandgate run --approvals stdio`: the test holds sandgate's stdin and
// stdout on real pipes, reads its JSON-RPC messages and answers them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "approvals/base64.h"
#include "tests/helpers/identity.h"
#include "tests/helpers/subprocess.h"

namespace sandgate::testing {

using nlohmann::json;

// Opt-in record of the protocol, for tests/schema to check every message against
// docs/protocol.schema.json: with SANDGATE_PROTOCOL_CAPTURE_DIR set (ctest sets it for the matrix
// cells, see cmake/sandgate.cmake), each test process appends JSON lines to DIR/<pid>.jsonl:
//   {"kind":"process",...}     once, at start: proves the capture was on even when no test of
//                              this process drove sandgate (so an empty record is not a pass)
//   {"kind":"controller",...}  one per Controller: its test, source file and arguments
//   {"kind":"message","direction":"from_sandgate"|"to_sandgate",...}  each raw line, as read
//                              or written ("text"; "text_base64" when it is not UTF-8)
// Without the variable nothing is written and the controller behaves exactly as before.
namespace protocol_capture {

inline const char* Directory() {
  const char* dir = std::getenv("SANDGATE_PROTOCOL_CAPTURE_DIR");
  return dir != nullptr && *dir != '\0' ? dir : nullptr;
}

// One record, one write(2) with O_APPEND: records from several threads or controllers of the
// process never interleave. Failures are ignored: the capture must never change a test's result
// (the validator notices missing records instead).
inline void Append(json record) {
  const char* dir = Directory();
  if (dir == nullptr) return;
  record["pid"] = getpid();
  std::string line;
  try {
    line = record.dump();
  } catch (const json::type_error&) {
    return;  // invalid UTF-8 outside "text": the callers put such bytes in text_base64 instead
  }
  line += '\n';
  const std::string path = std::string(dir) + "/" + std::to_string(getpid()) + ".jsonl";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  (void)!write(fd, line.data(), line.size());
  close(fd);
}

// The running test, so that an invalid message can be traced to the test that saw it.
inline void AddTest(json& record) {
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  if (test == nullptr) return;
  record["test"] = std::string(test->test_suite_name()) + "." + test->name();
  record["file"] = test->file();
  record["line"] = test->line();
}

inline void Message(int controller, const char* direction, const std::string& text) {
  if (Directory() == nullptr) return;
  json record = {{"kind", "message"}, {"controller", controller}, {"direction", direction}};
  AddTest(record);
  try {
    (void)json(text).dump();  // throws on invalid UTF-8
    record["text"] = text;
  } catch (const json::type_error&) {
    record["text_base64"] = approvals::Base64Encode(text);
  }
  Append(std::move(record));
}

inline int NewController(const std::vector<std::string>& args) {
  static std::atomic<int> next{0};
  const int id = next++;
  if (Directory() == nullptr) return id;
  json record = {{"kind", "controller"}, {"controller", id}, {"args", json::array()}};
  for (const auto& arg : args) {
    try {
      (void)json(arg).dump();
      record["args"].push_back(arg);
    } catch (const json::type_error&) {
      record["args"].push_back("(not UTF-8)");
    }
  }
  AddTest(record);
  Append(std::move(record));
  return id;
}

inline bool MarkProcess() {
  if (Directory() == nullptr) return false;
  json record = {{"kind", "process"}};
  if (const char* identity = std::getenv("SANDGATE_TEST_IDENTITY")) record["identity"] = identity;
  if (const char* pipeline = std::getenv("SANDGATE_TEST_PIPELINE")) record["pipeline"] = pipeline;
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) record["exe"] = std::string(exe, static_cast<std::size_t>(n));
  Append(std::move(record));
  return true;
}

// Every process that includes this header marks itself at start (one instance per program).
inline const bool kProcessMarked = MarkProcess();

}  // namespace protocol_capture

// sandgate with its stdin/stdout on pipes held by the test: the controller's side.
class Controller {
 public:
  // `wrapper`: a command that runs sandgate (e.g. prlimit with its options and "--"), outermost.
  explicit Controller(std::vector<std::string> args, std::vector<std::string> wrapper = {})
      : capture_id_(protocol_capture::NewController(args)) {
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
    if (from_ >= 0 && protocol_capture::Directory() != nullptr) DrainForCapture();
    if (from_ >= 0) close(from_);
    if (pid_ > 0) Wait();
  }

  // False when sandgate no longer reads (it exited): tests that care check it.
  bool Send(const std::string& line) {
    protocol_capture::Message(capture_id_, "to_sandgate", line);
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
        protocol_capture::Message(capture_id_, "from_sandgate", buffer_.substr(0, newline));
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
  // With the capture on, the lines a test left unread (often sandbox/exited) are read and
  // recorded too, so that every message sandgate sent is checked. Input is closed already, so
  // sandgate is ending; the wait is bounded in case something else holds the pipe open.
  void DrainForCapture() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
      for (auto newline = buffer_.find('\n'); newline != std::string::npos;
           newline = buffer_.find('\n')) {
        protocol_capture::Message(capture_id_, "from_sandgate", buffer_.substr(0, newline));
        buffer_.erase(0, newline + 1);
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{from_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) != 1) break;
      char buf[65536];
      const ssize_t n = read(from_, buf, sizeof buf);
      if (n <= 0) break;
      buffer_.append(buf, static_cast<size_t>(n));
    }
    // A last line without its newline is still a message sandgate sent.
    if (!buffer_.empty()) protocol_capture::Message(capture_id_, "from_sandgate", buffer_);
    buffer_.clear();
  }

  int capture_id_ = 0;
  pid_t pid_ = -1;
  int to_ = -1;
  int from_ = -1;
  std::string buffer_;
};

}  // namespace sandgate::testing
