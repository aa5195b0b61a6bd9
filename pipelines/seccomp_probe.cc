#include "pipelines/seccomp_probe.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/seccomp_abi.h"
#include "base/unique_fd.h"
#include "pipelines/seccomp_filter.h"

namespace sandgate::pipelines {
namespace {

long LoadAllowAll(unsigned long flags) {
  sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  sock_fprog program{1, &allow};
  return ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &program);
}

}  // namespace

SeccompFeatures ProbeSeccompFeatures() noexcept {
  SeccompFeatures features;
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) {
    features.error = std::string("pipe2: ") + std::strerror(errno);
    return features;
  }
  base::UniqueFd read_end(report[0]);
  base::UniqueFd write_end(report[1]);
  const pid_t child = ::fork();
  if (child < 0) {
    features.error = std::string("fork: ") + std::strerror(errno);
    return features;
  }
  if (child == 0) {
    // [listener errno or 0, wait_killable, sync_wake_up]; async-signal-safe calls only.
    int words[3] = {0, 0, 0};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
      words[0] = errno;
    } else {
      long fd = LoadAllowAll(SECCOMP_FILTER_FLAG_NEW_LISTENER | kSeccompFilterFlagWaitKillableRecv);
      if (fd >= 0) {
        words[1] = 1;
      } else {
        fd = LoadAllowAll(SECCOMP_FILTER_FLAG_NEW_LISTENER);
      }
      if (fd < 0) {
        words[0] = errno;
      } else {
        words[2] = ::ioctl(static_cast<int>(fd), base::kSeccompNotifSetFlags,
                           base::kSeccompSyncWakeUp) == 0
                       ? 1
                       : 0;
      }
    }
    (void)!::write(write_end.Get(), words, sizeof words);
    ::_exit(0);
  }
  write_end.Reset();
  int words[3] = {-1, 0, 0};
  ssize_t n;
  do {
    n = ::read(read_end.Get(), words, sizeof words);
  } while (n < 0 && errno == EINTR);
  while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (n != sizeof words) {
    features.error = "the seccomp probe died";
  } else if (words[0] != 0) {
    features.error = std::string("seccomp(NEW_LISTENER): ") + std::strerror(words[0]);
  } else {
    features.listener = true;
    features.wait_killable_recv = words[1] != 0;
    features.sync_wake_up = words[2] != 0;
  }
  return features;
}

}  // namespace sandgate::pipelines
