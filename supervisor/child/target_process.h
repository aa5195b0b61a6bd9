#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace sandgate::supervisor {

// The process (thread group) a seccomp notification's thread belongs to. Notifications carry a
// thread id; fd tables, memory and pidfd_open work per process. Read from /proc/TID/status.
[[nodiscard]] std::optional<pid_t> ThreadGroupOf(pid_t tid);
// The process's /proc directory (O_PATH), opened while `pidfd`'s process still runs, so that it
// can never be another process that took the pid later; invalid if it could not be. The /proc
// reads below take it as `proc_dir`, or -1 to go by /proc/PID.
[[nodiscard]] base::UniqueFd OpenProcDir(pid_t pid, int pidfd);

// Is `tid` a thread of process `tgid`, whose pidfd is `pidfd`? One null signal (tgkill(2) finds
// the thread only in that thread group) where ThreadGroupOf has the kernel print a whole status
// file: for the processes already known. The pidfd, still running after the answer, makes sure
// that `tgid` was that process's and not another's that took the number.
[[nodiscard]] bool IsThreadOf(pid_t tgid, int pidfd, pid_t tid);

// FD_CLOEXEC of the process's fd `fd` (/proc/PID/fdinfo/FD): fd flags are per fd, so a copy
// of the file cannot tell. False when it cannot be read.
[[nodiscard]] bool FdCloexec(pid_t pid, int proc_dir, int fd);

// Has the process behind `pidfd` not exited yet? One poll(2) with no wait. While it runs, no
// other task can have its pid, so a notification from that thread id comes from its leader.
[[nodiscard]] bool ProcessRunning(int pidfd);

// Copies `size` bytes at `address` in `pid`'s memory. Whatever is read must only be trusted once
// SECCOMP_IOCTL_NOTIF_ID_VALID confirms the notification (and so the memory's owner) still lives.
[[nodiscard]] base::Result<std::vector<std::uint8_t>> ReadTargetMemory(pid_t pid,
                                                                       std::uint64_t address,
                                                                       std::size_t size);

// Writes `size` bytes at `address` in `pid`'s memory (a syscall's output carried out on its
// behalf). False unless all of them were written.
[[nodiscard]] bool WriteTargetMemory(pid_t pid, std::uint64_t address, const void* data,
                                     std::size_t size);

// Who is asking, for approval requests and audit lines. Bounded: argv at most 64 KiB, a path at
// most PATH_MAX; unreadable parts stay empty.
struct ProcessContext {
  pid_t pid = 0;
  std::string exe;
  std::vector<std::string> argv;
  std::string cwd;
};
[[nodiscard]] ProcessContext ReadProcessContext(pid_t pid, int proc_dir = -1);
// Just the executable (one readlink), for audit lines.
[[nodiscard]] std::string ReadProcessExe(pid_t pid, int proc_dir = -1);

}  // namespace sandgate::supervisor
