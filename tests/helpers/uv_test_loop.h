#pragma once

#include <poll.h>
#include <uv.h>

#include <chrono>
#include <functional>

namespace sandgate::testing {

// Runs `loop` a little at a time until `done` holds; false after `timeout` (a safety net against
// hangs, never an assertion about speed).
inline bool RunUntil(uv_loop_t* loop, const std::function<bool()>& done,
                     std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    uv_run(loop, UV_RUN_NOWAIT);
    if (done()) break;
    ::poll(nullptr, 0, 1);
  }
  return true;
}

// Runs `loop` for `duration`, e.g. to show that nothing arrives.
inline void RunFor(uv_loop_t* loop, std::chrono::milliseconds duration) {
  (void)RunUntil(loop, [] { return false; }, duration);
}

}  // namespace sandgate::testing
