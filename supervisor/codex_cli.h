#pragma once

#include <functional>
#include <optional>
#include <string>

#include "supervisor/cli.h"

namespace sandgate::supervisor {

// sandgate as Codex's `codex-linux-sandbox` helper: started under that name (argv[0]'s
// basename, through a symlink or an explicit argv[0]) or as `sandgate codex-linux-sandbox ...`.
inline constexpr const char* kCodexHelperName = "codex-linux-sandbox";

[[nodiscard]] bool IsCodexHelperName(const char* argv0);

// The helper's environment, as far as it matters: $TMPDIR, and the variables that turn a policy
// without network into sandgate's mediation for a caller that wants it (SANDGATE_NETWORK=
// approve, SANDGATE_APPROVALS, SANDGATE_POLICY, SANDGATE_AUDIT_LOG).
using Environment = std::function<std::optional<std::string>(const char* name)>;

// Codex's helper command line (argv[0] is the helper), all long options, `--` then the command:
//   --sandbox-policy-cwd DIR --sandbox-policy JSON    the SandboxPolicy form
//   --command-cwd DIR --file-system-sandbox-policy JSON --network-sandbox-policy JSON
//   --use-bwrap-sandbox | --use-legacy-landlock        the pipeline (bwrap by default)
//   --no-proc
//   --help                                             usage on stdout, exit 0
//   --allow-network-for-proxy, --proxy-route-spec, --apply-seccomp-then-exec: refused, with why
// The policies are mapped by approvals/codex_policy.h, then turned into the `sandgate run`
// they amount to and parsed as that, so every check of `run` applies. danger-full-access asks
// for no sandbox at all (ExecUnsandboxed).
[[nodiscard]] CliResult ParseCodexCommandLine(int argc, const char* const* argv,
                                              const Environment& env);

}  // namespace sandgate::supervisor
