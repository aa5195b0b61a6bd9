#include "supervisor/control/tty_approver.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "approvals/address.h"
#include "approvals/answer.h"
#include "approvals/protocol.h"
#include "base/unique_fd.h"
#include "tests/helpers/uv_test_loop.h"

namespace sandgate::supervisor {
namespace {

using approvals::Answer;
using approvals::DecisionSource;
using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunFor;
using testing::RunUntil;

constexpr std::string_view kChoices =
    "[y]es once, [a]lways, [n]o, [d]eny always, [c]ancel sandbox? ";

approvals::ApprovalRequest MakeRequest(const std::string& approval_id,
                                       const std::string& host = "example.com") {
  approvals::ApprovalRequest request;
  request.approval_id = approval_id;
  request.process = {4242, "/usr/bin/curl", {"curl", "https://" + host + "/"}, "/work"};
  request.destination.host = host;
  request.destination.address = approvals::Address::Parse("93.184.216.34");
  request.destination.port = 443;
  request.destination.protocol = approvals::Protocol::kTcp;
  request.available_decisions = approvals::AllDecisionNames();
  return request;
}

struct Replies {
  std::vector<Answer> answers;
  std::vector<DecisionSource> sources;
  [[nodiscard]] std::size_t Count() const { return answers.size(); }
};

Approver::Reply Record(Replies& replies) {
  return [&replies](Answer answer, DecisionSource source) {
    replies.answers.push_back(std::move(answer));
    replies.sources.push_back(source);
  };
}

size_t Occurrences(std::string_view text, std::string_view needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

// A real pseudo-terminal: the approver opens the slave by name, as it would open /dev/tty; this
// test types on the master side and reads what the approver printed there.
class TtyApproverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    loop_initialized_ = true;
    // The approver never keeps a loop alive by itself; in a run the sandbox does. This timer
    // stands in for it, or uv_run would return without polling the terminal.
    ASSERT_EQ(uv_timer_init(&loop_, &sandbox_stand_in_), 0);
    ASSERT_EQ(uv_timer_start(
                  &sandbox_stand_in_, [](uv_timer_t*) {}, 3600000, 3600000),
              0);
    int master = -1;
    int slave = -1;
    char name[256] = {};
    if (::openpty(&master, &slave, name, nullptr, nullptr) != 0) {
      GTEST_SKIP() << "openpty: " << std::strerror(errno);
    }
    master_.Reset(master);
    slave_.Reset(slave);
    slave_name_ = name;
    // Canonical mode as on a real terminal, but without echo, so that the master side shows
    // only what the approver wrote.
    termios mode{};
    ASSERT_EQ(::tcgetattr(slave, &mode), 0);
    mode.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    mode.c_lflag |= ICANON;
    ASSERT_EQ(::tcsetattr(slave, TCSANOW, &mode), 0);
    ASSERT_EQ(::fcntl(master, F_SETFL, ::fcntl(master, F_GETFL) | O_NONBLOCK), 0);
    approver_ = std::make_unique<TtyApprover>(&loop_, slave_name_);
    const auto started = approver_->Start();
    ASSERT_TRUE(started.Ok()) << started.Err().Message();
  }

