#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sandgate::approvals {

// "SIGTERM", "SIGRTMIN+2"; nullopt for a number that is no signal. For sandbox/exited.
[[nodiscard]] std::optional<std::string> SignalName(int signal);

// "SIGTERM" or "TERM" (any case) to its number; nullopt for unknown names. For
// sandbox/terminate. Realtime signals are not accepted by name: a controller sends the number.
[[nodiscard]] std::optional<int> SignalNumber(std::string_view name);

}  // namespace sandgate::approvals
