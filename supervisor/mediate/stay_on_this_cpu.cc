#include "supervisor/mediate/stay_on_this_cpu.h"

namespace sandgate::supervisor {

StayOnThisCpu::StayOnThisCpu() noexcept {
  if (::sched_getaffinity(0, sizeof allowed_before_, &allowed_before_) != 0) return;
  const int cpu = ::sched_getcpu();
  if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed_before_)) return;
  if (CPU_COUNT(&allowed_before_) == 1) return;  // already held there
  cpu_set_t only{};
  CPU_SET(cpu, &only);
  holding_ = ::sched_setaffinity(0, sizeof only, &only) == 0;
}

StayOnThisCpu::~StayOnThisCpu() {
  if (holding_) static_cast<void>(::sched_setaffinity(0, sizeof allowed_before_, &allowed_before_));
}

}  // namespace sandgate::supervisor
