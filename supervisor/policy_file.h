#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "approvals/policy.h"

namespace sandgate::supervisor {

// --policy FILE: the same rules as --allow/--deny/--route, plus filesystem settings.
//
//   {
//     "network":    {"mode": "off|approve|on", "allow": [RULE], "deny": [RULE], "route": [RULE],
//                    "proxy": URL, "dnsUpstream": "ADDR[:PORT]", "dnsStrict": false},
//     "filesystem": {"writableRoots": ["DIR"], "readOnly": false}
//   }
//
// Every key is optional; an unknown key is an error naming its path ("network.alow"), so a typo
// never silently weakens a policy.
struct PolicyFile {
  std::optional<std::string> network_mode;
  approvals::RuleTexts rules;
  std::optional<std::string> proxy;         // as --proxy
  std::optional<std::string> dns_upstream;  // as --dns-upstream
  std::optional<bool> dns_strict;           // as --dns-strict
  std::vector<std::string> writable_roots;
  std::optional<bool> read_only;
};

struct PolicyFileError {
  std::string message;  // one line: "FILE: what, where"
};

[[nodiscard]] std::variant<PolicyFile, PolicyFileError> ParsePolicyFile(const std::string& path,
                                                                        const std::string& content);

}  // namespace sandgate::supervisor
