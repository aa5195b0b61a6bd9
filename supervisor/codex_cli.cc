#include "supervisor/codex_cli.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string_view>
#include <vector>

#include "approvals/codex_policy.h"

namespace sandgate::supervisor {
namespace fs = std::filesystem;
namespace {

CliExit Refuse(const std::string& message) {
  return CliExit{125, std::string(kCodexHelperName) + ": " + message + "\n", true};
}

struct CodexOptions {
  std::optional<std::string> policy_cwd;
  std::optional<std::string> command_cwd;
  approvals::codex::Inputs policies;
  bool legacy = false;
  bool bwrap = false;
  bool no_proc = false;
  std::vector<std::string> command;
};

constexpr const char* kUsage =
    "usage: codex-linux-sandbox [OPTIONS] -- COMMAND [ARG...]\n"
    "\n"
    "sandgate standing in for Codex's Linux sandbox helper.\n"
    "\n"
    "  --sandbox-policy-cwd DIR             the directory the policy's paths are relative to\n"
    "  --sandbox-policy JSON                a SandboxPolicy (danger-full-access, read-only,\n"
    "                                       workspace-write, external-sandbox)\n"
    "  --command-cwd DIR                    where the command runs (default: the policy cwd)\n"
    "  --file-system-sandbox-policy JSON    the split file-system policy\n"
    "  --network-sandbox-policy JSON        \"restricted\" or \"enabled\"\n"
    "  --use-bwrap-sandbox                  the bubblewrap pipeline (the default)\n"
    "  --use-legacy-landlock                the Landlock + mount pipeline\n"
    "  --no-proc                            do not mount a fresh /proc\n"
    "\n"
    "Refused, with the reason: --allow-network-for-proxy, --proxy-route-spec,\n"
    "--apply-seccomp-then-exec.\n"
    "\n"
    "Environment: SANDGATE_NETWORK=approve mediates each connection of a policy without\n"
    "network; SANDGATE_APPROVALS=fd:N|tty|auto-deny, SANDGATE_POLICY=FILE and\n"
    "SANDGATE_AUDIT_LOG=FILE are sandgate run's --approvals, --policy and --audit-log.\n"
    "\n"
    "Exit status: the command's, 128+N if signal N ended it; 125 when sandgate refuses,\n"
    "with one line on stderr.\n";

// Options with a value, as `--name VALUE` or `--name=VALUE`.
constexpr const char* kValued[] = {"--sandbox-policy-cwd", "--sandbox-policy", "--command-cwd",
                                   "--file-system-sandbox-policy", "--network-sandbox-policy",
                                   "--proxy-route-spec"};

}  // namespace

bool IsCodexHelperName(const char* argv0) {
  if (argv0 == nullptr) return false;
  const char* slash = std::strrchr(argv0, '/');
  return std::strcmp(slash != nullptr ? slash + 1 : argv0, kCodexHelperName) == 0;
}

CliResult ParseCodexCommandLine(int argc, const char* const* argv, const Environment& env) {
  CodexOptions o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      for (int k = i + 1; k < argc; ++k) o.command.emplace_back(argv[k]);
      break;
    }
    if (arg == "--help" || arg == "-h") return CliExit{0, kUsage, false};
    if (arg.rfind("--", 0) != 0) {  // the command starts at the first word that is no option
      for (int k = i; k < argc; ++k) o.command.emplace_back(argv[k]);
      break;
    }
    std::optional<std::string> value;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    }
    bool valued = false;
    for (const char* name : kValued) valued = valued || arg == name;
    if (valued && !value) {
      if (i + 1 >= argc) return Refuse(arg + " needs a value");
      value = argv[++i];
    }
    if (!valued && value) return Refuse(arg + " takes no value");
    if (arg == "--sandbox-policy-cwd") {
      o.policy_cwd = *value;
    } else if (arg == "--sandbox-policy") {
      o.policies.sandbox_policy = *value;
    } else if (arg == "--command-cwd") {
      o.command_cwd = *value;
    } else if (arg == "--file-system-sandbox-policy") {
      o.policies.file_system_policy = *value;
    } else if (arg == "--network-sandbox-policy") {
      o.policies.network_policy = *value;
    } else if (arg == "--use-legacy-landlock") {
      o.legacy = true;
    } else if (arg == "--use-bwrap-sandbox") {
      o.bwrap = true;
    } else if (arg == "--no-proc") {
      o.no_proc = true;
    } else if (arg == "--allow-network-for-proxy" || arg == "--proxy-route-spec") {
      return Refuse(arg + " is not supported: sandgate mediates the network itself (set "
                          "SANDGATE_NETWORK=approve for per-connection approvals)");
    } else if (arg == "--apply-seccomp-then-exec") {
      return Refuse(arg + " is not supported: it is an inner step of Codex's own helper, and "
                          "sandgate's inner stage is its own");
    } else {
      return Refuse("unknown option " + arg);
    }
  }
  if (o.command.empty()) return Refuse("no command (expected -- COMMAND [ARG...])");
  if (o.legacy && o.bwrap) return Refuse("--use-legacy-landlock and --use-bwrap-sandbox exclude each other");

  std::error_code ec;
  const std::string process_cwd = fs::current_path(ec).string();
  const std::string command_cwd = o.command_cwd.value_or(o.policy_cwd.value_or(process_cwd));
  o.policies.policy_cwd = o.policy_cwd.value_or(command_cwd);
  o.policies.tmpdir_env = env("TMPDIR");
  auto mapped = approvals::codex::MapPolicies(o.policies);
  if (auto* error = std::get_if<approvals::codex::Error>(&mapped)) return Refuse(error->message);
  const auto& sandbox = std::get<approvals::codex::Sandbox>(mapped);
  if (sandbox.unsandboxed) return ExecUnsandboxed{o.command, command_cwd};

  // What the policy allows, unless the caller asks sandgate to mediate instead.
  std::string network = sandbox.network ? "on" : "off";
  if (auto asked = env("SANDGATE_NETWORK"); asked && !asked->empty()) {
    if (*asked == "on" && !sandbox.network) {
      return Refuse("SANDGATE_NETWORK=on would give the network to a policy that has none");
    }
    network = *asked;
  }
  std::vector<std::string> run = {"sandgate", "run", "--network", network, "-C", command_cwd};
  bool any_root = false;
  for (const auto& root : sandbox.writable_roots) {
    if (!fs::is_directory(root, ec)) continue;  // a root that does not exist gives nothing to write
    run.insert(run.end(), {"-w", root});
    any_root = true;
  }
  if (!any_root) run.push_back("--read-only");
  run.insert(run.end(), {"--pipeline", o.legacy ? "legacy" : "bwrap"});
  if (o.no_proc) run.push_back("--no-proc");
  if (auto approvals = env("SANDGATE_APPROVALS"); approvals && !approvals->empty()) {
    run.insert(run.end(), {"--approvals", *approvals});
  }
  if (auto policy = env("SANDGATE_POLICY"); policy && !policy->empty()) {
    run.insert(run.end(), {"--policy", *policy});
  }
  if (auto audit = env("SANDGATE_AUDIT_LOG"); audit && !audit->empty()) {
    run.insert(run.end(), {"--audit-log", *audit});
  }
  run.push_back("--");
  run.insert(run.end(), o.command.begin(), o.command.end());
  std::vector<const char*> args;
  for (const auto& a : run) args.push_back(a.c_str());
  auto parsed = ParseCommandLine(static_cast<int>(args.size()), args.data());
  if (auto* exit = std::get_if<CliExit>(&parsed); exit != nullptr && exit->code != 0) {
    // The same one line, under the name the caller knows.
    std::string message = exit->message;
    if (message.rfind("sandgate: ", 0) == 0) message.erase(0, std::strlen("sandgate: "));
    if (!message.empty() && message.back() == '\n') message.pop_back();
    return Refuse(message);
  }
  return parsed;
}

}  // namespace sandgate::supervisor
