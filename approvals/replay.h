#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "approvals/address.h"
#include "approvals/answer.h"
#include "approvals/destination.h"

namespace sandgate::approvals {

// One line of a replay file: {"expect": {...}, "decision": D}. An absent field matches
// anything, so {"expect": {}} matches every request.
struct Expectation {
  // Compared case-insensitively, trailing dot ignored, with the destination's host and each of
  // its names: which name a request shows depends on what else the command happened to resolve
  // to the same address, which a replay file cannot know.
  std::optional<std::string> host;
  std::optional<Address> address;  // v4-mapped normalized like every Address
  std::optional<std::uint16_t> port;
  std::optional<Protocol> protocol;
  // Unix socket path, or "@name" for an abstract socket (as in network/requestApproval).
  std::optional<std::string> path;
  Answer answer;
  std::size_t line = 0;  // 1-based line in the file, for messages

  [[nodiscard]] bool Matches(const Destination& destination) const;
};

// "replay line 3: unknown decision \"acept\"".
struct ReplayError {
  std::string message;
};

// The replay approver (SPEC "Replay"): expectations are consumed strictly in order. A request
// that does not match the next one is declined and counted as unexpected; it does not consume
// the expectation, so one stray request does not shift every later answer.
class ReplayApprover {
 public:
  // `content` is the whole file; blank lines are skipped, anything else must be an expectation.
  static std::variant<ReplayApprover, ReplayError> Parse(std::string_view content);

  // The answer for the next request (Decline when it is unexpected).
  Answer Next(const Destination& destination);

  // {"matched": N, "unexpected": N, "unused": N}, printed on stderr at exit.
  [[nodiscard]] nlohmann::json Summary() const;
  // Any unexpected request or unused expectation: sandgate then exits 125 unless the command
  // itself failed.
  [[nodiscard]] bool Failed() const { return !unexpected_.empty() || unused() > 0; }

  [[nodiscard]] std::size_t matched() const { return next_; }
  [[nodiscard]] std::size_t unused() const { return expectations_.size() - next_; }
  [[nodiscard]] const std::vector<Destination>& unexpected() const { return unexpected_; }

 private:
  explicit ReplayApprover(std::vector<Expectation> expectations)
      : expectations_(std::move(expectations)) {}

  std::vector<Expectation> expectations_;
  std::size_t next_ = 0;  // == number matched, since only a match advances
  std::vector<Destination> unexpected_;
};

}  // namespace sandgate::approvals
