#include "approvals/pending.h"

#include <gtest/gtest.h>

#include <vector>

#include "test_util.h"

namespace sandgate::approvals {
namespace {

using testing::AddrDest;
using testing::HostAddrDest;
using testing::HostDest;
using testing::UnixAbstractDest;
using testing::UnixPathDest;

TEST(PendingKeyTest, HostBeatsAddress) {
  const PendingKey a = PendingKeyFor(HostAddrDest("github.com", "140.82.112.3", 443));
  const PendingKey b = PendingKeyFor(HostAddrDest("GitHub.com.", "140.82.112.4", 443));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.kind, PendingTargetKind::kHost);
  EXPECT_EQ(a.target, "github.com");
  EXPECT_EQ(a.port, 443);
}

TEST(PendingKeyTest, AddressWhenNoHost) {
  const PendingKey key = PendingKeyFor(AddrDest("::ffff:10.0.0.1", 80));
  EXPECT_EQ(key.kind, PendingTargetKind::kAddress);
  EXPECT_EQ(key.target, "10.0.0.1");
  EXPECT_EQ(key, PendingKeyFor(AddrDest("10.0.0.1", 80)));
}

TEST(PendingKeyTest, DistinguishesProtocolPortAndKind) {
  EXPECT_NE(PendingKeyFor(HostDest("a.com", 53, Protocol::kTcp)),
            PendingKeyFor(HostDest("a.com", 53, Protocol::kUdp)));
  EXPECT_NE(PendingKeyFor(HostDest("a.com", 53)), PendingKeyFor(HostDest("a.com", 54)));
  EXPECT_NE(PendingKeyFor(UnixPathDest("/x")), PendingKeyFor(UnixAbstractDest("/x")));
  EXPECT_EQ(PendingKeyFor(UnixPathDest("/run//x.sock")),
            PendingKeyFor(UnixPathDest("/run/x.sock")));
}

TEST(PendingTableTest, IdenticalRequestsShareOnePrompt) {
  PendingTable table;
  const PendingKey key = PendingKeyFor(HostDest("github.com", 443));
  const PendingAdd first = table.Add(key, 1);
  EXPECT_EQ(first.need, PromptNeed::kSendPrompt);
  EXPECT_EQ(first.approval_id, "a1");
  const PendingAdd second = table.Add(key, 2);
  EXPECT_EQ(second.need, PromptNeed::kJoinedExisting);
  EXPECT_EQ(second.approval_id, "a1");
  const PendingAdd other = table.Add(PendingKeyFor(HostDest("github.com", 22)), 3);
  EXPECT_EQ(other.need, PromptNeed::kSendPrompt);
  EXPECT_EQ(other.approval_id, "a2");
  EXPECT_EQ(table.prompt_count(), 2u);
  EXPECT_EQ(table.request_count(), 3u);
  EXPECT_EQ(table.ApprovalIdOf(2), "a1");
  ASSERT_NE(table.KeyOf("a1"), nullptr);
  EXPECT_EQ(*table.KeyOf("a1"), key);
}

TEST(PendingTableTest, ResolveReturnsAllWaitersInOrderOnce) {
  PendingTable table;
  const PendingKey key = PendingKeyFor(AddrDest("1.2.3.4", 80));
  table.Add(key, 7);
  table.Add(key, 3);
  table.Add(key, 5);
  EXPECT_EQ(table.Resolve("a1"), (std::vector<RequestId>{7, 3, 5}));
  EXPECT_TRUE(table.Resolve("a1").empty());
  EXPECT_TRUE(table.Resolve("nope").empty());
  EXPECT_EQ(table.prompt_count(), 0u);
  EXPECT_EQ(table.request_count(), 0u);
  EXPECT_FALSE(table.ApprovalIdOf(7).has_value());
  // A later identical request is a new question with a new id.
  const PendingAdd again = table.Add(key, 8);
  EXPECT_EQ(again.need, PromptNeed::kSendPrompt);
  EXPECT_EQ(again.approval_id, "a2");
}

TEST(PendingTableTest, RemovingTheLastWaiterOrphansThePrompt) {
  PendingTable table;
  const PendingKey key = PendingKeyFor(HostDest("github.com", 443));
  table.Add(key, 1);
  table.Add(key, 2);
  const auto first = table.Remove(1);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->approval_id, "a1");
  EXPECT_EQ(first->prompt, PromptState::kStillWaited);
  EXPECT_EQ(table.prompt_count(), 1u);

  const auto last = table.Remove(2);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->approval_id, "a1");
  EXPECT_EQ(last->prompt, PromptState::kOrphaned);
  EXPECT_EQ(table.prompt_count(), 0u);
  EXPECT_EQ(table.KeyOf("a1"), nullptr);
  // A late answer to the cancelled prompt finds no one.
  EXPECT_TRUE(table.Resolve("a1").empty());
  EXPECT_FALSE(table.Remove(2).has_value());
  // And its id is not reused.
  EXPECT_EQ(table.Add(key, 3).approval_id, "a2");
}

TEST(PendingTableTest, ResolveSkipsRemovedWaiters) {
  PendingTable table;
  const PendingKey key = PendingKeyFor(HostDest("github.com", 443));
  table.Add(key, 1);
  table.Add(key, 2);
  table.Add(key, 3);
  ASSERT_TRUE(table.Remove(2).has_value());
  EXPECT_EQ(table.Resolve("a1"), (std::vector<RequestId>{1, 3}));
}

TEST(PendingTableTest, AddingTheSameRequestTwiceChangesNothing) {
  PendingTable table;
  const PendingKey key = PendingKeyFor(HostDest("github.com", 443));
  table.Add(key, 1);
  const PendingAdd again = table.Add(PendingKeyFor(HostDest("other.com", 443)), 1);
  EXPECT_EQ(again.need, PromptNeed::kJoinedExisting);
  EXPECT_EQ(again.approval_id, "a1");
  EXPECT_EQ(table.prompt_count(), 1u);
  EXPECT_EQ(table.Resolve("a1"), (std::vector<RequestId>{1}));
}

}  // namespace
}  // namespace sandgate::approvals
