#include "supervisor/child/target_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "base/unique_fd.h"

namespace sandgate::supervisor {
namespace {

constexpr std::size_t kMaxCmdlineBytes = 64 * 1024;

// "/proc/PID/NAME" relative to the process's /proc directory when sandgate holds one (no path
// walk through /proc, and never another process that took the pid), else by path.
struct ProcFile {
  ProcFile(pid_t pid, int proc_dir, const char* name) : dir(proc_dir) {
    if (proc_dir >= 0) {
      path = name;
    } else {
      path = "/proc/" + std::to_string(pid) + "/" + name;
    }
  }
  [[nodiscard]] int Dir() const { return dir >= 0 ? dir : AT_FDCWD; }
  int dir;
  std::string path;
};

// Reads at most `limit` bytes, a page at a time: this runs for every request, and most of what it
// reads (a status, an argv) is far shorter than its bound. A short read is the end (/proc files
// hand out what they have at once), which saves the read that would return 0.
std::string ReadBounded(const ProcFile& file, std::size_t limit) {
  base::UniqueFd fd(::openat(file.Dir(), file.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return {};
  std::string data;
  char page[4096];
  while (data.size() < limit) {
    const std::size_t want = std::min(sizeof page, limit - data.size());
    ssize_t n = ::read(fd.Get(), page, want);
    if (n <= 0) break;
    data.append(page, static_cast<std::size_t>(n));
    if (static_cast<std::size_t>(n) < want) break;
  }
  return data;
}

std::string ReadLink(const ProcFile& file) {
  char buf[PATH_MAX];
  ssize_t n = ::readlinkat(file.Dir(), file.path.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace

base::UniqueFd OpenProcDir(pid_t pid, int pidfd) {
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d", static_cast<int>(pid));
  base::UniqueFd dir(::open(path, O_PATH | O_DIRECTORY | O_CLOEXEC));
  // Opened while the pidfd's process still ran: then the directory is that process's.
  if (dir && !ProcessRunning(pidfd)) dir.Reset();
  return dir;
}

std::optional<pid_t> ThreadGroupOf(pid_t tid) {
  std::string status = ReadBounded(ProcFile(tid, -1, "status"), 4096);
  auto pos = status.find("\nTgid:");
  if (pos == std::string::npos) return std::nullopt;
  long tgid = std::strtol(status.c_str() + pos + 6, nullptr, 10);
  if (tgid <= 0) return std::nullopt;
  return static_cast<pid_t>(tgid);
}

bool IsThreadOf(pid_t tgid, int pidfd, pid_t tid) {
  // The kernel looks for the thread within the group before it checks the permission to signal
  // it: EPERM also means "found", only ESRCH means "not there". No signal is sent.
  const int rc = ::tgkill(tgid, tid, 0);
  if (rc != 0 && errno != EPERM) return false;
  // Asked after the signal: a process running now was running then, and held the number.
  return ProcessRunning(pidfd);
}

bool FdCloexec(pid_t pid, int proc_dir, int fd) {
  char name[32];
  std::snprintf(name, sizeof name, "fdinfo/%d", fd);
  // "pos:\t0\nflags:\t02000002\n...": the flags come second, well within the first read.
  const std::string text = ReadBounded(ProcFile(pid, proc_dir, name), 255);
  constexpr std::string_view kKey = "\nflags:";
  const std::string_view content(text);
  auto at = content.find(kKey);
  if (at == std::string_view::npos) return false;
  unsigned long flags = 0;
  for (std::size_t i = at + kKey.size(); i < content.size(); ++i) {
    const char c = content[i];
    if (c == ' ' || c == '\t') continue;
    if (c < '0' || c > '7') break;
    flags = flags * 8 + static_cast<unsigned long>(c - '0');
  }
  return (flags & O_CLOEXEC) != 0;
}

bool ProcessRunning(int pidfd) {
  // A pidfd becomes readable when its process has exited (POLLHUP once it is reaped).
  pollfd p{pidfd, POLLIN, 0};
  int rc;
  do {
    rc = ::poll(&p, 1, 0);
  } while (rc < 0 && errno == EINTR);
  return rc == 0;
}

base::Result<std::vector<std::uint8_t>> ReadTargetMemory(pid_t pid, std::uint64_t address,
                                                         std::size_t size) {
  std::vector<std::uint8_t> data(size);
  if (size == 0) return data;
  iovec local{data.data(), size};
  iovec remote{reinterpret_cast<void*>(address), size};
  ssize_t n = ::process_vm_readv(pid, &local, 1, &remote, 1, 0);
  if (n < 0) return base::ErrnoError("process_vm_readv(pid=" + std::to_string(pid) + ")");
  if (static_cast<std::size_t>(n) != size) return base::Error{EFAULT, "short read of target memory"};
  return data;
}

bool WriteTargetMemory(pid_t pid, std::uint64_t address, const void* data, std::size_t size) {
  iovec local{const_cast<void*>(data), size};
  iovec remote{reinterpret_cast<void*>(address), size};
  return ::process_vm_writev(pid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(size);
}

std::string ReadProcessExe(pid_t pid, int proc_dir) { return ReadLink(ProcFile(pid, proc_dir, "exe")); }

ProcessContext ReadProcessContext(pid_t pid, int proc_dir) {
  ProcessContext context;
  context.pid = pid;
  context.exe = ReadLink(ProcFile(pid, proc_dir, "exe"));
  context.cwd = ReadLink(ProcFile(pid, proc_dir, "cwd"));
  std::string cmdline = ReadBounded(ProcFile(pid, proc_dir, "cmdline"), kMaxCmdlineBytes);
  std::string_view rest = cmdline;
  while (!rest.empty()) {
    auto end = rest.find('\0');
    context.argv.emplace_back(rest.substr(0, end));
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }
  return context;
}

}  // namespace sandgate::supervisor
