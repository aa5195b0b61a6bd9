#pragma once

#include <linux/filter.h>

#include <cstddef>

#include "base/result.h"
#include "pipelines/seccomp_constants.h"

namespace sandgate::pipelines {

// Loading a finished BPF program, the inner stage's half of the seccomp filter. No libseccomp:
// the supervisor builds the program (seccomp_filter.h) and hands it over, so the inner stage
// neither links nor runs the filter compiler.

enum class Listener { kNone, kWanted };
// kAsk: with a listener, ask the kernel for WAIT_KILLABLE_RECV (and do without where it has none).
// kDoNot: never (SANDGATE_SECCOMP_WAIT_KILLABLE=off, to test the path older kernels take).
enum class WaitKillable { kAsk, kDoNot };

struct LoadedFilter {
  int listener = -1;  // the seccomp listener (Listener::kWanted), owned by the caller
  // Received notifications wait for fatal signals only (the kernel took the flag).
  bool wait_killable = false;
};

// Installs the program on the calling thread, which must be the process's only one (no TSYNC).
// Needs no_new_privs. With Listener::kWanted the filter's notifications go to a new listener,
// asked for with WAIT_KILLABLE_RECV where the kernel has it.
[[nodiscard]] base::Result<LoadedFilter> LoadSeccompProgram(const sock_filter* program,
                                                            std::size_t length, Listener listener,
                                                            WaitKillable wait_killable);

}  // namespace sandgate::pipelines