  void TearDown() override {
    if (!loop_initialized_) return;
    approver_.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&sandbox_stand_in_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  // Everything the approver has printed so far (the terminal turns "\n" into "\r\n").
  const std::string& Output() {
    char buffer[4096];
    while (master_) {
      const ssize_t n = ::read(master_.Get(), buffer, sizeof buffer);
      if (n <= 0) break;
      output_.append(buffer, static_cast<std::size_t>(n));
    }
    return output_;
  }

  bool WaitForOutput(std::string_view text, std::size_t times = 1) {
    return RunUntil(&loop_, [&] { return Occurrences(Output(), text) >= times; });
  }

  void Type(std::string_view text) {
    ASSERT_EQ(::write(master_.Get(), text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }

  bool WaitForReplies(const Replies& replies, std::size_t count) {
    return RunUntil(&loop_, [&] { return replies.Count() >= count; });
  }

  // Asks one request and answers it with `typed`.
  Answer AnswerOne(std::string_view typed) {
    Replies replies;
    approver_->Ask(MakeRequest("a1"), Record(replies));
    EXPECT_TRUE(WaitForOutput(kChoices));
    Type(typed);
    EXPECT_TRUE(WaitForReplies(replies, 1)) << "typed " << typed;
    if (replies.Count() != 1) return approvals::answer::Route{};  // never a terminal answer
    EXPECT_EQ(replies.sources[0], DecisionSource::kUser);
    EXPECT_EQ(approver_->Pending(), 0u);
    return replies.answers[0];
  }

  uv_loop_t loop_{};
  bool loop_initialized_ = false;
  uv_timer_t sandbox_stand_in_{};
  base::UniqueFd master_;
  base::UniqueFd slave_;  // keeps the terminal open whatever the approver does with its own fd
  std::string slave_name_;
  std::string output_;
  std::unique_ptr<TtyApprover> approver_;
};

TEST_F(TtyApproverTest, ShowsTheQuestionOnTheTerminal) {
  Replies replies;
  approver_->Ask(MakeRequest("a1", "github.com"), Record(replies));
  ASSERT_TRUE(WaitForOutput(kChoices));
  EXPECT_THAT(Output(),
              HasSubstr("sandgate: curl (pid 4242) wants tcp github.com [93.184.216.34]:443"));
  EXPECT_THAT(Output(), HasSubstr("[curl https://github.com/]"));
  EXPECT_EQ(replies.Count(), 0u);
  EXPECT_EQ(approver_->Pending(), 1u);
}

TEST_F(TtyApproverTest, YesAcceptsOnce) {
  EXPECT_EQ(AnswerOne("y\n"), Answer{approvals::answer::Accept{}});
}

TEST_F(TtyApproverTest, AlwaysAcceptsForTheSession) {
  EXPECT_EQ(AnswerOne("a\n"), Answer{approvals::answer::AcceptForSession{}});
}

TEST_F(TtyApproverTest, NoDeclines) {
  EXPECT_EQ(AnswerOne("n\n"), Answer{approvals::answer::Decline{}});
}

TEST_F(TtyApproverTest, EmptyLineDeclines) {
  EXPECT_EQ(AnswerOne("\n"), Answer{approvals::answer::Decline{}});
}

TEST_F(TtyApproverTest, DenyAlwaysDeclinesForTheSession) {
  EXPECT_EQ(AnswerOne("d\n"), Answer{approvals::answer::DeclineForSession{}});
}

TEST_F(TtyApproverTest, CancelCancelsTheSandbox) {
  EXPECT_EQ(AnswerOne("c\n"), Answer{approvals::answer::Cancel{}});
}

TEST_F(TtyApproverTest, UpperCaseAndBlanksAreFine) {
  EXPECT_EQ(AnswerOne("  Y \n"), Answer{approvals::answer::Accept{}});
}

TEST_F(TtyApproverTest, AnythingElseAsksAgain) {
  Replies replies;
  approver_->Ask(MakeRequest("a1"), Record(replies));
  ASSERT_TRUE(WaitForOutput(kChoices));
  Type("x\n");
  ASSERT_TRUE(WaitForOutput(kChoices, 2));
  EXPECT_EQ(replies.Count(), 0u);
  Type("yes\ny\n");  // "yes" is not a key either: only the letters answer
  ASSERT_TRUE(WaitForReplies(replies, 1));
  EXPECT_EQ(replies.answers[0], Answer{approvals::answer::Accept{}});
  EXPECT_EQ(Occurrences(Output(), kChoices), 3u);
}

TEST_F(TtyApproverTest, BothLinesInOneWriteAnswerTogether) {
  EXPECT_EQ(AnswerOne("x\ny\n"), Answer{approvals::answer::Accept{}});
  EXPECT_EQ(Occurrences(Output(), kChoices), 2u);
}

TEST_F(TtyApproverTest, OneQuestionAtATimeInOrder) {
  Replies first;
  Replies second;
  approver_->Ask(MakeRequest("a1", "one.example"), Record(first));
  approver_->Ask(MakeRequest("a2", "two.example"), Record(second));
  ASSERT_TRUE(WaitForOutput(kChoices));
  EXPECT_THAT(Output(), HasSubstr("one.example"));
  EXPECT_THAT(Output(), Not(HasSubstr("two.example")));
  Replies third;
  approver_->Ask(MakeRequest("a3", "three.example"), Record(third));
  Type("y\n");
  ASSERT_TRUE(WaitForReplies(first, 1));
  ASSERT_TRUE(WaitForOutput(kChoices, 2));
  EXPECT_THAT(Output(), HasSubstr("two.example [93.184.216.34]:443  [curl https://two.example/]"
                                  "  (1 more waiting)"));
  EXPECT_EQ(second.Count(), 0u);
  Type("n\n");
  ASSERT_TRUE(WaitForReplies(second, 1));
  EXPECT_EQ(first.answers[0], Answer{approvals::answer::Accept{}});
  EXPECT_EQ(second.answers[0], Answer{approvals::answer::Decline{}});
  ASSERT_TRUE(WaitForOutput(kChoices, 3));
  EXPECT_THAT(Output(), HasSubstr("three.example"));
  Type("d\n");
  ASSERT_TRUE(WaitForReplies(third, 1));
  EXPECT_EQ(third.answers[0], Answer{approvals::answer::DeclineForSession{}});
  EXPECT_EQ(approver_->Pending(), 0u);
}

TEST_F(TtyApproverTest, CancelOfAQueuedRequestIsQuiet) {
  Replies first;
  Replies second;
  approver_->Ask(MakeRequest("a1", "one.example"), Record(first));
  approver_->Ask(MakeRequest("a2", "two.example"), Record(second));
  ASSERT_TRUE(WaitForOutput(kChoices));
  approver_->Cancel("a2", approvals::CancelReason::kProcessExited);
  EXPECT_EQ(approver_->Pending(), 1u);
  Type("y\n");
  ASSERT_TRUE(WaitForReplies(first, 1));
  RunFor(&loop_, milliseconds(100));
  EXPECT_EQ(second.Count(), 0u);
  EXPECT_THAT(Output(), Not(HasSubstr("two.example")));
  EXPECT_THAT(Output(), Not(HasSubstr("withdrawn")));
  EXPECT_EQ(approver_->Pending(), 0u);
}

TEST_F(TtyApproverTest, CancelOfTheShownRequestSaysSoAndMovesOn) {
  Replies first;
  Replies second;
  approver_->Ask(MakeRequest("a1", "one.example"), Record(first));
  approver_->Ask(MakeRequest("a2", "two.example"), Record(second));
  ASSERT_TRUE(WaitForOutput(kChoices));
  approver_->Cancel("a1", approvals::CancelReason::kTimeout);
  ASSERT_TRUE(WaitForOutput(kChoices, 2));
  EXPECT_THAT(Output(), HasSubstr("sandgate: withdrawn (no answer in time): curl (pid 4242) wants "
                                  "tcp one.example"));
  EXPECT_THAT(Output(), HasSubstr("two.example"));
  Type("y\n");
  ASSERT_TRUE(WaitForReplies(second, 1));
  EXPECT_EQ(second.answers[0], Answer{approvals::answer::Accept{}});
  EXPECT_EQ(first.Count(), 0u);

  Replies third;
  approver_->Ask(MakeRequest("a3", "three.example"), Record(third));
  ASSERT_TRUE(WaitForOutput(kChoices, 3));
  approver_->Cancel("a3", approvals::CancelReason::kProcessExited);
  ASSERT_TRUE(WaitForOutput("withdrawn (the process exited)"));
  RunFor(&loop_, milliseconds(50));
  EXPECT_EQ(third.Count(), 0u);
  EXPECT_EQ(approver_->Pending(), 0u);
}

TEST_F(TtyApproverTest, InputTypedBeforeTheQuestionIsNoAnswer) {
  Type("y\n");
  pollfd ready{slave_.Get(), POLLIN, 0};
  ASSERT_EQ(::poll(&ready, 1, 5000), 1);  // the line is in the terminal's input queue
  Replies replies;
  approver_->Ask(MakeRequest("a1"), Record(replies));
  ASSERT_TRUE(WaitForOutput(kChoices));
  RunFor(&loop_, milliseconds(100));
  EXPECT_EQ(replies.Count(), 0u);
  Type("n\n");
  ASSERT_TRUE(WaitForReplies(replies, 1));
  EXPECT_EQ(replies.answers[0], Answer{approvals::answer::Decline{}});
}

TEST_F(TtyApproverTest, HangUpDeclinesWhatWaitsAndWhatComes) {
  Replies first;
  Replies second;
  approver_->Ask(MakeRequest("a1", "one.example"), Record(first));
  approver_->Ask(MakeRequest("a2", "two.example"), Record(second));
  ASSERT_TRUE(WaitForOutput(kChoices));
  master_.Reset();  // the terminal goes away
  ASSERT_TRUE(RunUntil(&loop_, [&] { return first.Count() == 1 && second.Count() == 1; }));
  EXPECT_EQ(first.answers[0], Answer{approvals::answer::Decline{}});
  EXPECT_EQ(first.sources[0], DecisionSource::kCancelled);
  EXPECT_EQ(second.answers[0], Answer{approvals::answer::Decline{}});
  EXPECT_EQ(second.sources[0], DecisionSource::kCancelled);
  EXPECT_TRUE(approver_->Ended());
  Replies later;
  approver_->Ask(MakeRequest("a3"), Record(later));
  ASSERT_EQ(later.Count(), 1u);  // at once
  EXPECT_EQ(later.answers[0], Answer{approvals::answer::Decline{}});
  EXPECT_EQ(later.sources[0], DecisionSource::kCancelled);
}

TEST_F(TtyApproverTest, EndOfInputDeclinesLikeAHangUp) {
  Replies replies;
  approver_->Ask(MakeRequest("a1"), Record(replies));
  ASSERT_TRUE(WaitForOutput(kChoices));
  Type("\x04");  // ^D on an empty line: read() returns 0
  ASSERT_TRUE(WaitForReplies(replies, 1));
  EXPECT_EQ(replies.answers[0], Answer{approvals::answer::Decline{}});
  EXPECT_EQ(replies.sources[0], DecisionSource::kCancelled);
  EXPECT_TRUE(approver_->Ended());
  EXPECT_TRUE(WaitForOutput("no more answers from the terminal"));
}

TEST_F(TtyApproverTest, HostileNamesCannotDriveTheTerminal) {
  approvals::ApprovalRequest request = MakeRequest("a1");
  request.process.exe = "/tmp/\x1b[2Jevil";
  request.process.argv = {"evil\x1b]0;owned\x07",
                          "\x9b"
                          "31m",
                          "ok\xe2\x80\xae"
                          "gpj.exe"};
  request.destination.host = "bad\r\nsandgate: fake.example";
  Replies replies;
  approver_->Ask(request, Record(replies));
  ASSERT_TRUE(WaitForOutput(kChoices));
  const std::string shown = Output();
  EXPECT_EQ(shown.find('\x1b'), std::string::npos) << shown;
  EXPECT_EQ(shown.find('\x07'), std::string::npos) << shown;
  EXPECT_EQ(shown.find('\x9b'), std::string::npos) << shown;
  EXPECT_THAT(shown, HasSubstr("sandgate: \\x1b[2Jevil (pid 4242) wants tcp "
                               "bad\\x0d\\x0asandgate: fake.example [93.184.216.34]:443"));
  EXPECT_THAT(shown, HasSubstr("evil\\x1b]0;owned\\x07 \\x9b31m ok\\xe2\\x80\\xaegpj.exe"));
  // Exactly the two lines of one question: nothing injected a line break.
  EXPECT_EQ(Occurrences(shown, "\n"), 1u) << shown;
  Type("n\n");
  ASSERT_TRUE(WaitForReplies(replies, 1));
}

TEST_F(TtyApproverTest, AReplyMayDestroyTheApprover) {
  bool replied = false;
  approver_->Ask(MakeRequest("a1"), [&](const Answer&, DecisionSource) {
    replied = true;
    approver_.reset();
  });
  Replies queued;
  approver_->Ask(MakeRequest("a2"), Record(queued));
  ASSERT_TRUE(WaitForOutput(kChoices));
  Type("y\n");
  ASSERT_TRUE(RunUntil(&loop_, [&] { return replied; }));
  EXPECT_EQ(approver_, nullptr);
  EXPECT_EQ(queued.Count(), 0u);
}

TEST_F(TtyApproverTest, CloseWithdrawsTheShownQuestionAndLaterAsksAreDeclined) {
  Replies replies;
  approver_->Ask(MakeRequest("a1"), Record(replies));
  ASSERT_TRUE(WaitForOutput(kChoices));
  approver_->Close();
  EXPECT_TRUE(WaitForOutput("withdrawn (the sandbox ended)"));
  EXPECT_EQ(replies.Count(), 0u);
  Replies later;
  approver_->Ask(MakeRequest("a2"), Record(later));
  ASSERT_EQ(later.Count(), 1u);
  EXPECT_EQ(later.sources[0], DecisionSource::kCancelled);
}

TEST(TtyApproverStartTest, NoTerminalIsAnError) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  {
    TtyApprover approver(&loop, "/nonexistent/tty");
    const auto started = approver.Start();
    ASSERT_FALSE(started.Ok());
    EXPECT_EQ(started.Err().errnum, ENOENT);
    EXPECT_THAT(started.Err().Message(), HasSubstr("--approvals tty"));
    Replies replies;
    approver.Ask(MakeRequest("a1"), Record(replies));
    ASSERT_EQ(replies.Count(), 1u);
    EXPECT_EQ(replies.sources[0], DecisionSource::kCancelled);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(EscapeForTerminalTest, ControlBytesDelAndBadUtf8BecomeHex) {
  EXPECT_EQ(EscapeForTerminal("plain text-1.2_~"), "plain text-1.2_~");
  EXPECT_EQ(EscapeForTerminal("\x1b[2J"), "\\x1b[2J");
  EXPECT_EQ(EscapeForTerminal(std::string_view("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(EscapeForTerminal("tab\there\x7f"), "tab\\x09here\\x7f");
  EXPECT_EQ(EscapeForTerminal("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(EscapeForTerminal("cut\xe2\x82"), "cut\\xe2\\x82");     // truncated sequence
  EXPECT_EQ(EscapeForTerminal("\xc0\xaf"), "\\xc0\\xaf");           // overlong '/'
  EXPECT_EQ(EscapeForTerminal("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(EscapeForTerminal("back\\x1b"), "back\\\\x1b");         // no forged escapes
}

TEST(EscapeForTerminalTest, TextIsKeptButTerminalControlsAreNot) {
  EXPECT_EQ(EscapeForTerminal("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82"),
            "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82");
  EXPECT_EQ(EscapeForTerminal("\xc2\x9b"
                              "2J"),
            "\\xc2\\x9b2J");  // C1 CSI
  EXPECT_EQ(EscapeForTerminal("a\xe2\x80\xae"
                              "b"),
            "a\\xe2\\x80\\xaeb");  // RLO
  EXPECT_EQ(EscapeForTerminal("a\xe2\x80\x8b"
                              "b"),
            "a\\xe2\\x80\\x8bb");  // zero width
  EXPECT_EQ(EscapeForTerminal("a\xe2\x80\xa8"
                              "b"),
            "a\\xe2\\x80\\xa8b");  // line separator
}

TEST(DescribeRequestTest, EachKindOfDestination) {
  approvals::ApprovalRequest request = MakeRequest("a1");
  request.process.argv = {"curl"};
  EXPECT_EQ(DescribeRequest(request), "curl (pid 4242) wants tcp example.com [93.184.216.34]:443");

  request.destination.host.reset();
  request.destination.address = approvals::Address::Parse("2001:db8::1");
  request.destination.protocol = approvals::Protocol::kUdp;
  request.destination.port = 53;
  EXPECT_EQ(DescribeRequest(request), "curl (pid 4242) wants udp [2001:db8::1]:53");

  request.destination.address = approvals::Address::Parse("10.0.0.1");
  EXPECT_EQ(DescribeRequest(request), "curl (pid 4242) wants udp 10.0.0.1:53");

  request.destination = {};
  request.destination.protocol = approvals::Protocol::kUnix;
  request.destination.unix_path = "/var/run/docker.sock";
  EXPECT_EQ(DescribeRequest(request), "curl (pid 4242) wants unix /var/run/docker.sock");
  request.destination.unix_path.reset();
  request.destination.unix_abstract = "bus\x01name";
  EXPECT_EQ(DescribeRequest(request), "curl (pid 4242) wants unix @bus\\x01name");

  approvals::ApprovalRequest dns;
  dns.approval_id = "a2";
  dns.reason = "dns_query";
  dns.destination.host = "exfil.example";
  dns.destination.port = 53;
  dns.destination.protocol = approvals::Protocol::kUdp;
  EXPECT_EQ(DescribeRequest(dns), "the sandbox wants to resolve exfil.example");
}

TEST(DescribeRequestTest, LongFieldsAreCut) {
  approvals::ApprovalRequest request = MakeRequest("a1");
  request.process.argv = {"curl", std::string(100000, 'x')};
  const std::string text = DescribeRequest(request);
  EXPECT_LT(text.size(), 400u);
  EXPECT_THAT(text, HasSubstr("...]"));
}

}  // namespace
}  // namespace sandgate::supervisor
