#include "supervisor/child/output_pump.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "approvals/base64.h"
#include "approvals/protocol.h"
#include "base/unique_fd.h"
#include "supervisor/control/jsonrpc_approver.h"

#include "tests/helpers/uv_test_loop.h"

namespace sandgate::supervisor {
namespace {

using approvals::OutputStream;
using nlohmann::json;
using std::chrono::milliseconds;


using testing::RunFor;
using testing::RunUntil;

void WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    ASSERT_GT(n, 0);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

struct Notice {
  std::string method;
  json params;
};

class OutputPumpTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }

  void TearDown() override {
    pump_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  void Start(bool with_stderr = true) {
    int out[2];
    int err[2];
    ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
    base::UniqueFd out_read(out[0]);
    stdout_write_ = base::UniqueFd(out[1]);
    base::UniqueFd err_read;
    if (with_stderr) {
      ASSERT_EQ(::pipe2(err, O_CLOEXEC), 0);
      err_read = base::UniqueFd(err[0]);
      stderr_write_ = base::UniqueFd(err[1]);
    }
    pump_ = std::make_unique<OutputPump>(
        &loop_, std::move(out_read), std::move(err_read),
        [this](const std::string& method, const json& params) {
          notices_.push_back({method, params});
        },
        [this] { ++done_; });
    const auto status = pump_->Start();
    ASSERT_TRUE(status.Ok()) << status.Err().Message();
  }

  // Everything received on `stream`, decoded, and whether any of it came as base64.
  std::string Received(OutputStream stream, bool* any_base64 = nullptr) {
    std::string all;
    for (const Notice& notice : notices_) {
      EXPECT_EQ(notice.method, "process/output");
      auto parsed = approvals::ParseProcessOutputParams(notice.params);
      EXPECT_TRUE(std::holds_alternative<approvals::ProcessOutput>(parsed)) << notice.params;
      if (!std::holds_alternative<approvals::ProcessOutput>(parsed)) continue;
      const auto& output = std::get<approvals::ProcessOutput>(parsed);
      if (output.stream != stream) continue;
      all += output.data;
      if (any_base64 != nullptr && notice.params.contains("encoding")) *any_base64 = true;
    }
    return all;
  }

  bool WaitForBytes(OutputStream stream, std::size_t size) {
    return RunUntil(&loop_, [&] { return Received(stream).size() >= size; });
  }

  uv_loop_t loop_{};
  std::unique_ptr<OutputPump> pump_;
  base::UniqueFd stdout_write_;
  base::UniqueFd stderr_write_;
  std::vector<Notice> notices_;
  int done_ = 0;
};

TEST_F(OutputPumpTest, TextGoesOutAsText) {
  Start();
  WriteAll(stdout_write_.Get(), "hello, world\n");
  ASSERT_TRUE(WaitForBytes(OutputStream::kStdout, 13));
  ASSERT_EQ(notices_.size(), 1u);
  EXPECT_EQ(notices_[0].method, "process/output");
  EXPECT_EQ(notices_[0].params["stream"], "stdout");
  EXPECT_EQ(notices_[0].params["data"], "hello, world\n");
  EXPECT_FALSE(notices_[0].params.contains("encoding"));

  WriteAll(stderr_write_.Get(), "warning: caf\xc3\xa9\n");
  ASSERT_TRUE(WaitForBytes(OutputStream::kStderr, 15));
  EXPECT_EQ(notices_.back().params["stream"], "stderr");
  EXPECT_EQ(notices_.back().params["data"], "warning: caf\xc3\xa9\n");
  EXPECT_EQ(done_, 0);
}

TEST_F(OutputPumpTest, InvalidBytesGoOutAsBase64) {
  Start();
  const std::string binary("\x00\xff\xfe\x80ok", 6);
  WriteAll(stdout_write_.Get(), binary);
  ASSERT_TRUE(WaitForBytes(OutputStream::kStdout, binary.size()));
  ASSERT_EQ(notices_.size(), 1u);
  EXPECT_EQ(notices_[0].params["encoding"], "base64");
  EXPECT_EQ(notices_[0].params["data"], approvals::Base64Encode(binary));
  EXPECT_EQ(Received(OutputStream::kStdout), binary);
}

TEST_F(OutputPumpTest, CharacterSplitAcrossWritesStaysWhole) {
  Start();
  // "café €𝄞" written so that each multi-byte character is cut.
  const std::vector<std::string> pieces = {"caf\xc3",       "\xa9 \xe2", "\x82",
                                           "\xac \xf0\x9d", "\x84",      "\x9e!"};
  for (const std::string& piece : pieces) {
    WriteAll(stdout_write_.Get(), piece);
    RunFor(&loop_, milliseconds(10));  // let each piece arrive on its own
  }
  const std::string whole = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e!";
  ASSERT_TRUE(WaitForBytes(OutputStream::kStdout, whole.size()));
  bool any_base64 = false;
  EXPECT_EQ(Received(OutputStream::kStdout, &any_base64), whole);
  EXPECT_FALSE(any_base64);
  EXPECT_GE(notices_.size(), 3u);  // sent as it came, not at the end
}

TEST_F(OutputPumpTest, StreamEndingInsideACharacterSendsTheRestAsBase64) {
  Start();
  WriteAll(stdout_write_.Get(), "ab\xe2\x82");
  ASSERT_TRUE(WaitForBytes(OutputStream::kStdout, 2));
  EXPECT_EQ(Received(OutputStream::kStdout), "ab");
  stdout_write_.Reset();
  ASSERT_TRUE(WaitForBytes(OutputStream::kStdout, 4));
  EXPECT_EQ(Received(OutputStream::kStdout), "ab\xe2\x82");
  EXPECT_EQ(notices_.back().params["encoding"], "base64");
}

TEST_F(OutputPumpTest, DoneRunsOnceWhenBothStreamsEnd) {
  Start();
  WriteAll(stdout_write_.Get(), "out");
  WriteAll(stderr_write_.Get(), "err");
  stdout_write_.Reset();
  ASSERT_TRUE(WaitForBytes(OutputStream::kStdout, 3));
  RunFor(&loop_, milliseconds(20));
  EXPECT_EQ(done_, 0);
  EXPECT_FALSE(pump_->Finished());
  stderr_write_.Reset();
  ASSERT_TRUE(RunUntil(&loop_, [&] { return done_ > 0; }));
  RunFor(&loop_, milliseconds(20));
  EXPECT_EQ(done_, 1);
  EXPECT_TRUE(pump_->Finished());
  // Everything read went out before `done`.
  EXPECT_EQ(Received(OutputStream::kStdout), "out");
  EXPECT_EQ(Received(OutputStream::kStderr), "err");
}

TEST_F(OutputPumpTest, MissingStreamCountsAsEnded) {
  Start(/*with_stderr=*/false);
  WriteAll(stdout_write_.Get(), "only stdout");
  stdout_write_.Reset();
  ASSERT_TRUE(RunUntil(&loop_, [&] { return done_ > 0; }));
  EXPECT_EQ(Received(OutputStream::kStdout), "only stdout");
}

TEST_F(OutputPumpTest, LargeOutputArrivesWholeAndInOrder) {
  Start();
  std::string big;
  for (int i = 0; big.size() < (std::size_t{1} << 20); ++i) {
    big += "line " + std::to_string(i) + "\n";
  }
  // Write from the loop's side in pieces (the pipe holds less than this).
  std::string_view rest = big;
  ASSERT_EQ(::fcntl(stdout_write_.Get(), F_SETFL, O_NONBLOCK), 0);
  ASSERT_TRUE(RunUntil(&loop_, [&] {
    while (!rest.empty()) {
      const ssize_t n = ::write(stdout_write_.Get(), rest.data(), rest.size());
      if (n <= 0) break;
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
    return rest.empty();
  }));
  stdout_write_.Reset();
  stderr_write_.Reset();
  ASSERT_TRUE(RunUntil(&loop_, [&] { return done_ > 0; }));
  EXPECT_EQ(Received(OutputStream::kStdout), big);
}

TEST_F(OutputPumpTest, CloseIsIdempotentAndStopsCallbacks) {
  Start();
  WriteAll(stdout_write_.Get(), "never read");  // waiting in the pipe, not yet seen by the loop
  pump_->Close();
  pump_->Close();
  stdout_write_.Reset();
  stderr_write_.Reset();
  RunFor(&loop_, milliseconds(30));
  EXPECT_TRUE(notices_.empty());
  EXPECT_EQ(done_, 0);
}

// The wiring of `--approvals stdio`: command output through the approver to the controller, all
// of it before sandbox/exited.
TEST(OutputPumpWiringTest, OutputReachesTheControllerBeforeExited) {
  uv_loop_t loop{};
  ASSERT_EQ(uv_loop_init(&loop), 0);
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  base::UniqueFd ours(sv[0]);
  base::UniqueFd controller(sv[1]);
  int out[2];
  int err[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(err, O_CLOEXEC), 0);
  base::UniqueFd out_write(out[1]);
  base::UniqueFd err_write(err[1]);

  auto approver = std::make_unique<JsonRpcApprover>(&loop, ours.Get(), ours.Get(),
                                                    JsonRpcApprover::Callbacks{});
  ASSERT_TRUE(approver->Start().Ok());
  bool exited_sent = false;
  auto pump = std::make_unique<OutputPump>(
      &loop, base::UniqueFd(out[0]), base::UniqueFd(err[0]),
      [&](const std::string& method, const json& params) { approver->Notify(method, params); },
      [&] {
        approver->Notify("sandbox/exited", {{"exitCode", 0}, {"signal", nullptr}});
        approver->WhenFlushed([&] { exited_sent = true; });
      });
  ASSERT_TRUE(pump->Start().Ok());
  WriteAll(out_write.Get(), "to stdout\n");
  WriteAll(err_write.Get(), "to stderr\n");
  out_write.Reset();
  err_write.Reset();
  ASSERT_TRUE(RunUntil(&loop, [&] { return exited_sent; }));

  std::string inbox;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = ::recv(controller.Get(), buffer, sizeof buffer, MSG_DONTWAIT)) > 0) {
    inbox.append(buffer, static_cast<std::size_t>(n));
  }
  std::vector<json> messages;
  for (std::size_t start = 0, end = 0; (end = inbox.find('\n', start)) != std::string::npos;
       start = end + 1) {
    messages.push_back(json::parse(inbox.substr(start, end - start)));
  }
  ASSERT_EQ(messages.size(), 3u) << inbox;
  std::string stdout_text;
  std::string stderr_text;
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(messages[i]["method"], "process/output");
    (messages[i]["params"]["stream"] == "stdout" ? stdout_text : stderr_text) +=
        messages[i]["params"]["data"].get<std::string>();
  }
  EXPECT_EQ(stdout_text, "to stdout\n");
  EXPECT_EQ(stderr_text, "to stderr\n");
  EXPECT_EQ(messages[2]["method"], "sandbox/exited");

  pump.reset();
  approver.reset();
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace sandgate::supervisor
