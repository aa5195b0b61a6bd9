#include "pipelines/protected_paths.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <iterator>
#include <optional>
#include <string_view>
#include <system_error>

#include "base/unique_fd.h"
#include "pipelines/placeholders.h"

namespace sandgate::pipelines {
namespace fs = std::filesystem;
namespace {

// Git pointer and commondir files are a single short line; anything longer is not one.
constexpr size_t kMaxPointerFileBytes = 4096;

std::optional<std::string> ReadSmallFile(const fs::path& path) {
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return std::nullopt;
  std::string data(kMaxPointerFileBytes + 1, '\0');
  ssize_t n = ::read(fd.Get(), data.data(), data.size());
  if (n < 0 || static_cast<size_t>(n) > kMaxPointerFileBytes) return std::nullopt;
  data.resize(static_cast<size_t>(n));
  return data;
}

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(s.find_last_not_of(ws) + 1);
  s.erase(0, s.find_first_not_of(ws));
  return s;
}

size_t Depth(const fs::path& path) {
  return static_cast<size_t>(std::distance(path.begin(), path.end()));
}

class Finder {
 public:
  explicit Finder(const std::vector<fs::path>& roots) : roots_(roots) {}

  // The protected names at the top of `dir`, a writable root or the cwd; `where` says which, for
  // the log.
  base::Status ProtectTopLevel(const fs::path& dir, std::string_view where) {
    for (const char* name : kProtectedNames) {
      fs::path p = dir / name;
      struct stat st {};
      if (::lstat(p.c_str(), &st) != 0) {
        if (errno != ENOENT) return base::ErrnoError("lstat(" + p.string() + ")");
        AddMissing(p, "missing " + std::string(name) + " in " + std::string(where));
        continue;
      }
      if (S_ISLNK(st.st_mode)) {
        if (IsWithinAny(p, roots_)) return SymlinkError(p, RootOf(p));
        // Only a cwd outside every writable root gets here. The command cannot change this
        // link, but what it points to may lie inside a writable root.
        auto real = ProtectResolved(p, std::string(name) + " in " + std::string(where));
        if (!real.Ok()) return real.Err();
        if (std::string_view(name) == ".git" && real.Value() && IsRegularFile(*real.Value())) {
          if (auto status = ProtectGitPointer(p, *real.Value()); !status) return status;
        }
        continue;
      }
      if (IsPlaceholder(st)) {
        Add(p, ProtectionKind::kBlockMissing, "placeholder left by an earlier sandgate");
        continue;
      }
      Add(p, ProtectionKind::kReadOnly, std::string(name) + " in " + std::string(where));
      if (std::string_view(name) == ".git" && S_ISREG(st.st_mode)) {
        if (auto status = ProtectGitPointer(p, p); !status) return status;
      }
    }
    return base::Ok{};
  }

  // A file named by the user that the command must not change (a policy file).
  base::Status ProtectFile(const fs::path& file, const std::string& why) {
    auto real = ProtectResolved(file, why);
    if (!real.Ok()) return real.Err();
    return base::Ok{};
  }

  std::vector<Protection> Take() && { return std::move(found_); }

 private:
  // A worktree or submodule has a `.git` file "gitdir: PATH"; the repository it names holds
  // the hooks and config that would run outside the sandbox, so it is protected as well.
  // `pointer` is where git finds the file (a relative gitdir is taken from its directory, as git
  // does), `file` its real path.
  base::Status ProtectGitPointer(const fs::path& pointer, const fs::path& file) {
    auto content = ReadSmallFile(file);
    if (!content) return base::Ok{};
    std::string text = Trim(*content);
    constexpr std::string_view kPrefix = "gitdir:";
    if (text.rfind(kPrefix, 0) != 0) return base::Ok{};
    fs::path target = Trim(text.substr(kPrefix.size()));
    if (target.empty()) return base::Ok{};
    if (target.is_relative()) target = pointer.parent_path() / target;
    auto gitdir = ProtectResolved(target.lexically_normal(), "gitdir of " + pointer.string());
    if (!gitdir.Ok()) return gitdir.Err();
    if (!gitdir.Value()) return base::Ok{};
    // A linked worktree's gitdir shares hooks and config through `commondir`.
    auto common = ReadSmallFile(*gitdir.Value() / "commondir");
    if (!common) return base::Ok{};
    fs::path common_dir = Trim(*common);
    if (common_dir.empty()) return base::Ok{};
    if (common_dir.is_relative()) common_dir = *gitdir.Value() / common_dir;
    auto r = ProtectResolved(common_dir.lexically_normal(), "commondir of " + pointer.string());
    if (!r.Ok()) return r.Err();
    return base::Ok{};
  }

