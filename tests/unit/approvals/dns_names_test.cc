#include "approvals/dns_names.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

#include "test_util.h"

namespace sandgate::approvals::dns {
namespace {

using std::chrono::seconds;
using testing::Addr;

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
