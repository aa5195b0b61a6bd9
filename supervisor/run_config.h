#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "approvals/policy.h"
#include "approvals/proxy_url.h"
#include "approvals/publish_spec.h"
#include "approvals/resolv_conf.h"
#include "pipelines/sandbox_spec.h"

namespace sandgate::supervisor {

// Who answers approval requests (--approvals).
enum class ApprovalsMode { kAutoDeny, kReplay, kStdio, kFd, kTty };

// Everything one `sandgate run` was asked to do: the sandbox itself plus how the supervisor
// around it behaves. Filled by the command line (and later the policy file).
struct RunConfig {
  pipelines::SandboxSpec sandbox;
  std::optional<std::string> bwrap_path;  // --bwrap; SANDGATE_BWRAP and PATH are looked at later
  std::string log_level = "warn";

  approvals::RuleLists rules;  // --allow/--deny/--route, already parsed
  ApprovalsMode approvals = ApprovalsMode::kAutoDeny;
  std::string replay_file;  // kReplay
  int approvals_fd = -1;    // kFd
  std::chrono::seconds approval_timeout{120};
  std::optional<std::string> audit_log;
  std::optional<approvals::ProxyUrl> proxy;  // --proxy
  // --dns-upstream; nullopt: the first nameserver of the host's resolv.conf, read at start.
  std::optional<approvals::DnsServer> dns_upstream;
  bool dns_strict = false;  // --dns-strict
  // --explain-denials: one line on the command's stderr per denied destination.
  bool explain_denials = true;
  // Where applyNetworkPolicyAmendment decisions with "persist": true are saved: --policy-save,
  // else the --policy file; nullopt: nowhere (such a decision then lasts for the session only).
  std::optional<std::string> policy_save;
  // Why policy_save (the --policy file, no --policy-save given) is not saved to after all: it
  // lies inside a writable root. Empty otherwise. A persisting decision then lasts for the
  // session only, and policy/saved says why.
  std::string policy_save_refused;
  std::vector<approvals::PublishSpec> publish;  // --publish
};

}  // namespace sandgate::supervisor
