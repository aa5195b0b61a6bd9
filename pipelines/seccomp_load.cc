#include "pipelines/seccomp_load.h"

#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace sandgate::pipelines {

base::Result<LoadedFilter> LoadSeccompProgram(const sock_filter* program, std::size_t length,
                                              Listener listener, WaitKillable wait_killable) {
  if (length == 0 || length > kSeccompMaxInstructions) {
    return base::Error{EINVAL, "seccomp program of " + std::to_string(length) + " instructions"};
  }
  sock_fprog fprog{static_cast<unsigned short>(length), const_cast<sock_filter*>(program)};
  const unsigned long base_flags =
      listener == Listener::kWanted ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
  LoadedFilter loaded;
  long rc = -1;
  if (listener == Listener::kWanted && wait_killable == WaitKillable::kAsk) {
    // A notification sandgate has received then waits for fatal signals only: a signal storm
    // cannot turn one connect into many (Linux 5.19+; older kernels refuse the flag).
    rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                   base_flags | kSeccompFilterFlagWaitKillableRecv, &fprog);
    loaded.wait_killable = rc >= 0;
  }
  if (rc < 0) rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, base_flags, &fprog);
  if (rc < 0) return base::ErrnoError("seccomp(SECCOMP_SET_MODE_FILTER)");
  loaded.listener = listener == Listener::kWanted ? static_cast<int>(rc) : -1;
  return loaded;
}

}  // namespace sandgate::pipelines
