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
#include <vector>

#include "approvals/address.h"
#include "approvals/destination.h"

namespace sandgate::approvals::dns {

// Which names this sandbox resolved to which addresses, so that a connect to an address can be
// matched against domain rules. One map per sandbox, filled by the DNS forwarder from the
// answers it passes on (never from what the sandbox claims). Not thread-safe: it belongs to the
// event loop thread.
//
// Entries are keyed by (name, address); Address already stores IPv4-mapped IPv6 as IPv4, so a
// connect to ::ffff:a.b.c.d finds the names recorded for a.b.c.d. Every operation is O(log n)
// except the lookups (NamesFor, HostFor), which also step over the expired entries of the one
// address they look up.
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

  // At most this many names per address leave a lookup. CDNs and shared hosting put many
  // names on one address; a command that resolves thousands of names to one address (on purpose
  // or not) must not make every connect to it carry and match them all. Dropping the oldest
  // costs at worst a prompt for a domain rule about a name resolved long before 16 others.
  static constexpr std::size_t kMaxNamesPerAddress = 16;

  // Every name recorded for `address` whose entry has not expired at `now` (an entry is valid
  // while now < recorded + ttl), most recently recorded first, at most kMaxNamesPerAddress of
  // them (the most recent ones). Each name appears once. Empty if there is none. The map's
  // capacity, eviction and TTLs are unaffected by the bound: it only limits what is returned.
  [[nodiscard]] std::vector<std::string> NamesFor(const Address& address,
                                                  Clock::time_point now) const;

  // The first of NamesFor(address, now): the name most recently recorded for `address` that has
  // not expired; nullopt if there is none.
  [[nodiscard]] std::optional<std::string> HostFor(const Address& address,
                                                   Clock::time_point now) const;

  // What the supervisor fills in for a connect to destination.address: `names` from NamesFor,
  // and `host` the most recent of them (Engine::Decide's matched_host may then replace it with
  // the name the deciding rule matched). Both are cleared when the address is unknown or has no
  // live name. One `now` for both, so that the host is always one of the names.
  void AttributeNames(Destination& destination, Clock::time_point now) const;

  // Entries held, including expired ones not yet evicted.
  [[nodiscard]] std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Address address;
    std::string name;
    Clock::time_point expiry;
  };

  // Calls `visit(entry)` for the unexpired entries of `address`, most recent first, until it
  // returns false.
  template <typename Visit>
  void ForLiveNames(const Address& address, Clock::time_point now, Visit visit) const;
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