  // Walks `target` component by component. Symlinks outside the writable roots are followed
  // (the command cannot change them); one inside a writable root is refused. Returns the real
  // path when the target exists, nullopt when it does not.
  base::Result<std::optional<fs::path>> ProtectResolved(const fs::path& target,
                                                        const std::string& why) {
    fs::path current = "/";
    int links_followed = 0;
    std::vector<fs::path> pending(std::next(target.begin()), target.end());
    std::reverse(pending.begin(), pending.end());
    while (!pending.empty()) {
      fs::path component = pending.back();
      pending.pop_back();
      if (component.empty() || component == ".") continue;
      if (component == "..") {
        current = current.parent_path();
        continue;
      }
      fs::path next = current / component;
      struct stat st {};
      if (::lstat(next.c_str(), &st) != 0) {
        if (errno != ENOENT && errno != ENOTDIR) {
          return base::ErrnoError("lstat(" + next.string() + ")");
        }
        // Block the first missing component so the command cannot create the path (AddMissing
        // ignores it outside the writable roots, where nothing can be created).
        AddMissing(next, why + " (missing)");
        return std::optional<fs::path>{};
      }
      if (S_ISLNK(st.st_mode)) {
        if (IsWithinAny(next, roots_)) return SymlinkError(next, RootOf(next));
        if (++links_followed > 40) return base::Error{ELOOP, "resolving " + target.string()};
        std::error_code ec;
        fs::path link = fs::read_symlink(next, ec);
        if (ec) return base::Error{ec.value(), "readlink(" + next.string() + ")"};
        std::vector<fs::path> parts(link.begin(), link.end());
        if (link.is_absolute()) {
          current = "/";
          parts.erase(parts.begin());
        }
        for (auto it = parts.rbegin(); it != parts.rend(); ++it) pending.push_back(*it);
        continue;
      }
      current = next;
    }
    Add(current, ProtectionKind::kReadOnly, why);
    return std::optional<fs::path>{current};
  }

  static bool IsRegularFile(const fs::path& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
  }

  // The innermost writable root holding `path`, for messages.
  fs::path RootOf(const fs::path& path) const {
    fs::path best;
    for (const auto& root : roots_) {
      if (IsWithinAny(path, {root}) && (best.empty() || Depth(root) > Depth(best))) best = root;
    }
    return best;
  }

  static base::Error SymlinkError(const fs::path& link, const fs::path& root) {
    return base::Error{0, link.string() + " is a symlink inside writable root " + root.string() +
                              ": a protected path cannot be a link there (the command could "
                              "replace it); replace the link with its target or make " +
                              root.string() + " read-only"};
  }

  // A missing path needs a placeholder only where the command could create it.
  void AddMissing(const fs::path& path, const std::string& why) {
    if (!IsWithinAny(path, roots_)) return;
    if (auto reason = WhyCommandCannotCreateIn(path.parent_path())) {
      Add(path, ProtectionKind::kUncreatable,
          why + ", and the command cannot create it: " + *reason);
      return;
    }
    Add(path, ProtectionKind::kBlockMissing, why);
  }

  // Outside the writable roots everything is read-only already: nothing to mount there.
  void Add(const fs::path& path, ProtectionKind kind, std::string why) {
    if (!IsWithinAny(path, roots_)) return;
    for (const auto& p : found_) {
      if (p.path == path) return;
    }
    found_.push_back(Protection{path, kind, std::move(why)});
  }

  const std::vector<fs::path>& roots_;
  std::vector<Protection> found_;
};

}  // namespace

