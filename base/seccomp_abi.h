#pragma once

#include <linux/seccomp.h>
#include <sys/ioctl.h>

#include <cstdint>

// Seccomp user-notification ABI newer than the uapi headers Debian 12 ships (6.1's).
namespace sandgate::base {

// SECCOMP_IOCTL_NOTIF_SET_FLAGS (Linux 6.6): flags of the listener fd.
inline constexpr unsigned long kSeccompNotifSetFlags = _IOW('!', 4, std::uint64_t);
// SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: an answer wakes the waiting thread on the answering CPU,
// as a direct hand-over, instead of through the scheduler's ordinary wake-up.
inline constexpr std::uint64_t kSeccompSyncWakeUp = 1;

}  // namespace sandgate::base
