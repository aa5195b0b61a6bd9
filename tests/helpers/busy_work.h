#pragma once

#include <ctime>

namespace sandgate::testing {

// Keeps the CPU busy for `us` microseconds, as a program working between its connects does.
// Header-only: `sandbox_probe` and `bench/minimal_allow_path` link no project library.
inline void BusyWork(long us) {
  timespec start{}, now{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  do {
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while ((now.tv_sec - start.tv_sec) * 1000000L + (now.tv_nsec - start.tv_nsec) / 1000 < us);
}

}  // namespace sandgate::testing