bool IsWithinAny(const fs::path& path, const std::vector<fs::path>& roots) {
  for (const auto& root : roots) {
    auto [root_end, path_it] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
    // A trailing empty component ("/a/b/") matches anything.
    if (root_end == root.end() || (std::next(root_end) == root.end() && root_end->empty())) {
      return true;
    }
  }
  return false;
}

base::Result<std::vector<Protection>> FindProtections(const std::vector<fs::path>& writable_roots,
                                                      const fs::path& cwd,
                                                      const std::vector<fs::path>& read_only_files) {
  // A relative cwd would be looked up from sandgate's own working directory.
  if (!cwd.is_absolute()) return base::Error{EINVAL, "cwd " + cwd.string() + " is not absolute"};
  Finder finder(writable_roots);
  for (const auto& root : writable_roots) {
    if (auto status = finder.ProtectTopLevel(root, "writable root"); !status) return status.Err();
  }
  // Under a wider root (`-w ~/src -C ~/src/proj`) nothing above protects the cwd's own `.git`.
  // When the cwd is a root it was done above; the Finder drops duplicates anyway.
  if (std::find(writable_roots.begin(), writable_roots.end(), cwd) == writable_roots.end()) {
    if (auto status = finder.ProtectTopLevel(cwd, "the working directory"); !status) {
      return status.Err();
    }
  }
  // git looks for a repository from the cwd upwards, and so does Codex for its project config:
  // with `-w ~/src -C ~/src/proj/sub` the repository is `~/src/proj/.git`. So every directory
  // between the cwd and the innermost writable root above it is treated like the cwd, up to and
  // including the first one that holds a `.git` (git stops there).
  const fs::path* innermost = nullptr;
  for (const auto& root : writable_roots) {
    if (root != cwd && IsWithinAny(cwd, {root}) &&
        (innermost == nullptr || IsWithinAny(root, {*innermost}))) {
      innermost = &root;
    }
  }
  struct stat st {};
  bool found_git = ::lstat((cwd / ".git").c_str(), &st) == 0;
  for (fs::path dir = cwd.parent_path(); innermost != nullptr && !found_git && dir != *innermost &&
                                         IsWithinAny(dir, {*innermost});
       dir = dir.parent_path()) {
    if (auto status = finder.ProtectTopLevel(dir, "a parent of the working directory"); !status) {
      return status.Err();
    }
    found_git = ::lstat((dir / ".git").c_str(), &st) == 0;
  }
  for (const auto& file : read_only_files) {
    if (auto status = finder.ProtectFile(file, "policy file " + file.string()); !status) {
      return status.Err();
    }
  }
  return std::move(finder).Take();
}

std::optional<std::string> WhyCommandCannotCreateIn(const fs::path& dir) {
  // bubblewrap gives the command the real ids; reasoning with the effective ones is only sound
  // when they agree.
  if (::getuid() != ::geteuid() || ::getgid() != ::getegid()) return std::nullopt;
  base::UniqueFd fd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return std::nullopt;  // e.g. not a directory: let the placeholder report it
  struct statvfs fs_info {};
  // Checked first: faccessat may report EACCES for a read-only mount before EROFS, and the owner
  // rule below must not turn that into "can".
  if (::fstatvfs(fd.Get(), &fs_info) == 0 && (fs_info.f_flag & ST_RDONLY) != 0) {
    return dir.string() + " is on a read-only mount";
  }
  if (::faccessat(fd.Get(), ".", W_OK | X_OK, AT_EACCESS) == 0) return std::nullopt;
  if (errno == EROFS) return dir.string() + " is on a read-only filesystem";
  // EPERM (an immutable directory) and anything unexpected: assume the command might.
  if (errno != EACCES) return std::nullopt;
  struct stat st {};
  if (::fstat(fd.Get(), &st) != 0) return std::nullopt;
  // The owner may chmod the directory, capabilities or not.
  if (st.st_uid == ::geteuid()) return std::nullopt;
  return dir.string() + " belongs to uid " + std::to_string(st.st_uid) +
         " and is not writable for uid " + std::to_string(::geteuid()) + " or its groups";
}

}  // namespace sandgate::pipelines
