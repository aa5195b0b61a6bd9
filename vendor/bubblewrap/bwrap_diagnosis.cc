#include "vendor/bubblewrap/bwrap_diagnosis.h"

#include <vector>

#include "vendor/bubblewrap/text_lines.h"

namespace sandgate::bubblewrap {
namespace {

constexpr std::string_view kUserNamespaceHint =
    "user namespaces are not available to bwrap here: check sysctl user.max_user_namespaces, "
    "kernel.unprivileged_userns_clone and kernel.apparmor_restrict_unprivileged_userns, or the "
    "container's seccomp policy; or use --pipeline legacy, which needs no user namespaces";
constexpr std::string_view kProcHint =
    "this environment does not allow mounting a fresh /proc: retry with --no-proc";
constexpr std::string_view kTooOldHint =
    "this bubblewrap is older than 0.8.0, which sandgate needs";

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// A hint for messages whose cause is well known, or empty. The fragments are bwrap's own wording
// (it has no translations): "No permissions to creating new namespace" from older releases,
// "No permissions to create new namespace" from Debian's 0.8.0 where user namespaces are refused,
// "Creating new namespace failed" and the uid/gid map errors from 0.8.0, which are what an
// unprivileged user sees when the kernel or AppArmor refuses user namespaces.
std::string_view HintFor(std::string_view message) {
  const bool map_refused =
      (Contains(message, "setting up uid map") || Contains(message, "setting up gid map")) &&
      (Contains(message, "Operation not permitted") || Contains(message, "Permission denied"));
  if (map_refused || Contains(message, "No permissions to creating new namespace") ||
      Contains(message, "No permissions to create new namespace") ||
      Contains(message, "Creating new namespace failed")) {
    return kUserNamespaceHint;
  }
  if (Contains(message, "Can't mount proc")) {
    return kProcHint;
  }
  if (Contains(message, "Unknown option")) {
    return kTooOldHint;
  }
  return {};
}

std::string TooOld(const BwrapInfo& info, const std::vector<std::string>& missing) {
  std::string out = "bubblewrap " + info.version.ToString() + " at " +
                    SanitizeLine(info.path.string()) + " is too old: sandgate needs " +
                    kMinimumBwrapVersion.ToString() + " or newer";
  if (!missing.empty()) {
    out += " (missing";
    for (const std::string& flag : missing) {
      out += ' ';
      out += flag;
    }
    out += ')';
  }
  out += "; install a newer bubblewrap and pass it with --bwrap PATH";
  return out;
}

}  // namespace

std::string DiagnoseSetupFailure(const BwrapInfo* info, std::string_view bwrap_stderr) {
  if (info != nullptr) {
    const std::vector<std::string> missing = MissingRequiredFlags(info->features);
    if (info->version < kMinimumBwrapVersion || !missing.empty()) {
      return TooOld(*info, missing);
    }
  }

  std::string_view line = LastNonEmptyLine(bwrap_stderr);
  if (line.find_first_not_of(" \t") != std::string_view::npos) {
    line.remove_prefix(line.find_first_not_of(" \t"));
  }
  if (line.empty()) {
    return "bubblewrap exited before starting the command";
  }
  constexpr std::string_view kBwrapPrefix = "bwrap: ";
  if (line.starts_with(kBwrapPrefix)) {
    line.remove_prefix(kBwrapPrefix.size());
  }
  std::string out = "bubblewrap: " + SanitizeLine(line, 300);
  if (const std::string_view hint = HintFor(line); !hint.empty()) {
    out += " (";
    out += hint;
    out += ')';
  }
  return out;
}

}  // namespace sandgate::bubblewrap
