#include "supervisor/exit_status.h"

#include <gtest/gtest.h>

#include <csignal>

namespace sandgate::supervisor {
namespace {

TEST(ExitStatusTest, CodeOrSignal) {
  EXPECT_EQ(ExitCodeFromWaitStatus(0, 0), 0);
  EXPECT_EQ(ExitCodeFromWaitStatus(3, 0), 3);
  EXPECT_EQ(ExitCodeFromWaitStatus(0, SIGKILL), 137);
  EXPECT_EQ(ExitCodeFromWaitStatus(0, SIGTERM), 143);
}

}  // namespace
}  // namespace sandgate::supervisor
