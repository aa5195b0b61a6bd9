#include "supervisor/machine_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sandgate::supervisor {
namespace {

using ::testing::HasSubstr;

MachineFacts Facts() {
  MachineFacts f;
  f.kernel = "Linux 6.1.0";
  f.landlock_abi = 3;
  f.user_namespaces = true;
  f.seccomp_listener = true;
  f.wait_killable_recv = true;
  f.bwrap_path = "/usr/bin/bwrap";
  f.bwrap_version = "0.8.0";
  return f;
}

TEST(MachineReportTest, EveryFactOnItsLine) {
  const auto text = FormatMachineReport(Facts());
  EXPECT_THAT(text, HasSubstr("kernel: Linux 6.1.0\n"));
  EXPECT_THAT(text, HasSubstr("running as: an unprivileged user\n"));
  EXPECT_THAT(text, HasSubstr("landlock abi: 3\n"));
  EXPECT_THAT(text, HasSubstr("seccomp wait_killable_recv: yes\nseccomp sync_wake_up: no\n"));
  EXPECT_THAT(text, HasSubstr("bwrap: /usr/bin/bwrap 0.8.0\n"));
  EXPECT_THAT(text, HasSubstr("inner stage: unknown\n"));
  auto f = Facts();
  f.inner_stage = "/opt/sandgate/sandgate-inner";
  EXPECT_THAT(FormatMachineReport(f), HasSubstr("inner stage: /opt/sandgate/sandgate-inner\n"));
  f.inner_stage = "/opt/sandgate/sandgate";
  EXPECT_THAT(FormatMachineReport(f),
              HasSubstr("inner stage: /opt/sandgate/sandgate (no sandgate-inner next to it"));
  EXPECT_THAT(text, HasSubstr("pipeline bwrap: available\n"));
  EXPECT_THAT(text, HasSubstr("pipeline legacy: a user namespace with"));
}

TEST(MachineReportTest, WithoutUserNamespacesTheLegacyShapeDependsOnTheAbi) {
  auto f = Facts();
  f.user_namespaces = false;
  f.user_namespaces_error = "unshare: EPERM";
  EXPECT_THAT(FormatMachineReport(f), HasSubstr("pipeline bwrap: unavailable (user namespaces: unshare: EPERM)"));
  EXPECT_THAT(FormatMachineReport(f), HasSubstr("pipeline legacy: unavailable without user namespaces (needs Landlock ABI 6"));
  f.landlock_abi = 6;
  EXPECT_THAT(FormatMachineReport(f), HasSubstr("pipeline legacy: no namespaces"));
  f.root = true;
  EXPECT_THAT(FormatMachineReport(f), HasSubstr("pipeline legacy: namespaces of root"));
  EXPECT_THAT(FormatMachineReport(f), HasSubstr("pipeline bwrap: available"));
}

TEST(MachineReportTest, MissingPiecesSayWhy) {
  MachineFacts f;
  f.landlock_error = "Landlock is disabled";
  f.seccomp_error = "seccomp(NEW_LISTENER): EINVAL";
  f.bwrap_error = "bwrap not found on PATH";
  const auto text = FormatMachineReport(f);
  EXPECT_THAT(text, HasSubstr("landlock abi: none (Landlock is disabled)\n"));
  EXPECT_THAT(text, HasSubstr("seccomp listener: no (seccomp(NEW_LISTENER): EINVAL)\n"));
  EXPECT_THAT(text, HasSubstr("bwrap: not found (bwrap not found on PATH)\n"));
  EXPECT_THAT(text, HasSubstr("pipeline legacy: unavailable (needs Landlock ABI 3)\n"));
}

}  // namespace
}  // namespace sandgate::supervisor
