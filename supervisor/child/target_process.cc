#include "supervisor/child/target_process.h"

#include <fcntl.h>
#include <poll.h>
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

// Reads at most `limit` bytes, a page at a time: this runs for every request, and most of what it
// reads (a status, an argv) is far shorter than its bound.
std::string ReadBounded(const std::string& path, std::size_t limit) {
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return {};
  std::string data;
  char page[4096];
  while (data.size() < limit) {
    ssize_t n = ::read(fd.Get(), page, std::min(sizeof page, limit - data.size()));
    if (n <= 0) break;
    data.append(page, static_cast<std::size_t>(n));
  }
  return data;
}

std::string ReadLink(const std::string& path) {
  char buf[PATH_MAX];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace

std::optional<pid_t> ThreadGroupOf(pid_t tid) {
  std::string status = ReadBounded("/proc/" + std::to_string(tid) + "/status", 4096);
  auto pos = status.find("\nTgid:");
  if (pos == std::string::npos) return std::nullopt;
  long tgid = std::strtol(status.c_str() + pos + 6, nullptr, 10);
  if (tgid <= 0) return std::nullopt;
  return static_cast<pid_t>(tgid);
}

bool IsThreadOf(pid_t tgid, pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/task/%d", static_cast<int>(tgid),
                static_cast<int>(tid));
  return ::access(path, F_OK) == 0;
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

std::string ReadProcessExe(pid_t pid) { return ReadLink("/proc/" + std::to_string(pid) + "/exe"); }

ProcessContext ReadProcessContext(pid_t pid) {
  ProcessContext context;
  context.pid = pid;
  const std::string base = "/proc/" + std::to_string(pid);
  context.exe = ReadLink(base + "/exe");
  context.cwd = ReadLink(base + "/cwd");
  std::string cmdline = ReadBounded(base + "/cmdline", kMaxCmdlineBytes);
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
