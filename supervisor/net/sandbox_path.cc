#include "supervisor/net/sandbox_path.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <utility>
#include <vector>

namespace sandgate::supervisor {
namespace {

// The kernel's limit (MAXSYMLINKS): the command must not get further through the supervisor than
// through its own connect().
constexpr int kMaxSymlinks = 40;
// Bounds the fallback cwd walk: a command can fill a directory with entries, and each one costs
// a statx on the supervisor's loop.
constexpr std::size_t kMaxDirEntriesScanned = 65536;

// Which directory (or file) an fd is: the mount id tells bind mounts of one directory apart, so
// equal identities mean the same place in the mount tree, not just the same inode.
struct Identity {
  std::uint32_t dev_major = 0;
  std::uint32_t dev_minor = 0;
  std::uint64_t ino = 0;
  std::uint64_t mnt_id = 0;
  std::uint16_t mode = 0;

  bool operator==(const Identity& other) const {
    return dev_major == other.dev_major && dev_minor == other.dev_minor && ino == other.ino &&
           mnt_id == other.mnt_id;
  }
};

base::Result<Identity> IdentityAt(int dir_fd, const char* name, int flags) {
  struct statx stx {};
  if (::statx(dir_fd, name, flags | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
              STATX_TYPE | STATX_INO | STATX_MNT_ID, &stx) != 0) {
    return base::ErrnoError(std::string("statx(") + (*name ? name : "fd") + ")");
  }
  Identity id;
  id.dev_major = stx.stx_dev_major;
  id.dev_minor = stx.stx_dev_minor;
  id.ino = stx.stx_ino;
  id.mnt_id = (stx.stx_mask & STATX_MNT_ID) != 0 ? stx.stx_mnt_id : 0;
  id.mode = stx.stx_mode;
  return id;
}

base::Result<Identity> IdentityOf(int fd) { return IdentityAt(fd, "", AT_EMPTY_PATH); }

// Does the kernel's own lookup, confined to `root_fd` as the walk below is (RESOLVE_IN_ROOT:
// absolute symlinks and ".." stop at it; magic links refused), find nothing at the absolute
// `path`? Then the walk would end at the same missing name, and one openat2 spares it: most
// unix connects a program makes are to sockets that are not there (a C library's nscd socket,
// twice per process). Only that answer is trusted; anything else (found, a magic link, a race
// with a rename, no openat2) leaves the answer to the walk.
bool MissingInRoot(int root_fd, const std::string& path) {
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  base::UniqueFd found(
      static_cast<int>(::syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how)));
  return !found && errno == ENOENT;
}

base::Result<base::UniqueFd> DupCloexec(int fd) {
  base::UniqueFd dup(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!dup) return base::ErrnoError("fcntl(F_DUPFD_CLOEXEC)");
  return dup;
}

// Splits `path` into components in reverse order (the next one at the back) and appends them to
// `pending`. Empty components ("//") vanish; a trailing slash becomes "." so that a non-directory
// before it still fails with ENOTDIR.
void PushComponents(std::string_view path, std::vector<std::string>& pending) {
  if (path.size() > 1 && path.back() == '/') pending.emplace_back(".");
  std::size_t end = path.size();
  while (end > 0) {
    std::size_t slash = path.rfind('/', end - 1);
    std::size_t begin = slash == std::string_view::npos ? 0 : slash + 1;
    if (end > begin) pending.emplace_back(path.substr(begin, end - begin));
    if (slash == std::string_view::npos) break;
    end = slash;
  }
}

// The walk's position: the names from the root to the current directory, each with the identity
// it had when it was looked up, and an fd of the current directory only (a deep path must not
// hold one fd per level). ".." opens the physical parent and checks it is the directory the walk
// came from, so the canonical path and the fds always describe the same lookups.
class Walker {
 public:
  Walker(int root_fd, Identity root_id) : root_fd_(root_fd) { stack_.push_back({{}, root_id}); }

  [[nodiscard]] int CurrentFd() const { return current_ ? current_.Get() : root_fd_; }
  [[nodiscard]] std::size_t PathLength() const { return path_length_; }

  void ResetToRoot() {
    stack_.resize(1);
    current_.Reset();
    path_length_ = 0;
  }

