#include "supervisor/cli.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string_view>
#include <system_error>

#include "base/read_file.h"
#include "pipelines/protected_paths.h"
#include "supervisor/policy_file.h"
#include "supervisor/control/tty_approver.h"

namespace sandgate::supervisor {
namespace fs = std::filesystem;
namespace {

// Thrown while validating parsed values; becomes exit 125 with this one line.
struct UsageError {
  std::string message;
};

struct RawOptions {
  std::string cwd;
  std::vector<std::string> writable_roots;
  bool read_only = false;
  std::string network = "approve";
  bool network_set = false;  // given on the command line (wins over --policy)
  std::string pipeline = "bwrap";
  std::vector<std::string> config_overrides;  // -c KEY=VALUE
  bool no_proc = false;
  std::string bwrap;
  std::string log_level = "warn";
  std::vector<std::string> command;
  approvals::RuleTexts rules;
  std::string approvals;
  long approval_timeout = 120;
  std::string audit_log;
  std::string policy;
  std::string proxy;
  std::string dns_upstream;
  bool dns_strict = false;
  std::string explain_denials = "on";
  std::string policy_save;
  std::vector<std::string> publish;
};

const std::map<std::string, pipelines::NetworkMode> kNetworkModes = {
    {"off", pipelines::NetworkMode::kOff},
    {"approve", pipelines::NetworkMode::kApprove},
    {"on", pipelines::NetworkMode::kOn}};

// `debug landlock` may come without a command (then it reports on the machine); `run` may not.
enum class CommandRequired { kYes, kNo };

void AddRunOptions(CLI::App& cmd, RawOptions& raw, CommandRequired required = CommandRequired::kYes) {
  cmd.add_option("-C,--cwd", raw.cwd, "working directory of the command (default: current)");
  // Repeatable options take exactly one value per occurrence: a greedy list would swallow the
  // `--` that starts the command, and the command's own flags with it.
  cmd.add_option("-w,--writable-root", raw.writable_roots,
                 "a directory the command may write (repeatable; default: the cwd and /tmp)")
      ->allow_extra_args(false);
  cmd.add_flag("--read-only", raw.read_only, "no writable roots at all");
  cmd.add_option_function<std::string>(
         "--network",
         [&raw](const std::string& mode) {
           raw.network = mode;
           raw.network_set = true;
         },
         "off | approve | on (default approve)")
      ->check(CLI::IsMember({"off", "approve", "on"}));
  cmd.add_option("--pipeline", raw.pipeline, "bwrap | legacy (default bwrap)")
      ->check(CLI::IsMember({"bwrap", "legacy"}));
  cmd.add_option("-c", raw.config_overrides, "features.use_linux_sandbox_bwrap=true|false")
      ->allow_extra_args(false);
  cmd.add_flag("--no-proc", raw.no_proc, "do not mount a fresh /proc");
  cmd.add_option("--bwrap", raw.bwrap, "bubblewrap binary (env SANDGATE_BWRAP)");
  cmd.add_option("--log-level", raw.log_level, "trace, debug, info, warn, error, critical, off (to stderr)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  cmd.add_option("--allow", raw.rules.allow, "allow connections matching RULE (repeatable)")
      ->allow_extra_args(false);
  cmd.add_option("--deny", raw.rules.deny, "deny connections matching RULE (repeatable)")
      ->allow_extra_args(false);
  cmd.add_option("--route", raw.rules.route, "route connections matching RULE via --proxy")
      ->allow_extra_args(false);
  cmd.add_option("--approvals", raw.approvals,
                 "stdio | fd:N | tty | auto-deny | replay:FILE (default: tty when stdin is a "
                 "terminal, else auto-deny)");
  cmd.add_option("--approval-timeout", raw.approval_timeout,
                 "decline an unanswered request after SECONDS (0: wait forever; default 120)");
  cmd.add_option("--audit-log", raw.audit_log, "append one JSON line per mediated attempt");
  cmd.add_option("--policy", raw.policy, "JSON policy file (rules and filesystem settings)");
  cmd.add_option("--proxy", raw.proxy,
                 "proxy for route rules and decisions: http://[user:pass@]host:port or "
                 "socks5://[user:pass@]host:port");
  cmd.add_option("--dns-upstream", raw.dns_upstream,
                 "resolver the DNS forwarder asks: ADDR[:PORT] (default: the host's first "
                 "nameserver)");
  cmd.add_flag("--dns-strict", raw.dns_strict,
               "ask before resolving a name that no rule mentions (guards against DNS "
               "exfiltration)");
  cmd.add_option("--explain-denials", raw.explain_denials,
                 "on | off: one line on the command's stderr per denied destination, saying how a "
                 "person could allow it (default on)")
      ->check(CLI::IsMember({"on", "off"}));
  cmd.add_option("--policy-save", raw.policy_save,
                 "where decisions that persist are saved (default: the --policy file)");
  cmd.add_option("--publish", raw.publish,
                 "[HOSTADDR:]HOSTPORT:SANDBOXPORT: relay host connections to a listener inside "
                 "the sandbox (repeatable; HOSTADDR defaults to 127.0.0.1)")
      ->allow_extra_args(false);
  auto* command = cmd.add_option("command", raw.command, "COMMAND [ARG...] after --");
  if (required == CommandRequired::kYes) command->required();
}

// The writable root that holds `file` as written or as its real path (a symlink may lead in or
// out), if any; nullopt when it lies outside all of them.
std::optional<fs::path> WritableRootHolding(const std::vector<fs::path>& roots,
                                            const std::string& file) {
  std::error_code ec;
  const fs::path written = fs::absolute(file, ec).lexically_normal();
  const fs::path real = fs::weakly_canonical(written, ec);
  for (const auto& root : roots) {
    if (pipelines::IsWithinAny(written, {root}) || (!ec && pipelines::IsWithinAny(real, {root}))) {
      return root;
    }
  }
  return std::nullopt;
}

fs::path ExistingDirectory(const std::string& flag, const std::string& value) {
  std::error_code ec;
  fs::path canonical = fs::canonical(value, ec);
  if (ec) throw UsageError{flag + " " + value + ": " + ec.message()};
  if (!fs::is_directory(canonical, ec)) throw UsageError{flag + " " + value + ": not a directory"};
  return canonical;
}

pipelines::Pipeline PipelineFrom(const RawOptions& raw, bool legacy_subcommand) {
  pipelines::Pipeline pipeline =
      raw.pipeline == "legacy" ? pipelines::Pipeline::kLegacy : pipelines::Pipeline::kBwrap;
  for (const auto& kv : raw.config_overrides) {
    constexpr std::string_view kKey = "features.use_linux_sandbox_bwrap=";
    if (kv.rfind(kKey, 0) != 0) throw UsageError{"-c " + kv + ": unknown setting"};
    std::string value = kv.substr(kKey.size());
    if (value == "true") {
      pipeline = pipelines::Pipeline::kBwrap;
    } else if (value == "false") {
      pipeline = pipelines::Pipeline::kLegacy;
    } else {
      throw UsageError{"-c " + kv + ": expected true or false"};
    }
  }
  return legacy_subcommand ? pipelines::Pipeline::kLegacy : pipeline;
}

// `flag`: the option that named the file, for the message.
std::string ReadPolicyText(const std::string& flag, const std::string& path) {
  auto text = base::ReadFile(path);
  if (!text) throw UsageError{flag + " " + path + ": cannot read it"};
  return std::move(*text);
}

// Folds the policy file into the options: its lists come first, the command line's are added;
// a mode or read-only setting on the command line wins over the file's.
void MergePolicyFile(const std::string& path, RawOptions& merged) {
  auto parsed = ParsePolicyFile(path, ReadPolicyText("--policy", path));
  if (auto* error = std::get_if<PolicyFileError>(&parsed)) throw UsageError{error->message};
  const auto& policy = std::get<PolicyFile>(parsed);
  auto prepend = [](std::vector<std::string>& to, const std::vector<std::string>& from) {
    to.insert(to.begin(), from.begin(), from.end());
  };
  prepend(merged.rules.allow, policy.rules.allow);
  prepend(merged.rules.deny, policy.rules.deny);
  prepend(merged.rules.route, policy.rules.route);
  prepend(merged.writable_roots, policy.writable_roots);
  if (policy.proxy && merged.proxy.empty()) merged.proxy = *policy.proxy;
  if (policy.dns_upstream && merged.dns_upstream.empty()) merged.dns_upstream = *policy.dns_upstream;
  if (policy.dns_strict && !merged.dns_strict) merged.dns_strict = *policy.dns_strict;
  if (policy.network_mode && !merged.network_set) merged.network = *policy.network_mode;
  if (policy.read_only && !merged.read_only) merged.read_only = *policy.read_only;
}

void ParseApprovals(const std::string& text, RunConfig& config) {
  if (text.empty()) {
    // SPEC: a person is asked when one is there, else nobody. stdin tells whether sandgate runs
    // interactively; /dev/tty must also open (a terminal on stdin without a controlling one,
    // e.g. after setsid, cannot be prompted on).
    const bool interactive =
        ::isatty(STDIN_FILENO) == 1 && OpenTerminal(std::string(kDefaultTtyPath)).Ok();
    config.approvals = interactive ? ApprovalsMode::kTty : ApprovalsMode::kAutoDeny;
  } else if (text == "auto-deny") {
    config.approvals = ApprovalsMode::kAutoDeny;
  } else if (text == "stdio") {
    config.approvals = ApprovalsMode::kStdio;
  } else if (text.rfind("fd:", 0) == 0) {
    char* end = nullptr;
    long fd = std::strtol(text.c_str() + 3, &end, 10);
    if (text.size() == 3 || *end != '\0' || fd < 0 || fd > 1 << 20) {
      throw UsageError{"--approvals " + text + ": expected fd:N with N a file descriptor number"};
    }
    config.approvals = ApprovalsMode::kFd;
    config.approvals_fd = static_cast<int>(fd);
  } else if (text.rfind("replay:", 0) == 0 && text.size() > 7) {
    config.approvals = ApprovalsMode::kReplay;
    config.replay_file = text.substr(7);
  } else if (text == "tty") {
    if (auto terminal = OpenTerminal(std::string(kDefaultTtyPath)); !terminal.Ok()) {
      throw UsageError{"--approvals tty: no terminal (" + std::string(kDefaultTtyPath) + ": " +
                       std::strerror(terminal.Err().errnum) + ")"};
    }
    config.approvals = ApprovalsMode::kTty;
  } else {
    throw UsageError{"--approvals " + text + ": expected stdio, fd:N, tty, auto-deny or replay:FILE"};
  }
}

RunConfig ToRunConfig(const RawOptions& raw, bool legacy_subcommand) {
  RunConfig config;
  auto& spec = config.sandbox;
  spec.command = raw.command;
  // The policy file is read first; the command line adds to its rules and roots.
  RawOptions merged = raw;
  if (!raw.policy.empty()) MergePolicyFile(raw.policy, merged);
  spec.network = kNetworkModes.at(merged.network);
  spec.pipeline = PipelineFrom(raw, legacy_subcommand);
  spec.proc = raw.no_proc ? pipelines::ProcMount::kNone : pipelines::ProcMount::kFresh;
  spec.cwd = ExistingDirectory("--cwd", raw.cwd.empty() ? fs::current_path().string() : raw.cwd);

  if (merged.read_only && !merged.writable_roots.empty()) {
    throw UsageError{"--read-only and --writable-root exclude each other"};
  }
  if (!merged.read_only) {
    if (merged.writable_roots.empty()) {
      spec.writable_roots = {spec.cwd, ExistingDirectory("--writable-root", "/tmp")};
    }
    for (const auto& root : merged.writable_roots) {
      spec.writable_roots.push_back(ExistingDirectory("--writable-root", root));
    }
    for (const auto& root : spec.writable_roots) {
      // bwrap mounts a fresh /dev and /proc after the binds; a root inside them would vanish.
      for (const fs::path special : {"/dev", "/proc"}) {
        auto [end, unused] = std::mismatch(special.begin(), special.end(), root.begin(), root.end());
        if (end == special.end()) {
          throw UsageError{"--writable-root " + root.string() + ": cannot be inside " +
                           special.string()};
        }
      }
    }
    std::sort(spec.writable_roots.begin(), spec.writable_roots.end());
    spec.writable_roots.erase(std::unique(spec.writable_roots.begin(), spec.writable_roots.end()),
                              spec.writable_roots.end());
  }
  if (!raw.bwrap.empty()) config.bwrap_path = raw.bwrap;
  auto rules = approvals::ParseRuleLists(merged.rules);
  if (auto* error = std::get_if<approvals::RuleError>(&rules)) throw UsageError{error->message};
  config.rules = std::get<approvals::RuleLists>(std::move(rules));
  if (!merged.proxy.empty()) {
    auto proxy = approvals::ParseProxyUrl(merged.proxy);
    if (auto* error = std::get_if<std::string>(&proxy)) throw UsageError{"--proxy: " + *error};
    config.proxy = std::get<approvals::ProxyUrl>(std::move(proxy));
  }
  if (!config.rules.route.empty() && !config.proxy) {
    throw UsageError{"--route " + config.rules.route.front().text +
                     ": routing needs a proxy (--proxy URL)"};
  }
  if (!merged.dns_upstream.empty()) {
    auto upstream = approvals::ParseDnsServer(merged.dns_upstream);
    if (auto* error = std::get_if<std::string>(&upstream)) throw UsageError{*error};
    config.dns_upstream = std::get<approvals::DnsServer>(upstream);
  }
  config.dns_strict = merged.dns_strict;
  ParseApprovals(raw.approvals, config);
  if (raw.approval_timeout < 0) throw UsageError{"--approval-timeout: must be 0 or more seconds"};
  config.approval_timeout = std::chrono::seconds(raw.approval_timeout);
  if (!raw.audit_log.empty()) config.audit_log = raw.audit_log;
  config.log_level = raw.log_level;
  config.explain_denials = raw.explain_denials == "on";
  // The policy files are the rules the next run starts with: the command must not write them.
  // Where a writable root holds one, it is read-only in the sandbox (a protection), and sandgate
  // does not save there either: replacing the file (rename) would lift that protection in the
  // running sandbox, and the command could then write it.
  if (!raw.policy.empty()) spec.read_only_files.push_back(fs::absolute(raw.policy).lexically_normal());
  if (!raw.policy_save.empty()) {
    if (auto root = WritableRootHolding(spec.writable_roots, raw.policy_save)) {
      throw UsageError{"--policy-save " + raw.policy_save + ": inside the writable root " +
                       root->string() + ", where the command could write the rules of the next "
                       "run; choose a file outside the writable roots (e.g. "
                       "~/.config/sandgate/policy.json)"};
    }
    config.policy_save = raw.policy_save;
    // Checked now, so that a file sandgate could not add to is refused before the command runs
    // (and left as it is). A missing one is made by the first decision saved.
    std::error_code ec;
    if (fs::exists(raw.policy_save, ec)) {
      auto parsed = ParsePolicyFile(raw.policy_save, ReadPolicyText("--policy-save", raw.policy_save));
      if (auto* error = std::get_if<PolicyFileError>(&parsed)) {
        throw UsageError{"--policy-save " + error->message};
      }
    }
  } else if (!raw.policy.empty()) {
    if (auto root = WritableRootHolding(spec.writable_roots, raw.policy)) {
      config.policy_save_refused = "the --policy file " + raw.policy + " is inside the writable "
                                   "root " + root->string() + " (read-only for the command, and "
                                   "not rewritten while it runs); give --policy-save FILE outside "
                                   "the writable roots";
    }
    config.policy_save = raw.policy;
  }
  for (const auto& text : raw.publish) {
    auto parsed = approvals::ParsePublishSpec(text);
    if (auto* error = std::get_if<std::string>(&parsed)) throw UsageError{*error};
    auto publish = std::get<approvals::PublishSpec>(std::move(parsed));
    for (const auto& earlier : config.publish) {
      if (earlier.host_address == publish.host_address && earlier.host_port == publish.host_port) {
        throw UsageError{"--publish " + publish.text + ": host port " +
                         std::to_string(publish.host_port) + " is published twice"};
      }
    }
    config.publish.push_back(std::move(publish));
  }
  if (!config.publish.empty() && spec.network == pipelines::NetworkMode::kOn) {
    throw UsageError{"--publish " + config.publish.front().text +
                     ": not needed with --network on (the sandbox shares the host's network)"};
  }
  return config;
}

CliExit Usage(const std::string& message) {
  return CliExit{125, "sandgate: " + message + "\n", true};
}

}  // namespace

CliResult ParseCommandLine(int argc, const char* const* argv) {
  CLI::App app{"sandgate: run a command in a sandbox whose network connections wait for approval",
               "sandgate"};
  app.set_version_flag("--version", "sandgate " SANDGATE_VERSION);
  app.require_subcommand(1);
  RawOptions run_options;
  RawOptions legacy_options;
  CLI::App* run = app.add_subcommand("run", "run COMMAND in a sandbox");
  CLI::App* debug = app.add_subcommand(
      "debug", "what this machine allows (Landlock, user namespaces, seccomp, bwrap)");
  debug->require_subcommand(0, 1);
  CLI::App* landlock = debug->add_subcommand(
      "landlock", "same as run --pipeline legacy; without a command, what this machine allows");
  // Only the subcommand on the command line gets its options: each of the ~25 is a handful of
  // CLI11 objects, and building the second set cost ~70 µs of every sandbox start. The top
  // level's help lists the subcommands, not their options.
  const std::string_view subcommand = argc > 1 ? argv[1] : "";
  if (subcommand == "run") AddRunOptions(*run, run_options);
  if (subcommand == "debug") AddRunOptions(*landlock, legacy_options, CommandRequired::kNo);
  if (argc > 1 && argv[1][0] != '-' && subcommand != "run" && subcommand != "debug") {
    return Usage(std::string("unknown subcommand '") + argv[1] + "' (expected run or debug landlock)");
  }
  try {
    app.parse(argc, argv);
    if (run->parsed()) return ToRunConfig(run_options, false);
    if (!landlock->parsed()) return MachineReportRequest{};
    if (legacy_options.command.empty()) {
      return MachineReportRequest{legacy_options.bwrap.empty()
                                      ? std::nullopt
                                      : std::optional<std::string>(legacy_options.bwrap)};
    }
    return ToRunConfig(legacy_options, true);
  } catch (const CLI::CallForHelp&) {
    // The usage line names the whole command ("sandgate run", "sandgate debug landlock"), which
    // CLI11 leaves to the caller when a subcommand's help is asked for directly.
    if (run->parsed()) return CliExit{0, run->help("sandgate"), false};
    if (landlock->parsed()) return CliExit{0, landlock->help("sandgate debug"), false};
    return CliExit{0, app.help(), false};
  } catch (const CLI::CallForVersion& e) {
    return CliExit{0, std::string(e.what()) + "\n", false};
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    if (what.empty()) what = "invalid command line";
    what.erase(std::remove(what.begin(), what.end(), '\n'), what.end());
    return Usage(what + " (see sandgate run --help)");
  } catch (const UsageError& e) {
    return Usage(e.message);
  } catch (const std::exception& e) {
    return Usage(e.what());
  }
}

}  // namespace sandgate::supervisor
