#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "approvals/address.h"

namespace sandgate::approvals::dns {

// Which names this sandbox resolved to which addresses, so that a connect to an address can be
// matched against domain rules. One map per sandbox, filled by the DNS forwarder from the
// answers it passes on (never from what the sandbox claims). Not thread-safe: it belongs to the
// event loop thread.
//
// Entries are keyed by (name, address); Address already stores IPv4-mapped IPv6 as IPv4, so a
// connect to ::ffff:a.b.c.d finds the name recorded for a.b.c.d. Every operation is O(log n)
// except HostFor, which also steps over the expired entries of the one address it looks up.
class NameMap {
 public:
  using Clock = std::chrono::steady_clock;

  struct Limits {
    std::size_t capacity = 4096;
    // A TTL-0 answer must still attribute the connect that follows it right away.
    std::chrono::seconds min_ttl{5};
    // Past this an answer is stale whatever the upstream said.
    std::chrono::seconds max_ttl{86400};
  };

  NameMap();
  explicit NameMap(Limits limits);

  // The sandbox resolved `name` and got `address`, valid for `ttl` seconds from `now` (clamped to
  // [min_ttl, max_ttl]; min_ttl wins if the limits cross). The name is stored lowercase without
  // a trailing dot; an empty name (the root) is ignored. Recording a (name, address) again
  // refreshes it: new expiry, and it becomes the most recent. When the map is full, expired
  // entries go first, then the least recently recorded.
  void Record(std::string_view name, const Address& address, std::uint32_t ttl,
              Clock::time_point now);

  // The name most recently recorded for `address` whose entry has not expired at `now` (an
  // entry is valid while now < recorded + ttl); nullopt if there is none.
  [[nodiscard]] std::optional<std::string> HostFor(const Address& address,
                                                   Clock::time_point now) const;

  // Entries held, including expired ones not yet evicted.
  [[nodiscard]] std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Address address;
    std::string name;
    Clock::time_point expiry;
  };

  void Erase(std::uint64_t sequence);
  void MakeRoom(Clock::time_point now);

  Limits limits_;
  // Sequence numbers grow with every Record, so they order entries by recency.
  std::uint64_t next_sequence_ = 0;
  // The entries by sequence: begin() is the least recently recorded.
  std::map<std::uint64_t, Entry> entries_;
  // (address, name) -> sequence, to refresh an entry that is recorded again.
  std::map<std::pair<Address, std::string>, std::uint64_t> by_key_;
  // (address, sequence), ordered so that an address's most recent entry comes last.
  std::set<std::pair<Address, std::uint64_t>> by_address_;
  // (expiry, sequence): begin() expires first.
  std::set<std::pair<Clock::time_point, std::uint64_t>> by_expiry_;
};

}  // namespace sandgate::approvals::dns
