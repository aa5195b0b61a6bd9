#pragma once

#include <string_view>

namespace sandgate::approvals {

// What finally happened to a mediated attempt (network/decision "decision", audit "decision").
enum class Decision { kAllow, kDeny, kRoute };

// Who decided (network/decision "source", audit "source").
enum class DecisionSource { kPolicy, kUser, kSession, kTimeout, kDefault, kCancelled };

[[nodiscard]] std::string_view DecisionName(Decision decision);
[[nodiscard]] std::string_view DecisionSourceName(DecisionSource source);

}  // namespace sandgate::approvals
