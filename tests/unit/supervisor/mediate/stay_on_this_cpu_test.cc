#include "supervisor/mediate/stay_on_this_cpu.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <cstring>

namespace sandgate::supervisor {
namespace {

cpu_set_t Allowed() {
  cpu_set_t set{};
  EXPECT_EQ(::sched_getaffinity(0, sizeof set, &set), 0);
  return set;
}

TEST(StayOnThisCpuTest, HoldsTheThreadOnItsCpuAndGivesBackWhatItHad) {
  const cpu_set_t before = Allowed();
  if (CPU_COUNT(&before) < 2) GTEST_SKIP() << "this thread may run on one CPU only: nothing to hold";
  {
    StayOnThisCpu stay;
    ASSERT_TRUE(stay.Holding());
    const cpu_set_t now = Allowed();
    EXPECT_EQ(CPU_COUNT(&now), 1);
    EXPECT_TRUE(CPU_ISSET(::sched_getcpu(), &now));
  }
  const cpu_set_t after = Allowed();
  EXPECT_TRUE(CPU_EQUAL(&before, &after));
}

TEST(StayOnThisCpuTest, AThreadAlreadyOnOneCpuIsLeftAlone) {
  const cpu_set_t before = Allowed();
  cpu_set_t one{};
  CPU_SET(::sched_getcpu(), &one);
  ASSERT_EQ(::sched_setaffinity(0, sizeof one, &one), 0);
  {
    StayOnThisCpu stay;
    EXPECT_FALSE(stay.Holding());
  }
  const cpu_set_t after = Allowed();
  EXPECT_TRUE(CPU_EQUAL(&one, &after));
  ASSERT_EQ(::sched_setaffinity(0, sizeof before, &before), 0);
}

}  // namespace
}  // namespace sandgate::supervisor
