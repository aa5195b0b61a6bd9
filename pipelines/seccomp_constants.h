#pragma once

// What the kernel's seccomp interface needs and Debian 12's headers lack, for both inner stages
// (pipelines/seccomp_load.h and the freestanding pipelines/inner/): header-only, no library.
#include <cstddef>

namespace sandgate::pipelines {

// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux 5.19), absent from Debian 12's headers.
inline constexpr unsigned long kSeccompFilterFlagWaitKillableRecv = 1UL << 5;

// BPF_MAXINSNS: the longest program the kernel loads.
inline constexpr std::size_t kSeccompMaxInstructions = 4096;

}  // namespace sandgate::pipelines
