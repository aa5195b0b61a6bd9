#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "pipelines/protected_paths.h"
#include "pipelines/sandbox_spec.h"

namespace sandgate::pipelines {

// How the inner stage is started inside the sandbox and which fds it finds there.
struct InnerStageLaunch {
  std::filesystem::path self_exe;  // the sandgate binary, re-executed inside bwrap
  int handoff_fd = 3;              // socket back to the supervisor
  int stderr_fd = 4;               // the caller's stderr, restored by the inner stage before exec
};

// Fixed fd layout of the bwrap process: 0 and 1 are the caller's, 2 is a pipe the supervisor
// reads (bwrap's own errors), 3 and 4 as in InnerStageLaunch.
inline constexpr int kBwrapHandoffFd = 3;
inline constexpr int kBwrapStderrFd = 4;

enum class InnerAction { kExecCommand, kProbe };

// The argument vector of bubblewrap, without the binary itself. Pure: the filesystem was
// inspected before (FindProtections).
//
// Mount order matters: bwrap applies its operations left to right and a later mount hides an
// earlier one. Writable-root binds and protections are sorted by path so that a parent always
// comes before what is inside it; at equal paths the protection comes last. Thus protections of
// one root also cover a second root nested in it, and a root the user named inside a protected
// path (`-w repo/.git/hooks`) stays writable, because the user asked for exactly that.
//
// Every writable directory between a writable root and a protection or nested root inside it is
// also bound onto itself ("pinned"): a mount point cannot be renamed, so the command cannot move
// a protected directory aside and put its own in its place. kUncreatable protections get no mount
// of their own, only pins.
[[nodiscard]] std::vector<std::string> BuildBwrapArgv(const SandboxSpec& spec,
                                                      const std::vector<Protection>& protections,
                                                      const InnerStageLaunch& inner,
                                                      InnerAction action = InnerAction::kExecCommand);

// The hidden subcommand that runs the inner stage.
inline constexpr const char* kInnerSubcommand = "__sandgate-inner";

}  // namespace sandgate::pipelines
