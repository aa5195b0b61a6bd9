#pragma once

#include <filesystem>
#include <vector>

#include "pipelines/protected_paths.h"

namespace sandgate::pipelines {

enum class MountKind {
  kWritableBind,     // the path bound onto itself, writable as it was
  kReadOnlyBind,     // the path bound onto itself, read-only
  kDevNullReadOnly,  // /dev/null bound read-only onto the path (a placeholder for a missing name)
};

struct PlannedMount {
  std::filesystem::path path;
  MountKind kind;
  bool operator==(const PlannedMount&) const = default;
};

// The mounts that make writable roots and protections what they are, in the order to apply
// them; both pipelines carry out the same plan (bwrap as arguments, legacy with mount(2)).
//
// Order matters: a later mount hides an earlier one. Writable-root binds and protections are
// sorted by path so that a parent always comes before what is inside it; at equal paths the
// protection comes last. Thus protections of one root also cover a second root nested in it,
// and a root the user named inside a protected path (`-w repo/.git/hooks`) stays writable,
// because the user asked for exactly that.
//
// Every writable directory between a writable root and a protection or nested root inside it is
// also bound onto itself ("pinned"): a mount point cannot be renamed, so the command cannot move
// a protected directory aside and put its own in its place. kUncreatable protections get no mount
// of their own, only pins. Pure: the filesystem was inspected before (FindProtections).
[[nodiscard]] std::vector<PlannedMount> PlanMounts(
    const std::vector<std::filesystem::path>& writable_roots,
    const std::vector<Protection>& protections);

}  // namespace sandgate::pipelines
