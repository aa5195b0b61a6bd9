#include "pipelines/mount_plan.h"

#include <algorithm>
#include <iterator>
#include <optional>

namespace sandgate::pipelines {
namespace fs = std::filesystem;
namespace {

struct MountOp {
  fs::path path;
  int order;  // 0 = writable bind, 1 = protection: at equal paths the protection wins
  MountKind kind;
};

size_t Depth(const fs::path& path) {
  return static_cast<size_t>(std::distance(path.begin(), path.end()));
}

bool IsMounted(const Protection& p) {
  switch (p.kind) {
    case ProtectionKind::kReadOnly:
    case ProtectionKind::kBlockMissing:
      return true;
    case ProtectionKind::kUncreatable:
      return false;
  }
  return true;
}

// Whether `dir` is writable in the sandbox: the mount that shows it is the deepest writable root
// or protection at or above it, and at equal depth the protection (it is mounted later).
bool IsWritableInSandbox(const fs::path& dir, const std::vector<fs::path>& roots,
                         const std::vector<Protection>& protections) {
  std::optional<size_t> depth;
  bool writable = false;
  for (const auto& root : roots) {
    if (IsWithinAny(dir, {root}) && (!depth || Depth(root) > *depth)) {
      depth = Depth(root);
      writable = true;
    }
  }
  for (const auto& p : protections) {
    if (IsMounted(p) && IsWithinAny(dir, {p.path}) && (!depth || Depth(p.path) >= *depth)) {
      depth = Depth(p.path);
      writable = false;
    }
  }
  return writable;
}

// Renaming a directory that merely contains a mount point succeeds, and the mount moves along
// (measured with bwrap 0.8.0): with `-w ~/src -C ~/src/proj` the command could rename proj
// aside, protected .git and all, and leave a fresh proj/.git of its own where the user runs git
// next. A mount point itself cannot be renamed or removed (EBUSY). So every writable directory
// between a writable root and a mount or protection deeper inside it is bound onto itself; it
// stays just as writable.
std::vector<fs::path> Pins(const std::vector<fs::path>& roots,
                           const std::vector<Protection>& protections) {
  std::vector<fs::path> anchors = roots;
  std::vector<fs::path> mount_points = roots;
  for (const auto& p : protections) {
    // Even a path that needs no mount must keep its directory: a renamed-away directory the
    // command cannot write is replaced by one it can.
    anchors.push_back(p.path);
    if (IsMounted(p)) mount_points.push_back(p.path);
  }
  std::vector<fs::path> pins;
  for (const auto& anchor : anchors) {
    const fs::path* outer = nullptr;  // the innermost root strictly above the anchor
    for (const auto& root : roots) {
      if (root != anchor && IsWithinAny(anchor, {root}) &&
          (outer == nullptr || Depth(root) > Depth(*outer))) {
        outer = &root;
      }
    }
    if (outer == nullptr) continue;
    for (fs::path dir = anchor.parent_path(); Depth(dir) > Depth(*outer); dir = dir.parent_path()) {
      if (std::find(mount_points.begin(), mount_points.end(), dir) != mount_points.end()) continue;
      if (std::find(pins.begin(), pins.end(), dir) != pins.end()) continue;
      // Inside a read-only protection nothing can be renamed anyway, and a writable bind there
      // would undo the protection.
      if (!IsWritableInSandbox(dir, roots, protections)) continue;
      pins.push_back(dir);
    }
  }
  return pins;
}

}  // namespace

std::vector<PlannedMount> PlanMounts(const std::vector<fs::path>& writable_roots,
                                     const std::vector<Protection>& protections) {
  std::vector<MountOp> ops;
  for (const auto& root : writable_roots) ops.push_back({root, 0, MountKind::kWritableBind});
  for (const auto& dir : Pins(writable_roots, protections)) {
    ops.push_back({dir, 0, MountKind::kWritableBind});
  }
  for (const auto& p : protections) {
    switch (p.kind) {
      case ProtectionKind::kReadOnly:
        ops.push_back({p.path, 1, MountKind::kReadOnlyBind});
        break;
      case ProtectionKind::kBlockMissing:
        ops.push_back({p.path, 1, MountKind::kDevNullReadOnly});
        break;
      case ProtectionKind::kUncreatable:
        break;  // nothing to cover: the command cannot create it
    }
  }
  std::stable_sort(ops.begin(), ops.end(), [](const MountOp& a, const MountOp& b) {
    if (a.path != b.path) return a.path < b.path;
    return a.order < b.order;
  });
  std::vector<PlannedMount> mounts;
  mounts.reserve(ops.size());
  for (auto& op : ops) mounts.push_back({std::move(op.path), op.kind});
  return mounts;
}

}  // namespace sandgate::pipelines
