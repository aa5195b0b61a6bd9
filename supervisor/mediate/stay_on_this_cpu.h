#pragma once

#include <sched.h>

namespace sandgate::supervisor {

// While it lives, the calling thread runs only on the CPU it is on now; then it gets back the
// CPUs it was allowed before. For a wait whose waker would otherwise pull the thread over to an
// idle CPU (on a VM, a costly wake-up) although this one is about to be free. Does nothing where
// the kernel refuses (a seccomp policy, a cpuset change in between): it is only an optimisation.
class StayOnThisCpu {
 public:
  StayOnThisCpu() noexcept;
  ~StayOnThisCpu();
  StayOnThisCpu(const StayOnThisCpu&) = delete;
  StayOnThisCpu& operator=(const StayOnThisCpu&) = delete;

  // Whether the thread is held on one CPU now.
  [[nodiscard]] bool Holding() const noexcept { return holding_; }

 private:
  cpu_set_t allowed_before_{};
  bool holding_ = false;
};

}  // namespace sandgate::supervisor
