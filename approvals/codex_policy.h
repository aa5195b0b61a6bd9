#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace sandgate::approvals::codex {

// Codex's sandbox policies, as its `codex-linux-sandbox` helper receives them on its command
// line, mapped onto what sandgate builds. Pure: paths are checked for form (absolute), not for
// existence.
//
//   --sandbox-policy JSON               a SandboxPolicy, tagged by "type" (kebab-case):
//       {"type":"danger-full-access"}
//       {"type":"read-only"}
//       {"type":"workspace-write","writable_roots":["/abs",...],"network_access":false,
//        "exclude_tmpdir_env_var":false,"exclude_slash_tmp":false}
//       {"type":"external-sandbox","network_access":"restricted"|"enabled"}
//   --file-system-sandbox-policy JSON   {"kind":"unrestricted"} or
//       {"kind":"restricted","entries":[{"path":P,"access":"read"|"write"|"deny"}]},
//       P = {"type":"path","path":"/abs"} or
//           {"type":"special","value":{"kind":"root"|"minimal"|"current_working_directory"|
//                                              "tmpdir"|"slash_tmp"}}
//   --network-sandbox-policy JSON       "restricted" or "enabled"
// Unknown fields are tolerated (Codex adds fields); unknown tags and malformed JSON are errors.
struct Inputs {
  std::optional<std::string> sandbox_policy;
  std::optional<std::string> file_system_policy;
  std::optional<std::string> network_policy;
  std::string policy_cwd;                 // absolute: the cwd the policy speaks of
  std::optional<std::string> tmpdir_env;  // $TMPDIR of the helper's environment
};

struct Sandbox {
  bool unsandboxed = false;                 // danger-full-access: run the command as it is
  bool network = false;                     // network allowed (else off, or mediated on request)
  std::vector<std::string> writable_roots;  // absolute, in order, without duplicates; empty: none
  bool operator==(const Sandbox&) const = default;
};

struct Error {
  std::string message;  // one line, naming the option and the field
};

[[nodiscard]] std::variant<Sandbox, Error> MapPolicies(const Inputs& inputs);

}  // namespace sandgate::approvals::codex
