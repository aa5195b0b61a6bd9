#include "supervisor/control/tty_approver.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "approvals/address.h"
#include "approvals/answer.h"
#include "approvals/protocol.h"
#include "approvals/rule.h"
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

// The end of the choices line, with or without the "always" keys.
constexpr std::string_view kChoices = "[c] cancel sandbox? ";
constexpr std::string_view kAlwaysChoices = "[p] always   deny: [n] once [d] session [x] always";
constexpr std::string_view kHint = "press one of the keys in brackets (no Enter)";

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

approvals::Rule ParsedRule(std::string_view text) {
  auto parsed = approvals::ParseRule(text);
  if (auto* error = std::get_if<approvals::RuleError>(&parsed)) {
    ADD_FAILURE() << error->message;
    return {};
  }
  return std::get<approvals::Rule>(std::move(parsed));
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

// The terminal's mode, zero-initialized first so that two of them compare byte for byte.
termios ModeOf(int fd) {
  termios mode;
  std::memset(&mode, 0, sizeof mode);
  EXPECT_EQ(::tcgetattr(fd, &mode), 0) << std::strerror(errno);
  return mode;
}

bool SameMode(const termios& a, const termios& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Asked the way a question is asked: keys one by one, unechoed, signals on.
bool IsQuestionMode(const termios& mode) {
  return (mode.c_lflag & (ICANON | ECHO | ECHONL | IEXTEN)) == 0 && (mode.c_lflag & ISIG) != 0 &&
         mode.c_cc[VMIN] == 1 && mode.c_cc[VTIME] == 0;
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
    // A terminal as a shell leaves it: canonical, with echo.
    termios mode = ModeOf(slave);
    mode.c_lflag |= ICANON | ECHO | ISIG | IEXTEN;
    ASSERT_EQ(::tcsetattr(slave, TCSANOW, &mode), 0);
    initial_mode_ = ModeOf(slave);
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

  [[nodiscard]] bool ModeRestored() { return SameMode(ModeOf(slave_.Get()), initial_mode_); }

  // Asks `request` and waits until its question is shown.
  void AskAndWait(Replies& replies, const approvals::ApprovalRequest& request = MakeRequest("a1")) {
    const std::size_t shown = Occurrences(Output(), kChoices);
    approver_->Ask(request, Record(replies));
    EXPECT_TRUE(WaitForOutput(kChoices, shown + 1));
  }

  // Asks about one.example and two.example; the first is shown.
  void AskTwo(Replies& first, Replies& second) {
    AskAndWait(first, MakeRequest("a1", "one.example"));
    approver_->Ask(MakeRequest("a2", "two.example"), Record(second));
  }

  // Types `keys` at the question shown, which are no answer: `hint` appears instead.
  void ExpectNoAnswer(std::string_view keys, std::string_view hint, const Replies& replies) {
    const std::size_t hints = Occurrences(Output(), hint);
    const std::size_t count = replies.Count();
    Type(keys);
    EXPECT_TRUE(WaitForOutput(hint, hints + 1)) << "typed " << keys;
    EXPECT_EQ(replies.Count(), count) << "typed " << keys;
  }

  // Types `key` at the question shown; the answer it gave.
  Answer AnswerWith(std::string_view key, Replies& replies) {
    const std::size_t count = replies.Count();
    Type(key);
    if (!WaitForReplies(replies, count + 1)) {
      ADD_FAILURE() << "typed " << key << ": no answer";
      return approvals::answer::Route{};  // never a terminal answer
    }
    EXPECT_EQ(replies.sources[count], DecisionSource::kUser);
    return replies.answers[count];
  }

  // Asks one request and answers it with `typed`.
  Answer AnswerOne(std::string_view typed,
                   const approvals::ApprovalRequest& request = MakeRequest("a1")) {
    Replies replies;
    AskAndWait(replies, request);
    EXPECT_TRUE(IsQuestionMode(ModeOf(slave_.Get())));
    const Answer answer = AnswerWith(typed, replies);
    EXPECT_TRUE(ModeRestored());
    EXPECT_EQ(approver_->Pending(), 0u);
    return answer;
  }

  uv_loop_t loop_{};
  bool loop_initialized_ = false;
  uv_timer_t sandbox_stand_in_{};
  base::UniqueFd master_;
  base::UniqueFd slave_;  // keeps the terminal open whatever the approver does with its own fd
  std::string slave_name_;
  termios initial_mode_{};
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
  EXPECT_THAT(Output(), HasSubstr("sandgate: allow: [y] once [a] session   deny: [n] once "
                                  "[d] session   [c] cancel sandbox? "));
  EXPECT_EQ(replies.Count(), 0u);
  EXPECT_EQ(approver_->Pending(), 1u);
}

TEST_F(TtyApproverTest, StartingLeavesTheTerminalAlone) {
  EXPECT_TRUE(ModeRestored());
  approver_->Close();
  EXPECT_TRUE(ModeRestored());
}

TEST_F(TtyApproverTest, YesAcceptsOnceWithoutEnter) {
  EXPECT_EQ(AnswerOne("y"), Answer{approvals::answer::Accept{}});
  EXPECT_TRUE(WaitForOutput("sandbox? allow once\r\n"));
}

TEST_F(TtyApproverTest, AAcceptsForTheSession) {
  EXPECT_EQ(AnswerOne("a"), Answer{approvals::answer::AcceptForSession{}});
  EXPECT_TRUE(WaitForOutput("allow for this session\r\n"));
}

TEST_F(TtyApproverTest, NDeclinesOnce) {
  EXPECT_EQ(AnswerOne("n"), Answer{approvals::answer::Decline{}});
  EXPECT_TRUE(WaitForOutput("deny once\r\n"));
}

TEST_F(TtyApproverTest, DDeclinesForTheSession) {
  EXPECT_EQ(AnswerOne("d"), Answer{approvals::answer::DeclineForSession{}});
}

TEST_F(TtyApproverTest, CCancelsTheSandbox) {
  EXPECT_EQ(AnswerOne("c"), Answer{approvals::answer::Cancel{}});
}

TEST_F(TtyApproverTest, UpperCaseIsFine) {
  EXPECT_EQ(AnswerOne("Y"), Answer{approvals::answer::Accept{}});
}

TEST_F(TtyApproverTest, PAllowsAlwaysWhenAnswersCanBeSaved) {
  approver_->SetCanPersist(true);
  const Answer always_allow = approvals::answer::Amendment{
      ParsedRule("example.com:443"), approvals::AmendmentAction::kAllow, true};
  EXPECT_EQ(AnswerOne("p"), always_allow);
  EXPECT_THAT(Output(), HasSubstr(kAlwaysChoices));
  EXPECT_TRUE(WaitForOutput("always allow example.com:443\r\n"));
}

TEST_F(TtyApproverTest, XDeniesAlwaysWhenAnswersCanBeSaved) {
  approver_->SetCanPersist(true);
  approvals::ApprovalRequest request = MakeRequest("a1");
  request.destination.host.reset();  // by address when no name is known
  const Answer always_deny = approvals::answer::Amendment{ParsedRule("93.184.216.34:443"),
                                                          approvals::AmendmentAction::kDeny, true};
  EXPECT_EQ(AnswerOne("X", request), always_deny);
  EXPECT_TRUE(WaitForOutput("always deny 93.184.216.34:443\r\n"));
}

TEST_F(TtyApproverTest, TheAlwaysKeysNeedSomewhereToSave) {
  Replies replies;
  AskAndWait(replies);
  EXPECT_THAT(Output(), Not(HasSubstr("[p]")));
  EXPECT_THAT(Output(), Not(HasSubstr("[x]")));
  ExpectNoAnswer("p", kHint, replies);
  ExpectNoAnswer("x", kHint, replies);
  EXPECT_TRUE(IsQuestionMode(ModeOf(slave_.Get())));
  EXPECT_EQ(AnswerWith("n", replies), Answer{approvals::answer::Decline{}});
}

TEST_F(TtyApproverTest, TheAlwaysKeysNeedARuleForTheDestination) {
  approver_->SetCanPersist(true);
  Replies replies;
  AskAndWait(replies, MakeRequest("a1", "bad\r\nname.example"));
  EXPECT_THAT(Output(), Not(HasSubstr("[p]")));
  ExpectNoAnswer("p", "no rule can be saved for this destination", replies);
  EXPECT_EQ(AnswerWith("a", replies), Answer{approvals::answer::AcceptForSession{}});
}

TEST_F(TtyApproverTest, OtherKeysGetAHint) {
  Replies replies;
  AskAndWait(replies);
  ExpectNoAnswer("q", kHint, replies);
  ASSERT_TRUE(WaitForOutput(kChoices, 2));  // the choices again
  // Enter, out of habit, is no answer and no reason for a hint.
  Type("\r");
  RunFor(&loop_, milliseconds(100));
  EXPECT_EQ(replies.Count(), 0u);
  EXPECT_EQ(Occurrences(Output(), kHint), 1u);
  EXPECT_EQ(AnswerWith("y", replies), Answer{approvals::answer::Accept{}});
}

TEST_F(TtyApproverTest, AnArrowKeyIsNoAnswer) {
  Replies replies;
  AskAndWait(replies);
  ExpectNoAnswer("\x1b[A", kHint, replies);  // up: "A" would accept for the session
  EXPECT_EQ(AnswerWith("n", replies), Answer{approvals::answer::Decline{}});
}

TEST_F(TtyApproverTest, TheKeyIsNotEchoed) {
  Replies replies;
  AskAndWait(replies);
  const termios asked = ModeOf(slave_.Get());
  EXPECT_TRUE(IsQuestionMode(asked));
  // Everything else is the terminal's own.
  EXPECT_EQ(asked.c_iflag, initial_mode_.c_iflag);
  EXPECT_EQ(asked.c_oflag, initial_mode_.c_oflag);
  EXPECT_EQ(asked.c_cflag, initial_mode_.c_cflag);
  EXPECT_EQ(asked.c_cc[VINTR], initial_mode_.c_cc[VINTR]);
  ExpectNoAnswer("z", kHint, replies);  // 'z' is in no text the approver prints
  EXPECT_EQ(Output().find('z'), std::string::npos) << Output();
  EXPECT_EQ(AnswerWith("y", replies), Answer{approvals::answer::Accept{}});
  EXPECT_TRUE(ModeRestored());
}

TEST_F(TtyApproverTest, OneQuestionAtATimeInOrder) {
  Replies first;
  Replies second;
  AskTwo(first, second);
  EXPECT_THAT(Output(), HasSubstr("one.example"));
  EXPECT_THAT(Output(), Not(HasSubstr("two.example")));
  Replies third;
  approver_->Ask(MakeRequest("a3", "three.example"), Record(third));
  Type("y");
  ASSERT_TRUE(WaitForReplies(first, 1));
  ASSERT_TRUE(WaitForOutput(kChoices, 2));
  EXPECT_THAT(Output(), HasSubstr("two.example [93.184.216.34]:443  [curl https://two.example/]"
                                  "  (1 more waiting)"));
  EXPECT_EQ(second.Count(), 0u);
  EXPECT_TRUE(IsQuestionMode(ModeOf(slave_.Get())));
  Type("n");
  ASSERT_TRUE(WaitForReplies(second, 1));
  EXPECT_EQ(first.answers[0], Answer{approvals::answer::Accept{}});
  EXPECT_EQ(second.answers[0], Answer{approvals::answer::Decline{}});
  ASSERT_TRUE(WaitForOutput(kChoices, 3));
  EXPECT_THAT(Output(), HasSubstr("three.example"));
  Type("d");
  ASSERT_TRUE(WaitForReplies(third, 1));
  EXPECT_EQ(third.answers[0], Answer{approvals::answer::DeclineForSession{}});
  EXPECT_EQ(approver_->Pending(), 0u);
  EXPECT_TRUE(ModeRestored());
}

TEST_F(TtyApproverTest, KeysAfterTheAnswerInTheSameReadAreDropped) {
  Replies first;
  Replies second;
  AskTwo(first, second);
  Type("yy");  // the second 'y' was typed before the second question appeared
  ASSERT_TRUE(WaitForReplies(first, 1));
  ASSERT_TRUE(WaitForOutput(kChoices, 2));
  RunFor(&loop_, milliseconds(100));
  EXPECT_EQ(second.Count(), 0u);
  EXPECT_EQ(AnswerWith("n", second), Answer{approvals::answer::Decline{}});
}

TEST_F(TtyApproverTest, EachQuestionRestoresTheModeItFound) {
  EXPECT_EQ(AnswerOne("y"), Answer{approvals::answer::Accept{}});
  // The command changed the terminal between two questions (a full-screen program, say).
  termios changed = ModeOf(slave_.Get());
  changed.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  changed.c_cc[VMIN] = 4;
  ASSERT_EQ(::tcsetattr(slave_.Get(), TCSANOW, &changed), 0);
  changed = ModeOf(slave_.Get());
  Replies replies;
  approver_->Ask(MakeRequest("a2"), Record(replies));
  ASSERT_TRUE(WaitForOutput(kChoices, 2));
  EXPECT_TRUE(IsQuestionMode(ModeOf(slave_.Get())));
  Type("n");
  ASSERT_TRUE(WaitForReplies(replies, 1));
  EXPECT_TRUE(SameMode(ModeOf(slave_.Get()), changed));
}

TEST_F(TtyApproverTest, AfterSigcontTheQuestionGetsItsModeBack) {
  Replies replies;
  approver_->Ask(MakeRequest("a1"), Record(replies));
  ASSERT_TRUE(WaitForOutput(kChoices));
  // What a shell does when it stops a job (^Z), before "fg" continues it.
  ASSERT_EQ(::tcsetattr(slave_.Get(), TCSANOW, &initial_mode_), 0);
  ASSERT_EQ(::raise(SIGCONT), 0);
  ASSERT_TRUE(RunUntil(&loop_, [&] { return IsQuestionMode(ModeOf(slave_.Get())); }));
  Type("y");
  ASSERT_TRUE(WaitForReplies(replies, 1));
  EXPECT_TRUE(ModeRestored());
}

TEST_F(TtyApproverTest, InputTypedBeforeTheQuestionIsNoAnswer) {
  Type("y\n");
  pollfd ready{slave_.Get(), POLLIN, 0};
  ASSERT_EQ(::poll(&ready, 1, 5000), 1);  // the line is in the terminal's input queue
  Replies replies;
  AskAndWait(replies);
  RunFor(&loop_, milliseconds(100));
  EXPECT_EQ(replies.Count(), 0u);
  EXPECT_EQ(AnswerWith("n", replies), Answer{approvals::answer::Decline{}});
}

TEST_F(TtyApproverTest, CancelOfAQueuedRequestIsQuiet) {
  Replies first;
  Replies second;
  AskTwo(first, second);
  approver_->Cancel("a2", approvals::CancelReason::kProcessExited);
  EXPECT_EQ(approver_->Pending(), 1u);
  EXPECT_TRUE(IsQuestionMode(ModeOf(slave_.Get())));
  Type("y");
  ASSERT_TRUE(WaitForReplies(first, 1));
  RunFor(&loop_, milliseconds(100));
  EXPECT_EQ(second.Count(), 0u);
  EXPECT_THAT(Output(), Not(HasSubstr("two.example")));
  EXPECT_THAT(Output(), Not(HasSubstr("withdrawn")));
  EXPECT_EQ(approver_->Pending(), 0u);
  EXPECT_TRUE(ModeRestored());
}

TEST_F(TtyApproverTest, CancelOfTheShownRequestSaysSoAndMovesOn) {
  Replies first;
  Replies second;
  AskTwo(first, second);
  approver_->Cancel("a1", approvals::CancelReason::kTimeout);
  ASSERT_TRUE(WaitForOutput(kChoices, 2));
  EXPECT_THAT(Output(), HasSubstr("sandgate: withdrawn (no answer in time): curl (pid 4242) wants "
                                  "tcp one.example"));
  EXPECT_THAT(Output(), HasSubstr("two.example"));
  Type("y");
  ASSERT_TRUE(WaitForReplies(second, 1));
  EXPECT_EQ(second.answers[0], Answer{approvals::answer::Accept{}});
  EXPECT_EQ(first.Count(), 0u);

  Replies third;
  approver_->Ask(MakeRequest("a3", "three.example"), Record(third));
  ASSERT_TRUE(WaitForOutput(kChoices, 3));
  EXPECT_TRUE(IsQuestionMode(ModeOf(slave_.Get())));
  approver_->Cancel("a3", approvals::CancelReason::kProcessExited);
  EXPECT_TRUE(ModeRestored());  // at once, not on a later loop turn
  ASSERT_TRUE(WaitForOutput("withdrawn (the process exited)"));
  RunFor(&loop_, milliseconds(50));
  EXPECT_EQ(third.Count(), 0u);
  EXPECT_EQ(approver_->Pending(), 0u);
}

TEST_F(TtyApproverTest, HangUpDeclinesWhatWaitsAndWhatComes) {
  Replies first;
  Replies second;
  AskTwo(first, second);
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
  Replies first;
  Replies second;
  AskTwo(first, second);
  Type("\x04");  // ^D: a byte like any other in this mode, and still the end
  ASSERT_TRUE(RunUntil(&loop_, [&] { return first.Count() == 1 && second.Count() == 1; }));
  EXPECT_EQ(first.answers[0], Answer{approvals::answer::Decline{}});
  EXPECT_EQ(first.sources[0], DecisionSource::kCancelled);
  EXPECT_EQ(second.sources[0], DecisionSource::kCancelled);
  EXPECT_TRUE(approver_->Ended());
  EXPECT_TRUE(WaitForOutput("no more answers from the terminal"));
  EXPECT_TRUE(ModeRestored());
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
  Type("n");
  ASSERT_TRUE(WaitForReplies(replies, 1));
}

TEST_F(TtyApproverTest, AReplyMayDestroyTheApprover) {
  bool replied = false;
  bool restored_before_reply = false;
  approver_->Ask(MakeRequest("a1"), [&](const Answer&, DecisionSource) {
    replied = true;
    restored_before_reply = ModeRestored();
    approver_.reset();
  });
  Replies queued;
  approver_->Ask(MakeRequest("a2"), Record(queued));
  ASSERT_TRUE(WaitForOutput(kChoices));
  Type("y");
  ASSERT_TRUE(RunUntil(&loop_, [&] { return replied; }));
  EXPECT_EQ(approver_, nullptr);
  EXPECT_EQ(queued.Count(), 0u);
  EXPECT_TRUE(restored_before_reply);
  EXPECT_TRUE(ModeRestored());
}

TEST_F(TtyApproverTest, CloseWithdrawsTheShownQuestionAndLaterAsksAreDeclined) {
  Replies replies;
  approver_->Ask(MakeRequest("a1"), Record(replies));
  ASSERT_TRUE(WaitForOutput(kChoices));
  ASSERT_TRUE(IsQuestionMode(ModeOf(slave_.Get())));
  approver_->Close();
  EXPECT_TRUE(ModeRestored());
  EXPECT_TRUE(WaitForOutput("withdrawn (the sandbox ended)"));
  EXPECT_EQ(replies.Count(), 0u);
  Replies later;
  approver_->Ask(MakeRequest("a2"), Record(later));
  ASSERT_EQ(later.Count(), 1u);
  EXPECT_EQ(later.sources[0], DecisionSource::kCancelled);
}

TEST_F(TtyApproverTest, DestructionRestoresTheMode) {
  Replies replies;
  approver_->Ask(MakeRequest("a1"), Record(replies));
  ASSERT_TRUE(WaitForOutput(kChoices));
  ASSERT_TRUE(IsQuestionMode(ModeOf(slave_.Get())));
  approver_.reset();
  EXPECT_TRUE(ModeRestored());
  EXPECT_EQ(replies.Count(), 0u);
}

// The safety net: a process that calls exit() while a question is shown, without closing or
// destroying its approver, leaves the terminal as it found it.
TEST(TtyApproverExitTest, ExitWhileAskingRestoresTheMode) {
  int master = -1;
  int slave = -1;
  char name[256] = {};
  if (::openpty(&master, &slave, name, nullptr, nullptr) != 0) {
    GTEST_SKIP() << "openpty: " << std::strerror(errno);
  }
  base::UniqueFd master_fd(master);
  base::UniqueFd slave_fd(slave);
  const termios before = ModeOf(slave);
  const std::string slave_name = name;
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(report[0]);
    auto* loop = new uv_loop_t;
    if (uv_loop_init(loop) != 0) _exit(10);
    auto* approver = new TtyApprover(loop, slave_name);  // never destroyed
    if (!approver->Start().Ok()) _exit(11);
    approver->Ask(MakeRequest("a1"), [](Answer, DecisionSource) { _exit(12); });
    const char asked = IsQuestionMode(ModeOf(slave)) ? 'q' : '-';
    if (::write(report[1], &asked, 1) != 1) _exit(13);
    std::exit(0);
  }
  ::close(report[1]);
  char asked = 0;
  EXPECT_EQ(::read(report[0], &asked, 1), 1);
  ::close(report[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(asked, 'q');  // the question's mode was on when the child exited
  EXPECT_TRUE(SameMode(ModeOf(slave), before));
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

TEST(RuleToSaveTest, EachKindOfDestination) {
  const auto text = [](const approvals::Destination& destination) -> std::string {
    const auto rule = RuleToSave(destination);
    if (!rule) return "none";
    // Whatever is saved reads back as the same rule.
    EXPECT_EQ(ParsedRule(rule->text), *rule);
    EXPECT_FALSE(rule->protocol.has_value());
    return rule->text;
  };
  approvals::Destination d = MakeRequest("a1", "GitHub.com.").destination;
  EXPECT_EQ(text(d), "github.com:443");
  d.host.reset();
  EXPECT_EQ(text(d), "93.184.216.34:443");
  d.address = approvals::Address::Parse("2001:db8::1");
  d.port = 53;
  d.protocol = approvals::Protocol::kUdp;
  EXPECT_EQ(text(d), "[2001:db8::1]:53");
  d.address.reset();
  EXPECT_EQ(text(d), "none");
  d.host = "bad\r\nname.example";
  EXPECT_EQ(text(d), "none");

  approvals::Destination unix;
  unix.protocol = approvals::Protocol::kUnix;
  EXPECT_EQ(text(unix), "none");
  unix.unix_path = "/var/run/docker.sock";
  EXPECT_EQ(text(unix), "unix:/var/run/docker.sock");
  unix.unix_path = "/tmp/a*b?.sock";  // a literal name, not a glob
  EXPECT_EQ(text(unix), "unix:/tmp/a\\*b\\?.sock");
  unix.unix_path.reset();
  unix.unix_abstract = "dbus-session";
  EXPECT_EQ(text(unix), "unix-abstract:dbus-session");
  unix.unix_abstract = "bus\x01name";
  EXPECT_EQ(text(unix), "none");
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
