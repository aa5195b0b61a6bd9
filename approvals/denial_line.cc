#include "approvals/denial_line.h"

#include "approvals/message_text.h"

namespace sandgate::approvals {
namespace {

std::string HostPart(const Destination& destination) {
  if (destination.host) return EscapeControlBytes(*destination.host);
  if (!destination.address) return "?";
  if (destination.address->family() == AddressFamily::kInet6) {
    return "[" + destination.address->ToString() + "]";
  }
  return destination.address->ToString();
}

std::string Target(const Destination& destination) {
  if (destination.unix_path) return EscapeControlBytes(*destination.unix_path);
  if (destination.unix_abstract) return "@" + EscapeControlBytes(*destination.unix_abstract);
  return HostPart(destination) + ":" + std::to_string(destination.port);
}

std::string Why(const DenialFacts& facts) {
  if (facts.why) return *facts.why;
  const std::string allow =
      "a person can allow it with --allow " + SuggestedAllowRule(facts.destination, facts.kind);
  switch (facts.source) {
    case DecisionSource::kPolicy:
      return facts.rule ? "deny rule " + EscapeControlBytes(*facts.rule) : "denied by policy";
    case DecisionSource::kSession:
      return "declined earlier in this session";
    case DecisionSource::kUser:
      return "declined when asked";
    case DecisionSource::kTimeout:
      return "no answer within " + std::to_string(facts.timeout.count()) + " s; " + allow;
    case DecisionSource::kCancelled:
      return "nobody is left to ask; " + allow;
    case DecisionSource::kDefault:
      break;
  }
  return "no rule; " + allow;
}

}  // namespace

std::string SuggestedAllowRule(const Destination& destination, AttemptKind kind) {
  if (kind == AttemptKind::kNameLookup) return HostPart(destination);
  if (destination.unix_path) return "unix:" + EscapeControlBytes(*destination.unix_path);
  if (destination.unix_abstract) {
    return "unix-abstract:" + EscapeControlBytes(*destination.unix_abstract);
  }
  return HostPart(destination) + ":" + std::to_string(destination.port);
}

std::string DenialKey(const Destination& destination, AttemptKind kind) {
  if (kind == AttemptKind::kNameLookup) return "dns " + HostPart(destination);
  return std::string(ProtocolName(destination.protocol)) + " " + Target(destination);
}

std::string DenialLine(const DenialFacts& facts) {
  if (facts.kind == AttemptKind::kNameLookup) {
    return "sandgate: refused DNS lookup of " + HostPart(facts.destination) + " (" + Why(facts) +
           ")\n";
  }
  const char* verb = facts.kind == AttemptKind::kConnect ? "connect" : "send";
  return "sandgate: denied " + std::string(ProtocolName(facts.destination.protocol)) + " " + verb +
         " to " + Target(facts.destination) + " (" + Why(facts) + ")\n";
}

}  // namespace sandgate::approvals
