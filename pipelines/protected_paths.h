#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace sandgate::pipelines {

// Names that stay read-only at the top of every writable root and of the working directory: git
// metadata (hooks and config run code outside the sandbox later) and agent configuration.
inline constexpr const char* kProtectedNames[] = {".git", ".codex", ".agents"};

enum class ProtectionKind {
  kReadOnly,      // exists: bound read-only onto itself
  kBlockMissing,  // missing: a placeholder is covered by /dev/null so nothing can be created there
  // Missing, and the command cannot create it (see WhyCommandCannotCreateIn): neither a
  // placeholder nor a mount. Kept in the list so that the decision is logged and so that the
  // directory holding it stays where it is (see BuildBwrapArgv).
  kUncreatable,
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

// Looks at the filesystem under each writable root and at the working directory `cwd`, and says
// which paths must be protected: the protected names at the top of each writable root and of the
// cwd, the target of a `.git` pointer file ("gitdir: ...") and that gitdir's `commondir`, each
// resolved through symlinks that lie outside the writable roots.
//
// The cwd counts although it need not be a writable root (`-w ~/src -C ~/src/proj`): it is where
// the user runs git next, so its names are protected whenever a writable root makes them
// writable; Codex treats the cwd as a writable root of its own for the same reason. Only paths
// inside a writable root are ever returned (everything else is read-only already), so for a cwd
// outside every writable root only what its `.git` points to inside a writable root is.
//
// Fails (a sandbox must not start) when a symlink *inside* a writable root lies on a protected
// path: bubblewrap's mounts follow symlinks at the destination, so the link itself could not be
// covered and the command could replace it (measured with bwrap 0.8.0). A symlink outside every
// writable root cannot be changed by the command and is followed.
//
// An empty file with mode 0444 at a protected name is a placeholder left by an earlier sandgate
// that was killed; it is treated as missing so that it is reused and cleaned up.
//
// A missing path whose directory the command cannot write is kUncreatable instead of
// kBlockMissing: no placeholder is needed, and the user may lack the right to make one
// (`cd /usr/share/doc && sandgate run -- ls`).
//
// `read_only_files` (SandboxSpec::read_only_files) are protected as well where they lie inside a
// writable root, resolved the way a gitdir is.
[[nodiscard]] base::Result<std::vector<Protection>> FindProtections(
    const std::vector<std::filesystem::path>& writable_roots, const std::filesystem::path& cwd,
    const std::vector<std::filesystem::path>& read_only_files = {});

// Why the sandboxed command could not create an entry in directory `dir`, or nullopt when it
// might. The command runs with this process's uid and groups and without any capability, so
// "cannot" must hold for that, never only for this process:
//  - a read-only mount or filesystem: nobody writes there, and bubblewrap keeps the flag (the
//    sandbox's user namespace cannot clear it);
//  - otherwise faccessat(W_OK | X_OK, AT_EACCESS) with this process's credentials, which are a
//    superset of the command's (same ids, perhaps more capabilities), so a "no" holds for the
//    command too; but the owner of a directory can chmod it, so ownership always counts as "can".
// As root, CAP_DAC_OVERRIDE makes faccessat say yes nearly everywhere: root keeps getting
// placeholders (conservative) except on read-only mounts. Any doubt (unexpected errors, real and
// effective ids that differ) answers nullopt, i.e. "might", which only costs a placeholder.
// Assumes the command is confined by security modules at least as much as this process (bwrap
// changes no LSM label); an LSM denial here is read as a denial for the command too.
[[nodiscard]] std::optional<std::string> WhyCommandCannotCreateIn(const std::filesystem::path& dir);

}  // namespace sandgate::pipelines
