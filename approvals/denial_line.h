#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "approvals/decision.h"
#include "approvals/destination.h"

namespace sandgate::approvals {

// The line a denied attempt puts on the command's stderr (--explain-denials), so that a person
// or a model reading the command's output can tell a policy denial from a server that is down.
// The wording is part of the interface (SPEC "Denial lines"); agents match on it:
//
//   sandgate: denied tcp connect to api.example.com:443 (no rule; a person can allow it with --allow api.example.com:443)
//   sandgate: denied udp send to 8.8.8.8:53 (deny rule 8.8.8.8)
//   sandgate: denied unix connect to /run/docker.sock (declined when asked)
//   sandgate: refused DNS lookup of tracker.example (deny rule **.tracker.example)
//
// "sandgate: denied PROTOCOL connect|send to TARGET (WHY)", TARGET being the host name when
// known, else the address ([v6] in brackets), with ":PORT"; a unix path, or "@NAME" for an
// abstract name; for a DNS query the forwarder refused, "sandgate: refused DNS lookup of NAME
// (WHY)". Untrusted bytes (names, paths) have their control bytes escaped.

enum class AttemptKind { kConnect, kSend, kNameLookup };

struct DenialFacts {
  Destination destination;
  AttemptKind kind = AttemptKind::kConnect;
  DecisionSource source = DecisionSource::kDefault;
  std::optional<std::string> rule;  // the deny rule that matched, when one did
  std::chrono::seconds timeout{0};  // source kTimeout: how long the approver had
  // Set when the denial is sandgate's own limit rather than a decision (replaces WHY).
  std::optional<std::string> why;
};

// The line, with its trailing newline.
[[nodiscard]] std::string DenialLine(const DenialFacts& facts);

// What "once per destination" means: protocol, target and port (a name lookup: the name).
[[nodiscard]] std::string DenialKey(const Destination& destination, AttemptKind kind);

// The rule a person would add to allow `destination` (host name when known, else the address,
// with its port; unix:PATH; unix-abstract:NAME; for a name lookup the name alone).
[[nodiscard]] std::string SuggestedAllowRule(const Destination& destination, AttemptKind kind);

}  // namespace sandgate::approvals
