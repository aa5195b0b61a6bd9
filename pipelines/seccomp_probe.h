#pragma once

#include <string>

namespace sandgate::pipelines {

// What this kernel's seccomp offers sandgate, found out by a forked child that loads an
// allow-everything filter (nothing of this process changes).
struct SeccompFeatures {
  bool listener = false;            // SECCOMP_FILTER_FLAG_NEW_LISTENER (user notifications)
  bool wait_killable_recv = false;  // SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (5.19)
  bool sync_wake_up = false;        // SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (6.6)
  std::string error;                // why there is no listener, when there is none
};

[[nodiscard]] SeccompFeatures ProbeSeccompFeatures() noexcept;

}  // namespace sandgate::pipelines
