#include "pipelines/placeholders.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace sandgate::pipelines {

constexpr mode_t kPlaceholderMode = 0444;

bool IsPlaceholder(const struct stat& st) {
  return S_ISREG(st.st_mode) && st.st_size == 0 && (st.st_mode & 07777) == kPlaceholderMode;
}

namespace {

// FindProtections asks for a placeholder in a read-only directory of the user's own because the
// command could chmod it; sandgate does not change the user's directory modes, so say what to do.
base::Error CreateError(const std::filesystem::path& path) {
  base::Error error = base::ErrnoError("creating placeholder " + path.string());
  struct stat dir {};
  if (error.errnum == EACCES && ::stat(path.parent_path().c_str(), &dir) == 0 &&
      dir.st_uid == ::geteuid()) {
    error.context +=
        " (the directory is yours but not writable; the command could make it writable and "
        "create the path, so it must be covered: make the directory writable, or choose writable "
        "roots that do not contain it)";
  }
  return error;
}

}  // namespace

base::Status Placeholders::Acquire(const std::filesystem::path& path) {
  // Another sandgate may remove the file between our open and our lock; then the inode we locked
  // is no longer at `path` and we start over. Each lost round means another sandbox made
  // progress, so a bound this high is only reached by a path that something keeps replacing.
  // Yielding after a lost round lets the winner get on with its run instead of racing us again.
  for (int attempt = 0; attempt < 1000; ++attempt) {
    if (attempt > 0) ::sched_yield();
    base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                             kPlaceholderMode));
    if (!fd && errno == EEXIST) {
      fd.Reset(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
      // The sandgate that held it removed it between our two opens: create it afresh.
      if (!fd && errno == ENOENT) continue;
    }
    if (!fd) return CreateError(path);
    // The umask may have narrowed the mode; the mode is the placeholder's signature.
    if (::fchmod(fd.Get(), kPlaceholderMode) != 0 && errno != EPERM) {
      return base::ErrnoError("fchmod(" + path.string() + ")");
    }
    if (::flock(fd.Get(), LOCK_SH) != 0) return base::ErrnoError("flock(" + path.string() + ")");
    struct stat held {}, now {};
    if (::fstat(fd.Get(), &held) != 0) return base::ErrnoError("fstat(" + path.string() + ")");
    if (::lstat(path.c_str(), &now) != 0 || now.st_dev != held.st_dev || now.st_ino != held.st_ino) {
      continue;  // removed or replaced under us
    }
    if (!IsPlaceholder(held)) {
      return base::Error{0, path.string() + " appeared while the sandbox was being set up"};
    }
    held_.push_back(Held{path, std::move(fd), held.st_dev, held.st_ino});
    return base::Ok{};
  }
  return base::Error{EAGAIN, "placeholder " + path.string() + " keeps changing"};
}

void Placeholders::RemoveUnused() noexcept {
  for (auto& h : held_) {
    // Trade our shared lock for an exclusive one without waiting: if anyone else still holds
    // the placeholder, it is theirs to remove.
    if (::flock(h.fd.Get(), LOCK_EX | LOCK_NB) != 0) continue;
    struct stat now {};
    if (::lstat(h.path.c_str(), &now) == 0 && now.st_dev == h.dev && now.st_ino == h.ino &&
        IsPlaceholder(now)) {
      ::unlink(h.path.c_str());
    }
  }
  held_.clear();
}

}  // namespace sandgate::pipelines
