#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "base/result.h"

namespace sandgate::pipelines {

// Names that stay read-only at the top of every writable root: git metadata (hooks and config
// run code outside the sandbox later) and agent configuration.
inline constexpr const char* kProtectedNames[] = {".git", ".codex", ".agents"};

enum class ProtectionKind {
  kReadOnly,      // exists: bound read-only onto itself
  kBlockMissing,  // missing: a placeholder is covered by /dev/null so nothing can be created there
};

struct Protection {
  std::filesystem::path path;
  ProtectionKind kind;
  std::string why;  // e.g. "gitdir of /w/.git", for logs and test messages

  bool operator==(const Protection&) const = default;
};

// True when `path` is one of `roots` or lies beneath one (lexically; all inputs are canonical).
[[nodiscard]] bool IsWithinAny(const std::filesystem::path& path,
                               const std::vector<std::filesystem::path>& roots);

// Looks at the filesystem under each writable root and says which paths must be protected:
// the top-level protected names, the target of a `.git` pointer file ("gitdir: ...") and that
// gitdir's `commondir`, each resolved through symlinks that lie outside the writable roots.
//
// Fails (a sandbox must not start) when a symlink *inside* a writable root lies on a protected
// path: bubblewrap's mounts follow symlinks at the destination, so the link itself could not be
// covered and the command could replace it (measured with bwrap 0.8.0).
//
// An empty file with mode 0444 at a protected name is a placeholder left by an earlier sandgate
// that was killed; it is treated as missing so that it is reused and cleaned up.
[[nodiscard]] base::Result<std::vector<Protection>> FindProtections(
    const std::vector<std::filesystem::path>& writable_roots);

}  // namespace sandgate::pipelines
