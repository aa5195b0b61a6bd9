#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <filesystem>

#include "base/result.h"

namespace sandgate::bubblewrap {

// Checks the sysctls that decide whether bwrap may create the user namespace sandgate asks for
// (--unshare-user), so a refusal can be explained with the knob to turn instead of bwrap's
// terse "setting up uid map: Permission denied". Reads, under `proc_sys`:
//   user/max_user_namespaces                  0 disables user namespaces for everyone;
//   kernel/unprivileged_userns_clone          (Debian/Ubuntu patch) 0 disables them unless the
//                                             caller has CAP_SYS_ADMIN;
//   kernel/apparmor_restrict_unprivileged_userns  (Ubuntu) 1 lets unprivileged, unconfined
//                                             programs create them only without capabilities.
// The last two are checked only when `euid` is not 0, euid 0 standing in for the capability.
// A file that is missing or unreadable, or holds no number, counts as "no restriction": the
// kernel may simply not have that knob, and guessing wrong would block a working setup.
//
// `proc_sys` and `euid` are parameters so tests can use fake files and identities. On failure
// the Error has errnum 0 and its context is the one-line message for the user.
[[nodiscard]] base::Status CheckUserNamespaces(const std::filesystem::path& proc_sys = "/proc/sys",
                                               uid_t euid = geteuid());

}  // namespace sandgate::bubblewrap
