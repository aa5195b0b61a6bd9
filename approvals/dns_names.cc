#include "approvals/dns_names.h"

#include <algorithm>
#include <iterator>
#include <limits>

#include "approvals/domain.h"

namespace sandgate::approvals::dns {

NameMap::NameMap() : NameMap(Limits{}) {}

NameMap::NameMap(Limits limits) : limits_(limits) {}

void NameMap::Record(std::string_view name, const Address& address, std::uint32_t ttl,
                     Clock::time_point now) {
  std::string canonical = CanonicalHostName(name);
  if (canonical.empty() || limits_.capacity == 0) {
    return;
  }
  // Not std::clamp: its result is undefined when the limits cross.
  std::chrono::seconds lifetime{ttl};
  lifetime = std::max(std::min(lifetime, limits_.max_ttl), limits_.min_ttl);
  const Clock::time_point expiry = now + lifetime;

  auto key = std::make_pair(address, std::move(canonical));
  if (const auto existing = by_key_.find(key); existing != by_key_.end()) {
    Erase(existing->second);
  } else if (entries_.size() >= limits_.capacity) {
    MakeRoom(now);
  }
  const std::uint64_t sequence = next_sequence_++;
  entries_.emplace(sequence, Entry{address, key.second, expiry});
  by_address_.emplace(address, sequence);
  by_expiry_.emplace(expiry, sequence);
  by_key_.emplace(std::move(key), sequence);
}

template <typename Visit>
void NameMap::ForLiveNames(const Address& address, Clock::time_point now, Visit visit) const {
  // Sequence numbers never reach the maximum, so this is the first entry past `address`.
  auto it = by_address_.upper_bound({address, std::numeric_limits<std::uint64_t>::max()});
  while (it != by_address_.begin()) {
    --it;
    if (it->first != address) {
      break;
    }
    const Entry& entry = entries_.at(it->second);
    if (now < entry.expiry && !visit(entry)) {
      return;
    }
  }
}

std::vector<std::string> NameMap::NamesFor(const Address& address, Clock::time_point now) const {
  // by_key_ holds one entry per (address, name), so no name can come twice.
  std::vector<std::string> names;
  ForLiveNames(address, now, [&names](const Entry& entry) {
    names.push_back(entry.name);
    return names.size() < kMaxNamesPerAddress;
  });
  return names;
}

std::optional<std::string> NameMap::HostFor(const Address& address, Clock::time_point now) const {
  std::optional<std::string> host;
  ForLiveNames(address, now, [&host](const Entry& entry) {
    host = entry.name;
    return false;
  });
  return host;
}

void NameMap::AttributeNames(Destination& destination, Clock::time_point now) const {
  destination.names.clear();
  destination.host.reset();
  if (!destination.address) {
    return;
  }
  destination.names = NamesFor(*destination.address, now);
  if (!destination.names.empty()) {
    destination.host = destination.names.front();
  }
}

void NameMap::Erase(std::uint64_t sequence) {
  const auto it = entries_.find(sequence);
  if (it == entries_.end()) {
    return;
  }
  const Entry& entry = it->second;
  by_key_.erase(std::make_pair(entry.address, entry.name));
  by_address_.erase({entry.address, sequence});
  by_expiry_.erase({entry.expiry, sequence});
  entries_.erase(it);
}

void NameMap::MakeRoom(Clock::time_point now) {
  // Every entry is erased at most once, so dropping all expired ones here is amortized O(log n).
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
    Erase(by_expiry_.begin()->second);
  }
  while (!entries_.empty() && entries_.size() >= limits_.capacity) {
    Erase(entries_.begin()->first);
  }
}

}  // namespace sandgate::approvals::dns
