#include "approvals/dns_names.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "test_util.h"

namespace sandgate::approvals::dns {
namespace {

using std::chrono::seconds;
using testing::Addr;
using Names = std::vector<std::string>;

const NameMap::Clock::time_point kStart = NameMap::Clock::time_point{} + std::chrono::hours(1000);

NameMap::Clock::time_point At(int s) { return kStart + seconds(s); }

TEST(NameMapTest, RecordsAndLooksUp) {
  NameMap map;
  map.Record("example.com", Addr("93.184.216.34"), 300, At(0));
  map.Record("example.com", Addr("2606:2800:220:1::1"), 300, At(0));
  EXPECT_EQ(map.HostFor(Addr("93.184.216.34"), At(1)), "example.com");
  EXPECT_EQ(map.HostFor(Addr("2606:2800:220:1::1"), At(1)), "example.com");
  EXPECT_EQ(map.HostFor(Addr("93.184.216.35"), At(1)), std::nullopt);
  EXPECT_EQ(map.size(), 2u);
}

TEST(NameMapTest, NamesAreStoredCanonicalAndTheRootIsIgnored) {
  NameMap map;
  map.Record("WWW.Example.COM.", Addr("192.0.2.1"), 60, At(0));
  EXPECT_EQ(map.HostFor(Addr("192.0.2.1"), At(0)), "www.example.com");
  map.Record("", Addr("192.0.2.2"), 60, At(0));
  map.Record(".", Addr("192.0.2.2"), 60, At(0));
  EXPECT_EQ(map.HostFor(Addr("192.0.2.2"), At(0)), std::nullopt);
  EXPECT_EQ(map.size(), 1u);
}

TEST(NameMapTest, EntriesExpireAfterTheirTtl) {
  NameMap map;
  map.Record("a.example", Addr("192.0.2.1"), 60, At(0));
  EXPECT_EQ(map.HostFor(Addr("192.0.2.1"), At(59)), "a.example");
  EXPECT_EQ(map.HostFor(Addr("192.0.2.1"), At(60)), std::nullopt);
  EXPECT_EQ(map.HostFor(Addr("192.0.2.1"), At(-1)), "a.example");  // clocks are monotonic anyway
}

TEST(NameMapTest, TtlIsClamped) {
  NameMap map;
  // TTL 0: the connect that follows the answer must still be attributed.
  map.Record("zero.example", Addr("192.0.2.1"), 0, At(0));
  EXPECT_EQ(map.HostFor(Addr("192.0.2.1"), At(4)), "zero.example");
  EXPECT_EQ(map.HostFor(Addr("192.0.2.1"), At(5)), std::nullopt);
  // At most a day.
  map.Record("long.example", Addr("192.0.2.2"), 0xffffffffU, At(0));
  EXPECT_EQ(map.HostFor(Addr("192.0.2.2"), At(86399)), "long.example");
  EXPECT_EQ(map.HostFor(Addr("192.0.2.2"), At(86400)), std::nullopt);
}

TEST(NameMapTest, CustomLimitsAndCrossedLimits) {
  NameMap map(NameMap::Limits{.capacity = 10, .min_ttl = seconds(1), .max_ttl = seconds(10)});
  map.Record("a.example", Addr("192.0.2.1"), 0, At(0));
  EXPECT_EQ(map.HostFor(Addr("192.0.2.1"), At(1)), std::nullopt);
  map.Record("b.example", Addr("192.0.2.2"), 100, At(0));
  EXPECT_EQ(map.HostFor(Addr("192.0.2.2"), At(9)), "b.example");
  EXPECT_EQ(map.HostFor(Addr("192.0.2.2"), At(10)), std::nullopt);

  NameMap crossed(NameMap::Limits{.capacity = 10, .min_ttl = seconds(20), .max_ttl = seconds(10)});
  crossed.Record("c.example", Addr("192.0.2.3"), 5, At(0));
  EXPECT_EQ(crossed.HostFor(Addr("192.0.2.3"), At(19)), "c.example");
  EXPECT_EQ(crossed.HostFor(Addr("192.0.2.3"), At(20)), std::nullopt);
}

TEST(NameMapTest, RecordingAgainRefreshes) {
  NameMap map;
  map.Record("a.example", Addr("192.0.2.1"), 10, At(0));
  map.Record("a.example", Addr("192.0.2.1"), 10, At(8));
  EXPECT_EQ(map.size(), 1u);
  EXPECT_EQ(map.HostFor(Addr("192.0.2.1"), At(17)), "a.example");
  EXPECT_EQ(map.HostFor(Addr("192.0.2.1"), At(18)), std::nullopt);
  // A shorter TTL on refresh shortens the entry: the newest answer is the truth.
  map.Record("a.example", Addr("192.0.2.1"), 5, At(10));
  EXPECT_EQ(map.HostFor(Addr("192.0.2.1"), At(15)), std::nullopt);
}

TEST(NameMapTest, MostRecentLiveNameWins) {
  NameMap map;
  const Address shared = Addr("203.0.113.10");
  map.Record("first.example", shared, 300, At(0));
  map.Record("second.example", shared, 30, At(1));
  EXPECT_EQ(map.HostFor(shared, At(2)), "second.example");
  // Recording the first again makes it the most recent.
  map.Record("first.example", shared, 300, At(3));
  EXPECT_EQ(map.HostFor(shared, At(4)), "first.example");
  // A newer name that expired gives way to an older one that has not.
  map.Record("third.example", shared, 5, At(10));
  EXPECT_EQ(map.HostFor(shared, At(11)), "third.example");
  EXPECT_EQ(map.HostFor(shared, At(16)), "first.example");
  EXPECT_EQ(map.HostFor(shared, At(400)), std::nullopt);
}

TEST(NameMapTest, V4MappedAndV4AreTheSameAddress) {
  NameMap map;
  map.Record("mapped.example", Addr("::ffff:198.51.100.7"), 60, At(0));
  EXPECT_EQ(map.HostFor(Addr("198.51.100.7"), At(0)), "mapped.example");
  map.Record("plain.example", Addr("198.51.100.8"), 60, At(0));
  EXPECT_EQ(map.HostFor(Addr("::ffff:198.51.100.8"), At(0)), "plain.example");
  // But not the IPv4-compatible or other IPv6 spellings.
  EXPECT_EQ(map.HostFor(Addr("::198.51.100.8"), At(0)), std::nullopt);
}

TEST(NameMapTest, NamesForListsEveryLiveNameMostRecentFirst) {
  NameMap map;
  const Address shared = Addr("203.0.113.10");
  map.Record("a.example", shared, 300, At(0));
  map.Record("b.example", shared, 300, At(1));
  map.Record("c.example", shared, 300, At(2));
  map.Record("other.example", Addr("203.0.113.11"), 300, At(3));
  EXPECT_EQ(map.NamesFor(shared, At(4)), (Names{"c.example", "b.example", "a.example"}));
  // Recording a name again moves it to the front instead of listing it twice.
  map.Record("A.Example.", shared, 300, At(5));
  EXPECT_EQ(map.NamesFor(shared, At(6)), (Names{"a.example", "c.example", "b.example"}));
  EXPECT_EQ(map.HostFor(shared, At(6)), "a.example");
  EXPECT_EQ(map.NamesFor(Addr("203.0.113.11"), At(6)), (Names{"other.example"}));
  EXPECT_EQ(map.NamesFor(Addr("203.0.113.12"), At(6)), Names{});
}

TEST(NameMapTest, NamesForLeavesOutExpiredNames) {
  NameMap map;
  const Address shared = Addr("203.0.113.10");
  map.Record("long.example", shared, 300, At(0));
  map.Record("short.example", shared, 10, At(1));
  map.Record("mid.example", shared, 60, At(2));
  EXPECT_EQ(map.NamesFor(shared, At(10)), (Names{"mid.example", "short.example", "long.example"}));
  // short.example is valid while now < 1 + 10.
  EXPECT_EQ(map.NamesFor(shared, At(11)), (Names{"mid.example", "long.example"}));
  EXPECT_EQ(map.NamesFor(shared, At(62)), (Names{"long.example"}));
  EXPECT_EQ(map.NamesFor(shared, At(300)), Names{});
  // Expired entries stay until room is needed; only the lookup skips them.
  EXPECT_EQ(map.size(), 3u);
}

TEST(NameMapTest, NamesForIsBoundedToTheMostRecentLiveNames) {
  const std::size_t bound = NameMap::kMaxNamesPerAddress;
  NameMap map;
  const Address shared = Addr("198.51.100.1");
  // `bound` old names that live long, then `bound` newer ones that expire first.
  for (std::size_t i = 0; i < 2 * bound; ++i) {
    const std::uint32_t ttl = i < bound ? 3600 : 60;
    map.Record("n" + std::to_string(i) + ".example", shared, ttl, At(static_cast<int>(i)));
  }
  // The bound limits lookups only: every entry is still held.
  EXPECT_EQ(map.size(), 2 * bound);

  const Names newest = map.NamesFor(shared, At(40));
  ASSERT_EQ(newest.size(), bound);
  for (std::size_t k = 0; k < bound; ++k) {
    EXPECT_EQ(newest[k], "n" + std::to_string(2 * bound - 1 - k) + ".example") << k;
  }
  // Once the newer names expire the older ones are not hidden by the bound.
  const Names older = map.NamesFor(shared, At(1000));
  ASSERT_EQ(older.size(), bound);
  for (std::size_t k = 0; k < bound; ++k) {
    EXPECT_EQ(older[k], "n" + std::to_string(bound - 1 - k) + ".example") << k;
  }
  EXPECT_EQ(map.HostFor(shared, At(1000)), older.front());
}

TEST(NameMapTest, NamesForTreatsV4MappedAndV4AsOneAddress) {
  NameMap map;
  map.Record("mapped.example", Addr("::ffff:198.51.100.7"), 60, At(0));
  map.Record("plain.example", Addr("198.51.100.7"), 60, At(1));
  const Names both{"plain.example", "mapped.example"};
  EXPECT_EQ(map.NamesFor(Addr("198.51.100.7"), At(2)), both);
  EXPECT_EQ(map.NamesFor(Addr("::ffff:198.51.100.7"), At(2)), both);
  EXPECT_EQ(map.NamesFor(Addr("::198.51.100.7"), At(2)), Names{});
}

TEST(NameMapTest, AttributeNamesFillsNamesAndTheLatestAsHost) {
  NameMap map;
  map.Record("a.example", Addr("203.0.113.10"), 300, At(0));
  map.Record("b.example", Addr("203.0.113.10"), 10, At(1));
  Destination d;
  d.address = Addr("::ffff:203.0.113.10");
  d.port = 443;
  map.AttributeNames(d, At(2));
  EXPECT_EQ(d.names, (Names{"b.example", "a.example"}));
  EXPECT_EQ(d.host, "b.example");
  // Whatever was there before is replaced, not merged.
  map.AttributeNames(d, At(20));
  EXPECT_EQ(d.names, (Names{"a.example"}));
  EXPECT_EQ(d.host, "a.example");
  map.AttributeNames(d, At(400));
  EXPECT_EQ(d.names, Names{});
  EXPECT_EQ(d.host, std::nullopt);
  Destination no_address;
  no_address.host = "stale.example";
  no_address.names = {"stale.example"};
  map.AttributeNames(no_address, At(2));
  EXPECT_EQ(no_address.host, std::nullopt);
  EXPECT_TRUE(no_address.names.empty());
}

TEST(NameMapTest, FullMapEvictsExpiredEntriesFirst) {
  NameMap map(NameMap::Limits{.capacity = 3});
  map.Record("old.example", Addr("192.0.2.1"), 3600, At(0));
  map.Record("short.example", Addr("192.0.2.2"), 5, At(1));
  map.Record("mid.example", Addr("192.0.2.3"), 3600, At(2));
  map.Record("new.example", Addr("192.0.2.4"), 3600, At(10));  // short.example has expired
  EXPECT_EQ(map.size(), 3u);
  EXPECT_EQ(map.HostFor(Addr("192.0.2.1"), At(10)), "old.example");
  EXPECT_EQ(map.HostFor(Addr("192.0.2.3"), At(10)), "mid.example");
  EXPECT_EQ(map.HostFor(Addr("192.0.2.4"), At(10)), "new.example");
}

TEST(NameMapTest, FullMapEvictsTheLeastRecentlyRecorded) {
  NameMap map(NameMap::Limits{.capacity = 2});
  map.Record("a.example", Addr("192.0.2.1"), 60, At(0));
  map.Record("b.example", Addr("192.0.2.2"), 60, At(0));
  map.Record("a.example", Addr("192.0.2.1"), 60, At(1));  // refresh: b is now the oldest
  map.Record("c.example", Addr("192.0.2.3"), 60, At(2));
  EXPECT_EQ(map.size(), 2u);
  EXPECT_EQ(map.HostFor(Addr("192.0.2.1"), At(2)), "a.example");
  EXPECT_EQ(map.HostFor(Addr("192.0.2.2"), At(2)), std::nullopt);
  EXPECT_EQ(map.HostFor(Addr("192.0.2.3"), At(2)), "c.example");
}

TEST(NameMapTest, StaysWithinCapacity) {
  NameMap map(NameMap::Limits{.capacity = 100});
  for (int i = 0; i < 1000; ++i) {
    map.Record("n" + std::to_string(i) + ".example",
               Addr("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256)), 60,
               At(i % 7));
  }
  EXPECT_EQ(map.size(), 100u);
  EXPECT_EQ(map.HostFor(Addr("10.0.3.231"), At(7)), "n999.example");
  EXPECT_EQ(map.HostFor(Addr("10.0.0.0"), At(7)), std::nullopt);

  NameMap none(NameMap::Limits{.capacity = 0});
  none.Record("a.example", Addr("192.0.2.1"), 60, At(0));
  EXPECT_EQ(none.size(), 0u);
  EXPECT_EQ(none.HostFor(Addr("192.0.2.1"), At(0)), std::nullopt);
}

}  // namespace
}  // namespace sandgate::approvals::dns
