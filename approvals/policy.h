#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "approvals/destination.h"
#include "approvals/rule.h"

namespace sandgate::approvals {

// The three kinds of rule; SPEC precedence is deny > route > allow.
enum class RuleAction { kAllow, kDeny, kRoute };

[[nodiscard]] std::string_view RuleActionName(RuleAction action);

// Rules grouped by kind, in the order they were added.
class RuleSet {
 public:
  // A rule equal to one already in the list is not added again (session memory would otherwise
  // grow with every repeated acceptForSession of the same destination).
  void Add(RuleAction action, Rule rule);
  // The first rule of `action` that matches, or nullptr.
  [[nodiscard]] const Rule* FindMatch(RuleAction action, const Destination& destination) const;
  [[nodiscard]] std::span<const Rule> rules(RuleAction action) const;
  [[nodiscard]] std::size_t size() const;

 private:
  std::array<std::vector<Rule>, 3> lists_;
};

// Rule lists as they arrive from the CLI, a policy file or policy/update.
struct RuleTexts {
  std::vector<std::string> allow;
  std::vector<std::string> deny;
  std::vector<std::string> route;
};

struct RuleLists {
  std::vector<Rule> allow;
  std::vector<Rule> deny;
  std::vector<Rule> route;
};

// All or nothing: the first invalid rule is the error and nothing is returned, so a policy is
// never half applied.
[[nodiscard]] std::variant<RuleLists, RuleError> ParseRuleLists(const RuleTexts& texts);

enum class Verdict { kAllow, kDeny, kRoute, kAsk };
// Where the winning rule came from.
enum class RuleOrigin { kPolicy, kSession };

struct PolicyDecision {
  Verdict verdict = Verdict::kAsk;
  // Meaningful only when a rule matched (verdict != kAsk).
  RuleOrigin source = RuleOrigin::kPolicy;
  // Canonical text of the winning rule; nullopt for kAsk.
  std::optional<std::string> rule;
  // The name the winning rule matched (the destination's host or one of its names, see
  // MatchedName), so that the supervisor can show, audit and hand a proxy the name the policy
  // decided on rather than whichever name was resolved last. nullopt for kAsk and when the
  // winning rule matched by address.
  std::optional<std::string> matched_host;

  friend bool operator==(const PolicyDecision&, const PolicyDecision&) = default;
};

enum class AmendmentAction { kAllow, kDeny };

// The exact rule session memory stores for a destination: its host if known, else its address
// (the one a connect actually reaches), else its unix path or abstract name; plus its port and
// protocol. nullopt when the destination names nothing to remember. Only the host, not every
// one of `names`: the answer was given to the destination as shown, and the host is the name
// the prompt showed.
[[nodiscard]] std::optional<Rule> ExactRuleFor(const Destination& destination);

// The decision engine: the static policy (CLI, policy file, policy/update) and the session
// memory (acceptForSession, declineForSession, applyNetworkPolicyAmendment). Precedence is by
// kind across both sets: a session deny beats a policy allow and a policy deny beats a session
// allow. Not thread-safe; the supervisor uses it from its loop thread only.
class Engine {
 public:
  Engine() = default;
  explicit Engine(RuleSet policy) : policy_(std::move(policy)) {}

  // A domain rule counts when it matches the host or any of the names, and precedence is by
  // kind over all of them: when one name of the address is denied and another allowed, deny
  // wins (the connect reaches the same address whichever name the command used).
  [[nodiscard]] PolicyDecision Decide(const Destination& destination) const;

  // What DNS may do with `name` (lowercase, no trailing dot) before any connect: refused when a
  // deny rule for the name covers every port (a port-limited deny still lets the name resolve,
  // its other ports may be allowed); otherwise resolved. `covered` tells whether any rule names
  // it at all, for the strict mode that asks before resolving names no rule mentions. Only
  // `name` itself counts: before it resolves there is no address, so the other names that share
  // one later (Destination::names) say nothing about it.
  struct NameDecision {
    bool refuse = false;
    bool covered = false;
    std::optional<std::string> rule;  // the deny rule that refused it
  };
  [[nodiscard]] NameDecision DecideName(std::string_view name) const;

  // Remember ExactRuleFor(destination) as a session allow / deny. False when there was nothing
  // to remember.
  bool AcceptForSession(const Destination& destination);
  bool DeclineForSession(const Destination& destination);
  // applyNetworkPolicyAmendment: a rule for the rest of the session.
  void ApplyAmendment(Rule rule, AmendmentAction action);
  // policy/update: adds to the static policy.
  void UpdatePolicy(RuleLists lists);

  [[nodiscard]] const RuleSet& policy() const { return policy_; }
  [[nodiscard]] const RuleSet& session() const { return session_; }

 private:
  RuleSet policy_;
  RuleSet session_;
};

}  // namespace sandgate::approvals
