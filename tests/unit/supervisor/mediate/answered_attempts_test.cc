#include "supervisor/mediate/answered_attempts.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>

namespace sandgate::supervisor {
namespace {

AttemptSignature Connect(int fd, const char* address, std::uint16_t port) {
  AttemptSignature s;
  s.syscall = SYS_connect;
  s.fd = fd;
  s.destination.address = approvals::Address::Parse(address).value();
  s.destination.port = port;
  return s;
}

AnsweredAttempt Allowed(AttemptSignature signature) {
  AnsweredAttempt a;
  a.signature = std::move(signature);
  a.decision = approvals::Decision::kAllow;
  a.source = approvals::DecisionSource::kUser;
  return a;
}

TEST(AnsweredAttemptsTest, TheRestartOfTheSameAttemptGetsTheAnswerOnce) {
  AnsweredAttempts table;
  table.Remember(42, Allowed(Connect(5, "127.0.0.1", 80)));
  EXPECT_FALSE(table.TakeFor(43, Connect(5, "127.0.0.1", 80)));  // another thread
  auto taken = table.TakeFor(42, Connect(5, "127.0.0.1", 80));
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->decision, approvals::Decision::kAllow);
  EXPECT_FALSE(table.TakeFor(42, Connect(5, "127.0.0.1", 80)));
  EXPECT_TRUE(table.Empty());
}

TEST(AnsweredAttemptsTest, ADifferentAttemptOfTheThreadForgetsIt) {
  for (const auto& other : {Connect(6, "127.0.0.1", 80), Connect(5, "127.0.0.2", 80),
                            Connect(5, "127.0.0.1", 81)}) {
    AnsweredAttempts table;
    table.Remember(42, Allowed(Connect(5, "127.0.0.1", 80)));
    EXPECT_FALSE(table.TakeFor(42, other));
    EXPECT_TRUE(table.Empty());
  }
  AnsweredAttempts table;
  table.Remember(42, Allowed(Connect(5, "127.0.0.1", 80)));
  AttemptSignature send = Connect(5, "127.0.0.1", 80);
  send.syscall = SYS_sendto;
  EXPECT_FALSE(table.TakeFor(42, send));
}

TEST(AnsweredAttemptsTest, NamesDoNotMakeAnotherAttempt) {
  AnsweredAttempts table;
  table.Remember(42, Allowed(Connect(5, "127.0.0.1", 80)));
  AttemptSignature named = Connect(5, "127.0.0.1", 80);
  named.destination.host = "example.test";
  named.destination.names = {"example.test"};
  EXPECT_TRUE(table.TakeFor(42, named));
}

TEST(AnsweredAttemptsTest, AnInstalledAttemptIsFoundByItsSocket) {
  AnsweredAttempts table;
  auto installed = Allowed(Connect(5, "127.0.0.1", 80));
  installed.installed = 77;
  installed.result = 0;
  table.Remember(42, std::move(installed));
  EXPECT_FALSE(table.TakeInstalled(42, SYS_connect, 5, 78));  // another socket: forgotten
  EXPECT_TRUE(table.Empty());

  auto again = Allowed(Connect(5, "127.0.0.1", 80));
  again.installed = 77;
  table.Remember(42, std::move(again));
  EXPECT_FALSE(table.TakeInstalled(42, SYS_sendto, 5, 77));  // another call: forgotten
  auto third = Allowed(Connect(5, "127.0.0.1", 80));
  third.installed = 77;
  table.Remember(42, std::move(third));
  auto taken = table.TakeInstalled(42, SYS_connect, 5, 77);
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->installed, 77u);
  EXPECT_TRUE(table.Empty());
  // A decision that was not carried out yet is not an installed one.
  table.Remember(42, Allowed(Connect(5, "127.0.0.1", 80)));
  EXPECT_FALSE(table.TakeInstalled(42, SYS_connect, 5, 77));
  EXPECT_FALSE(table.Empty());
}

TEST(AnsweredAttemptsTest, EntriesExpire) {
  AnsweredAttempts table;
  table.Remember(42, Allowed(Connect(5, "127.0.0.1", 80)));
  table.Expire(std::chrono::steady_clock::now());
  EXPECT_FALSE(table.Empty());
  table.Expire(std::chrono::steady_clock::now() + AnsweredAttempts::kKeep);
  EXPECT_TRUE(table.Empty());
}

}  // namespace
}  // namespace sandgate::supervisor
