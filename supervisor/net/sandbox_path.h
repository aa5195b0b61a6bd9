#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"

namespace sandgate::supervisor {

// Path-based unix sockets (rule kind `unix:PATHGLOB`). The supervisor runs outside the sandbox's
// mount namespace, so it resolves the command's path itself, in the sandbox's view, and then
// connects to the very inode it resolved: a path swapped after the check, a symlink planted by the
// command, or an absolute symlink / ".." meant for the host's root cannot redirect the connect.

struct ResolvedPath {
  std::string path;       // canonical absolute path in the sandbox's view (no symlinks, . , .., //)
  base::UniqueFd handle;  // O_PATH|O_CLOEXEC fd of the final object (never a symlink)
};

// Resolves `path` (absolute, or relative to `cwd_fd`/`cwd_path`) component by component, starting
// from `root_fd` (an O_PATH directory fd of the sandbox's root, e.g. from /proc/PID/root) for
// absolute paths and absolute symlink targets. Each step is
// openat(dir, component, O_PATH|O_NOFOLLOW|O_CLOEXEC); a symlink's target is read with
// readlinkat(fd, "") and spliced in as text, so magic links (/proc/...) are never followed.
// ".." pops back to the directory the walk came from (the canonical path is tracked lexically and
// never goes above "/"). Errors: empty path ENOENT, more than 40 symlinks ELOOP, a component over
// NAME_MAX or a path (given, or canonical result) of PATH_MAX or more ENAMETOOLONG, a non-directory
// followed by more components (or a trailing slash) ENOTDIR, `cwd_path` not absolute or not
// canonical EINVAL, `cwd_path` no longer leading to `cwd_fd`'s directory (or a directory moved
// while being walked) ESTALE, otherwise openat/readlinkat's errno. The fds are borrowed; `cwd_fd`
// and `cwd_path` are used only for a relative `path`. An absolute path the kernel's confined
// lookup (openat2 with RESOLVE_IN_ROOT) cannot find is ENOENT without a walk.
[[nodiscard]] base::Result<ResolvedPath> ResolveInSandbox(int root_fd, int cwd_fd,
                                                          std::string_view cwd_path,
                                                          std::string_view path);

// The filesystem as process `pid` sees it: O_PATH fds of its root and cwd, and its cwd as a path in
// its own view. readlink(/proc/PID/cwd) is only a candidate (the kernel renders it from the
// reader's root, or from the top of the target's mount namespace when that root is unreachable —
// wrong for a process that chroot()ed); it is used only when resolving it from the root fd reaches
// the same directory (same mount id and inode). Otherwise the path is rebuilt by walking ".." up
// from the cwd fd and finding each name by mount id and inode, up to the root fd (bounded: PATH_MAX
// and at most 65536 directory entries read). A cwd not below the root (chroot without chdir) or
// deleted fails with ENOENT. `pid` may be a thread id (/proc/TID works for threads): pass the
// notifying thread's, since root and cwd live in its fs_struct, which unshare(CLONE_FS) can split.
struct ProcessFsView {
  base::UniqueFd root;
  base::UniqueFd cwd;
  std::string cwd_path;
};
[[nodiscard]] base::Result<ProcessFsView> OpenProcessFsView(pid_t pid);
// Only the root of that view (`cwd` invalid, `cwd_path` empty): all an absolute path needs,
// since resolving one never involves the cwd. Spares finding the cwd's path, which is a walk
// of its own for every attempt.
[[nodiscard]] base::Result<ProcessFsView> OpenProcessRootView(pid_t pid);

// Connects a new AF_UNIX socket of `type` (SOCK_STREAM, SOCK_SEQPACKET or SOCK_DGRAM; anything else
// is EINVAL) to the socket inode `handle` refers to, by connecting to "/proc/self/fd/N": the kernel
// follows the magic link to that inode, so no path is looked up again. Never blocks: the socket is
// SOCK_NONBLOCK|SOCK_CLOEXEC, a full backlog gives EAGAIN. Errors are connect's errno:
// ECONNREFUSED when nothing listens (also for a regular file), EPROTOTYPE for a type mismatch.
// Note the connect is made with the supervisor's credentials (peer credentials, file permissions).
[[nodiscard]] base::Result<base::UniqueFd> ConnectUnixAt(const base::UniqueFd& handle, int type);

}  // namespace sandgate::supervisor
