#include "approvals/policy.h"

#include <algorithm>
#include <utility>

#include "approvals/domain.h"
#include "approvals/path_glob.h"

namespace sandgate::approvals {
namespace {

constexpr std::array<RuleAction, 3> kPrecedence = {RuleAction::kDeny, RuleAction::kRoute,
                                                   RuleAction::kAllow};

std::size_t Index(RuleAction action) { return static_cast<std::size_t>(action); }

Verdict VerdictFor(RuleAction action) {
  switch (action) {
    case RuleAction::kAllow:
      return Verdict::kAllow;
    case RuleAction::kDeny:
      return Verdict::kDeny;
    case RuleAction::kRoute:
      return Verdict::kRoute;
  }
  return Verdict::kDeny;
}

std::optional<RuleError> ParseInto(const std::vector<std::string>& texts, std::vector<Rule>& out) {
  for (const std::string& text : texts) {
    auto parsed = ParseRule(text);
    if (auto* error = std::get_if<RuleError>(&parsed)) {
      return std::move(*error);
    }
    out.push_back(std::move(std::get<Rule>(parsed)));
  }
  return std::nullopt;
}

}  // namespace

std::string_view RuleActionName(RuleAction action) {
  switch (action) {
    case RuleAction::kAllow:
      return "allow";
    case RuleAction::kDeny:
      return "deny";
    case RuleAction::kRoute:
      return "route";
  }
  return "deny";
}

void RuleSet::Add(RuleAction action, Rule rule) {
  std::vector<Rule>& list = lists_[Index(action)];
  if (std::find(list.begin(), list.end(), rule) != list.end()) {
    return;
  }
  list.push_back(std::move(rule));
}

const Rule* RuleSet::FindMatch(RuleAction action, const Destination& destination) const {
  for (const Rule& rule : lists_[Index(action)]) {
    if (Matches(rule, destination)) {
      return &rule;
    }
  }
  return nullptr;
}

std::span<const Rule> RuleSet::rules(RuleAction action) const { return lists_[Index(action)]; }

std::size_t RuleSet::size() const {
  std::size_t total = 0;
  for (const auto& list : lists_) {
    total += list.size();
  }
  return total;
}

std::variant<RuleLists, RuleError> ParseRuleLists(const RuleTexts& texts) {
  RuleLists lists;
  if (auto error = ParseInto(texts.allow, lists.allow)) {
    return std::move(*error);
  }
  if (auto error = ParseInto(texts.deny, lists.deny)) {
    return std::move(*error);
  }
  if (auto error = ParseInto(texts.route, lists.route)) {
    return std::move(*error);
  }
  return lists;
}

std::optional<Rule> ExactRuleFor(const Destination& destination) {
  Rule rule;
  rule.protocol = destination.protocol;
  if (destination.protocol == Protocol::kUnix) {
    if (destination.unix_path) {
      const auto path = NormalizeAbsolutePath(*destination.unix_path);
      if (!path) {
        return std::nullopt;
      }
      rule.target = UnixPathPattern{EscapeGlob(*path)};
    } else if (destination.unix_abstract) {
      rule.target = UnixAbstractPattern{EscapeGlob(*destination.unix_abstract)};
    } else {
      return std::nullopt;
    }
  } else {
    if (destination.host) {
      rule.target = DomainPattern{CanonicalHostName(*destination.host), DomainScope::kExact};
    } else if (destination.address) {
      rule.target = Cidr::Host(destination.address->ConnectTarget());
    } else {
      return std::nullopt;
    }
    rule.ports = PortRange{destination.port, destination.port};
  }
  rule.text = FormatRule(rule);
  return rule;
}

PolicyDecision Engine::Decide(const Destination& destination) const {
  for (const RuleAction action : kPrecedence) {
    // Within one kind the static policy is reported first; either way the verdict is the same.
    if (const Rule* rule = policy_.FindMatch(action, destination)) {
      return {VerdictFor(action), RuleOrigin::kPolicy, rule->text, MatchedName(*rule, destination)};
    }
    if (const Rule* rule = session_.FindMatch(action, destination)) {
      return {VerdictFor(action), RuleOrigin::kSession, rule->text,
              MatchedName(*rule, destination)};
    }
  }
  return {};
}

Engine::NameDecision Engine::DecideName(std::string_view name) const {
  Destination asked;
  asked.host = std::string(name);
  NameDecision decision;
  for (const RuleSet* set : {&policy_, &session_}) {
    for (const RuleAction action : kPrecedence) {
      for (const Rule& rule : set->rules(action)) {
        // Only rules about names count: an address rule says nothing about what a name is.
        if (!std::holds_alternative<DomainPattern>(rule.target) &&
            !std::holds_alternative<LocalhostPattern>(rule.target)) {
          continue;
        }
        Rule any_port = rule;
        any_port.ports.reset();
        any_port.protocol.reset();
        if (!Matches(any_port, asked)) continue;
        decision.covered = true;
        if (action == RuleAction::kDeny && !rule.ports && !rule.protocol && !decision.refuse) {
          decision.refuse = true;
          decision.rule = rule.text;
        }
      }
    }
  }
  return decision;
}

bool Engine::AcceptForSession(const Destination& destination) {
  auto rule = ExactRuleFor(destination);
  if (!rule) {
    return false;
  }
  session_.Add(RuleAction::kAllow, std::move(*rule));
  return true;
}

bool Engine::DeclineForSession(const Destination& destination) {
  auto rule = ExactRuleFor(destination);
  if (!rule) {
    return false;
  }
  session_.Add(RuleAction::kDeny, std::move(*rule));
  return true;
}

void Engine::ApplyAmendment(Rule rule, AmendmentAction action) {
  session_.Add(action == AmendmentAction::kAllow ? RuleAction::kAllow : RuleAction::kDeny,
               std::move(rule));
}

void Engine::UpdatePolicy(RuleLists lists) {
  for (Rule& rule : lists.allow) {
    policy_.Add(RuleAction::kAllow, std::move(rule));
  }
  for (Rule& rule : lists.deny) {
    policy_.Add(RuleAction::kDeny, std::move(rule));
  }
  for (Rule& rule : lists.route) {
    policy_.Add(RuleAction::kRoute, std::move(rule));
  }
}

}  // namespace sandgate::approvals
