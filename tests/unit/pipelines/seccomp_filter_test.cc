#include "pipelines/seccomp_filter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sandgate::pipelines {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Pfc(NetworkMode mode) {
  auto filter = BuildSeccompFilter(mode);
  EXPECT_TRUE(filter.Ok());
  auto pfc = ExportFilterPfc(filter.Value());
  EXPECT_TRUE(pfc.Ok());
  return pfc.Ok() ? pfc.Value() : "";
}

// The section of the listing that handles one syscall, up to the next syscall or the default.
std::string Section(const std::string& pfc, const std::string& syscall) {
  auto start = pfc.find("syscall \"" + syscall + "\"");
  if (start == std::string::npos) return "";
  auto end = pfc.find("# filter for syscall", start + 1);
  if (end == std::string::npos) end = pfc.find("# default action", start);
  return pfc.substr(start, end - start);
}

TEST(SeccompFilterTest, OnlyNativeArchitectureAndOthersAreKilled) {
  std::string pfc = Pfc(NetworkMode::kOff);
  EXPECT_THAT(pfc, HasSubstr("filter for arch x86_64"));
  EXPECT_THAT(pfc, Not(HasSubstr("arch x86 ")));
  EXPECT_THAT(pfc, Not(HasSubstr("arch x32")));
  EXPECT_THAT(pfc, HasSubstr("# invalid architecture action\naction KILL_PROCESS;"));
  EXPECT_THAT(pfc, HasSubstr("# default action\n  action ALLOW;"));
}

TEST(SeccompFilterTest, NetworkOffAllowsOnlyUnixSockets) {
  std::string socket = Section(Pfc(NetworkMode::kOff), "socket");
  ASSERT_FALSE(socket.empty());
  // AF_UNIX (1) passes through, everything else is EPERM (1).
  EXPECT_THAT(socket, HasSubstr("if ($a0.lo32 == 1)"));
  EXPECT_THAT(socket, HasSubstr("action ERRNO(1);"));
}

TEST(SeccompFilterTest, NetworkOnAndApproveDoNotTouchSocket) {
  EXPECT_EQ(Section(Pfc(NetworkMode::kOn), "socket"), "");
  EXPECT_EQ(Section(Pfc(NetworkMode::kApprove), "socket"), "");
}

TEST(SeccompFilterTest, IoUringIsRefusedInEveryMode) {
  for (auto mode : {NetworkMode::kOff, NetworkMode::kApprove, NetworkMode::kOn}) {
    std::string pfc = Pfc(mode);
    for (const char* call : {"io_uring_setup", "io_uring_enter", "io_uring_register"}) {
      EXPECT_THAT(Section(pfc, call), HasSubstr("action ERRNO(38);")) << call;  // ENOSYS
    }
  }
}

TEST(SeccompFilterTest, NewUserNamespacesAndSetnsAreRefused) {
  std::string pfc = Pfc(NetworkMode::kOn);
  // CLONE_NEWUSER is 0x10000000 = 268435456.
  EXPECT_THAT(Section(pfc, "unshare"), HasSubstr("$a0.lo32 & 0x10000000 == 268435456"));
  EXPECT_THAT(Section(pfc, "clone"), HasSubstr("$a0.lo32 & 0x10000000 == 268435456"));
  EXPECT_THAT(Section(pfc, "clone3"), HasSubstr("action ERRNO(38);"));
  EXPECT_THAT(Section(pfc, "setns"), HasSubstr("action ERRNO(1);"));
}

TEST(SeccompFilterTest, SameModeGivesTheSameProgram) {
  EXPECT_EQ(Pfc(NetworkMode::kOff), Pfc(NetworkMode::kOff));
  EXPECT_NE(Pfc(NetworkMode::kOff), Pfc(NetworkMode::kOn));
}

}  // namespace
}  // namespace sandgate::pipelines