  base::Status Enter(std::string name, Identity id, base::UniqueFd fd) {
    if (path_length_ + 1 + name.size() >= PATH_MAX) {
      return base::Error{ENAMETOOLONG, "canonical path too long"};
    }
    path_length_ += 1 + name.size();
    stack_.push_back({std::move(name), id});
    current_ = std::move(fd);
    return base::Ok{};
  }

  base::Status Leave() {
    if (stack_.size() == 1) return base::Ok{};  // ".." at "/" stays at "/"
    base::UniqueFd parent(::openat(CurrentFd(), "..", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!parent) return base::ErrnoError("openat(..)");
    auto id = IdentityOf(parent.Get());
    if (!id) return id.Err();
    path_length_ -= 1 + stack_.back().name.size();
    stack_.pop_back();
    if (!(*id == stack_.back().id)) {
      return base::Error{ESTALE, "parent of " + Path() + " changed during resolution"};
    }
    if (stack_.size() == 1) {
      current_.Reset();
    } else {
      current_ = std::move(parent);
    }
    return base::Ok{};
  }

  [[nodiscard]] std::string Path(std::string_view last = {}) const {
    std::string path;
    path.reserve(path_length_ + 1 + last.size());
    for (std::size_t i = 1; i < stack_.size(); ++i) path.append("/").append(stack_[i].name);
    if (!last.empty()) path.append("/").append(last);
    if (path.empty()) path = "/";
    return path;
  }

  base::Result<base::UniqueFd> TakeCurrent() {
    if (current_) return std::move(current_);
    return DupCloexec(root_fd_);
  }

 private:
  struct Entry {
    std::string name;
    Identity id;
  };
  int root_fd_;
  std::vector<Entry> stack_;  // stack_[0] is the root
  base::UniqueFd current_;    // invalid while at the root (root_fd_ is borrowed)
  std::size_t path_length_ = 0;
};

base::Status CheckName(std::string_view name) {
  if (name.size() > NAME_MAX) {
    return base::Error{ENAMETOOLONG, "path component longer than NAME_MAX"};
  }
  return base::Ok{};
}

// Puts the walk at `cwd_path`, looked up from the root without following anything, and checks
// that it is still the directory `cwd_fd` refers to.
base::Status EnterCwd(Walker& walker, int cwd_fd, std::string_view cwd_path) {
  if (cwd_path.empty() || cwd_path.front() != '/' || cwd_path.size() >= PATH_MAX) {
    return base::Error{EINVAL, "cwd path is not absolute: " + std::string(cwd_path)};
  }
  std::vector<std::string> names;
  PushComponents(cwd_path, names);
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    if (*it == "." || *it == "..") {
      return base::Error{EINVAL, "cwd path is not canonical: " + std::string(cwd_path)};
    }
    if (auto ok = CheckName(*it); !ok) return ok.Err();
    base::UniqueFd fd(
        ::openat(walker.CurrentFd(), it->c_str(), O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return base::ErrnoError("openat(cwd component " + *it + ")");
    auto id = IdentityOf(fd.Get());
    if (!id) return id.Err();
    if (auto ok = walker.Enter(*it, *id, std::move(fd)); !ok) return ok.Err();
  }
  auto here = IdentityOf(walker.CurrentFd());
  if (!here) return here.Err();
  auto cwd = IdentityOf(cwd_fd);
  if (!cwd) return cwd.Err();
  if (!(*here == *cwd)) {
    return base::Error{ESTALE, "cwd is no longer at " + std::string(cwd_path)};
  }
  return base::Ok{};
}

// The fallback for OpenProcessFsView: climbs from the cwd with ".." and finds each directory's
// name in its parent by identity, until it reaches the root.
base::Result<std::string> WalkUpToRoot(int root_fd, int cwd_fd) {
  auto root_id = IdentityOf(root_fd);
  if (!root_id) return root_id.Err();
  auto current = DupCloexec(cwd_fd);
  if (!current) return current.Err();
  auto current_id = IdentityOf(current->Get());
  if (!current_id) return current_id.Err();
  std::vector<std::string> names;  // from the cwd upwards
  std::size_t length = 0;
  std::size_t scanned = 0;
  while (!(*current_id == *root_id)) {
    base::UniqueFd parent(::openat(current->Get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!parent) return base::ErrnoError("openat(..)");
    auto parent_id = IdentityOf(parent.Get());
    if (!parent_id) return parent_id.Err();
    if (*parent_id == *current_id) {
      return base::Error{ENOENT, "cwd is not below the process's root"};
    }
    auto listing = DupCloexec(parent.Get());  // fdopendir takes ownership of its fd
    if (!listing) return listing.Err();
    DIR* dir = ::fdopendir(listing->Get());
    if (dir == nullptr) return base::ErrnoError("fdopendir");
    (void)listing->Release();
    std::string found;
    bool too_many = false;
    int read_error = 0;
    for (;;) {
      errno = 0;
      dirent* entry = ::readdir(dir);
      if (entry == nullptr) {
        read_error = errno;
        break;
      }
      if (++scanned > kMaxDirEntriesScanned) {
        too_many = true;
        break;
      }
      std::string_view name = entry->d_name;
      if (name == "." || name == "..") continue;
      if (entry->d_type != DT_DIR && entry->d_type != DT_UNKNOWN) continue;
      auto id = IdentityAt(parent.Get(), entry->d_name, 0);
      if (id && *id == *current_id) {
        found = name;
        break;
      }
    }
    ::closedir(dir);
    if (too_many) return base::Error{EOVERFLOW, "too many directory entries above the cwd"};
    if (read_error != 0) return base::Error{read_error, "readdir(parent of cwd)"};
    if (found.empty()) return base::Error{ENOENT, "cwd not found in its parent (deleted?)"};
    length += 1 + found.size();
    if (length >= PATH_MAX) return base::Error{ENAMETOOLONG, "cwd path too long"};
    names.push_back(std::move(found));
    current = std::move(parent);
    current_id = *parent_id;
  }
  std::string path;
  for (auto it = names.rbegin(); it != names.rend(); ++it) path.append("/").append(*it);
  if (path.empty()) path = "/";
  return path;
}

}  // namespace

base::Result<ResolvedPath> ResolveInSandbox(int root_fd, int cwd_fd, std::string_view cwd_path,
                                            std::string_view path) {
  if (path.empty()) return base::Error{ENOENT, "empty path"};
  if (path.size() >= PATH_MAX) return base::Error{ENAMETOOLONG, "path too long"};
  if (path.find('\0') != std::string_view::npos) return base::Error{EINVAL, "NUL in path"};
  if (path.front() == '/') {
    const std::string absolute(path);
    if (MissingInRoot(root_fd, absolute)) return base::Error{ENOENT, "openat2(" + absolute + ")"};
  }
  auto root_id = IdentityOf(root_fd);
  if (!root_id) return root_id.Err();
  Walker walker(root_fd, *root_id);
  if (path.front() != '/') {
    if (auto ok = EnterCwd(walker, cwd_fd, cwd_path); !ok) return ok.Err();
  }

  std::vector<std::string> pending;  // the next component at the back
  PushComponents(path, pending);
  int symlinks = 0;
  while (!pending.empty()) {
    std::string name = std::move(pending.back());
    pending.pop_back();
    // The current position is always a directory: a non-directory ends the walk below.
    if (name == ".") continue;
    if (name == "..") {
      if (auto ok = walker.Leave(); !ok) return ok.Err();
      continue;
    }
    if (auto ok = CheckName(name); !ok) return ok.Err();
    base::UniqueFd fd(::openat(walker.CurrentFd(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return base::ErrnoError("openat(" + walker.Path(name) + ")");
    auto id = IdentityOf(fd.Get());
    if (!id) return id.Err();

    if (S_ISLNK(id->mode)) {
      if (++symlinks > kMaxSymlinks) return base::Error{ELOOP, "too many symlinks"};
      std::string target(PATH_MAX, '\0');
      ssize_t n = ::readlinkat(fd.Get(), "", target.data(), target.size());
      if (n < 0) return base::ErrnoError("readlinkat(" + walker.Path(name) + ")");
      if (n == 0) return base::Error{ENOENT, "empty symlink " + walker.Path(name)};
      if (static_cast<std::size_t>(n) >= target.size()) {
        return base::Error{ENAMETOOLONG, "symlink target too long"};
      }
      target.resize(static_cast<std::size_t>(n));
      if (target.front() == '/') walker.ResetToRoot();
      PushComponents(target, pending);
      continue;
    }
    if (S_ISDIR(id->mode)) {
      if (auto ok = walker.Enter(std::move(name), *id, std::move(fd)); !ok) return ok.Err();
      continue;
    }
    if (!pending.empty()) {
      return base::Error{ENOTDIR, "not a directory: " + walker.Path(name)};
    }
    if (walker.PathLength() + 1 + name.size() >= PATH_MAX) {
      return base::Error{ENAMETOOLONG, "canonical path too long"};
    }
    return ResolvedPath{walker.Path(name), std::move(fd)};
  }
  std::string canonical = walker.Path();
  auto handle = walker.TakeCurrent();
  if (!handle) return handle.Err();
  return ResolvedPath{std::move(canonical), std::move(*handle)};
}

base::Result<ProcessFsView> OpenProcessRootView(pid_t pid) {
  const std::string root = "/proc/" + std::to_string(pid) + "/root";
  ProcessFsView view;
  view.root.Reset(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!view.root) return base::ErrnoError("open(" + root + ")");
  return view;
}

base::Result<ProcessFsView> OpenProcessFsView(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  auto rooted = OpenProcessRootView(pid);
  if (!rooted) return rooted.Err();
  ProcessFsView view = std::move(*rooted);
  view.cwd.Reset(::open((proc + "/cwd").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!view.cwd) return base::ErrnoError("open(" + proc + "/cwd)");
  auto cwd_id = IdentityOf(view.cwd.Get());
  if (!cwd_id) return cwd_id.Err();

  // Fast path: the kernel renders /proc/PID/cwd from our root, or, when that is unreachable
  // (another mount namespace), from the top of the process's namespace. That is the process's own
  // view unless it chroot()ed; trust it only if it leads back to the same directory in the same
  // mount.
  char link[PATH_MAX];
  ssize_t n = ::readlink((proc + "/cwd").c_str(), link, sizeof link);
  if (n > 0 && static_cast<std::size_t>(n) < sizeof link && link[0] == '/') {
    auto resolved = ResolveInSandbox(view.root.Get(), -1, "/",
                                     std::string_view(link, static_cast<std::size_t>(n)));
    if (resolved) {
      auto id = IdentityOf(resolved->handle.Get());
      if (id && *id == *cwd_id) {
        view.cwd_path = std::move(resolved->path);
        return view;
      }
    }
  }

  auto walked = WalkUpToRoot(view.root.Get(), view.cwd.Get());
  if (!walked) return walked.Err();
  // The walk found each name by identity; looking the whole path up again catches a rename that
  // raced with it.
  auto check = ResolveInSandbox(view.root.Get(), -1, "/", *walked);
  if (!check) return check.Err();
  auto id = IdentityOf(check->handle.Get());
  if (!id) return id.Err();
  if (!(*id == *cwd_id)) return base::Error{ESTALE, "cwd moved while its path was computed"};
  view.cwd_path = std::move(check->path);
  return view;
}

base::Result<base::UniqueFd> ConnectUnixAt(const base::UniqueFd& handle, int type) {
  if (type != SOCK_STREAM && type != SOCK_SEQPACKET && type != SOCK_DGRAM) {
    return base::Error{EINVAL, "unsupported unix socket type " + std::to_string(type)};
  }
  if (!handle) return base::Error{EBADF, "ConnectUnixAt without a handle"};
  base::UniqueFd sock(::socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!sock) return base::ErrnoError("socket(AF_UNIX)");
  // The magic link names the inode behind `handle` directly; nothing the command can rename or
  // replace is looked up here.
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  int len = std::snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d", handle.Get());
  auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len + 1);
  if (::connect(sock.Get(), reinterpret_cast<const sockaddr*>(&addr), addr_len) != 0) {
    return base::ErrnoError("connect(" + std::string(addr.sun_path) + ")");
  }
  return sock;
}

}  // namespace sandgate::supervisor
