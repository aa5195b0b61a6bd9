#include "vendor/bubblewrap/bwrap_diagnosis.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/bubblewrap/bwrap_samples.h"

namespace sandgate::bubblewrap {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

BwrapInfo Info(BwrapVersion version, std::string_view help) {
  return BwrapInfo{"/usr/bin/bwrap", version, ParseBwrapHelp(help)};
}

TEST(DiagnoseSetupFailureTest, OldVersionIsNamedFirst) {
  const BwrapInfo info = Info({0, 4, 1}, testdata::kHelpBefore080);
  EXPECT_EQ(DiagnoseSetupFailure(&info, "bwrap: Unknown option --disable-userns\n"),
            "bubblewrap 0.4.1 at /usr/bin/bwrap is too old: sandgate needs 0.8.0 or newer "
            "(missing --disable-userns); install a newer bubblewrap and pass it with --bwrap PATH");
}

TEST(DiagnoseSetupFailureTest, OldVersionWithAllFlagsStillTooOld) {
  const BwrapInfo info = Info({0, 7, 0}, testdata::kHelp080);
  EXPECT_EQ(DiagnoseSetupFailure(&info, ""),
            "bubblewrap 0.7.0 at /usr/bin/bwrap is too old: sandgate needs 0.8.0 or newer; "
            "install a newer bubblewrap and pass it with --bwrap PATH");
}

TEST(DiagnoseSetupFailureTest, NewVersionMissingFlagsIsTooOld) {
  const BwrapInfo info = Info({0, 9, 0}, "    --unshare-user   x\n");
  const std::string reason = DiagnoseSetupFailure(&info, "");
  EXPECT_THAT(reason, StartsWith("bubblewrap 0.9.0 at /usr/bin/bwrap is too old: sandgate needs "
                                 "0.8.0 or newer (missing --disable-userns --json-status-fd "));
  EXPECT_THAT(reason, Not(HasSubstr("--unshare-user ")));
}

TEST(DiagnoseSetupFailureTest, LastStderrLineWithoutBwrapPrefix) {
  const BwrapInfo info = Info({0, 8, 0}, testdata::kHelp080);
  EXPECT_EQ(DiagnoseSetupFailure(&info,
                                 "bwrap: warning: something\n"
                                 "bwrap: Can't bind mount /oldroot/x on /newroot/x: "
                                 "No such file or directory\n\n"),
            "bubblewrap: Can't bind mount /oldroot/x on /newroot/x: No such file or directory");
  EXPECT_EQ(DiagnoseSetupFailure(nullptr, "something odd\r\n"), "bubblewrap: something odd");
}

TEST(DiagnoseSetupFailureTest, EmptyStderr) {
  const BwrapInfo info = Info({0, 8, 0}, testdata::kHelp080);
  EXPECT_EQ(DiagnoseSetupFailure(&info, ""), "bubblewrap exited before starting the command");
  EXPECT_EQ(DiagnoseSetupFailure(nullptr, ""), "bubblewrap exited before starting the command");
  EXPECT_EQ(DiagnoseSetupFailure(nullptr, "\n  \n"),
            "bubblewrap exited before starting the command");
}

TEST(DiagnoseSetupFailureTest, UserNamespaceFailuresGetAHint) {
  // What bubblewrap releases before 0.8.0 print when the kernel refuses the user namespace.
  constexpr std::string_view kOldNoPermissions =
      "bwrap: No permissions to creating new namespace, likely because the kernel does not "
      "allow non-privileged user namespaces. On e.g. debian this can be enabled with "
      "'sysctl kernel.unprivileged_userns_clone=1'.\n";
  for (const std::string_view stderr_text : {
           std::string_view("bwrap: setting up uid map: Permission denied\n"),
           std::string_view("bwrap: setting up uid map: Operation not permitted\n"),
           std::string_view("bwrap: setting up gid map: Operation not permitted\n"),
           kOldNoPermissions,
           // Debian 12's 0.8.0 under a filter that refuses user namespaces (measured).
           std::string_view("bwrap: No permissions to create new namespace, likely because the "
                            "kernel does not allow non-privileged user namespaces. See "
                            "<https://deb.li/bubblewrap> or "
                            "<file:///usr/share/doc/bubblewrap/README.Debian.gz>.\n"),
           std::string_view("bwrap: Creating new namespace failed: Operation not permitted\n"),
       }) {
    const std::string reason = DiagnoseSetupFailure(nullptr, stderr_text);
    EXPECT_THAT(reason, StartsWith("bubblewrap: ")) << stderr_text;
    EXPECT_THAT(reason, Not(StartsWith("bubblewrap: bwrap: "))) << stderr_text;
    EXPECT_THAT(reason, HasSubstr("(user namespaces are not available to bwrap here: check "
                                  "sysctl user.max_user_namespaces"))
        << stderr_text;
  }
  EXPECT_EQ(DiagnoseSetupFailure(nullptr, "bwrap: setting up uid map: Permission denied\n"),
            "bubblewrap: setting up uid map: Permission denied (user namespaces are not "
            "available to bwrap here: check sysctl user.max_user_namespaces, "
            "kernel.unprivileged_userns_clone and kernel.apparmor_restrict_unprivileged_userns, "
            "or the container's seccomp policy; or use --pipeline legacy, which needs no user "
            "namespaces)");
}

TEST(DiagnoseSetupFailureTest, OtherKnownFailuresGetHints) {
  EXPECT_EQ(DiagnoseSetupFailure(nullptr,
                                 "bwrap: Can't mount proc on /newroot/proc: Operation not "
                                 "permitted\n"),
            "bubblewrap: Can't mount proc on /newroot/proc: Operation not permitted (this "
            "environment does not allow mounting a fresh /proc: retry with --no-proc)");
  // The probe failed too, so only bwrap's own words can tell that it is outdated.
  EXPECT_EQ(DiagnoseSetupFailure(nullptr, "bwrap: Unknown option --disable-userns\n"),
            "bubblewrap: Unknown option --disable-userns (this bubblewrap is older than 0.8.0, "
            "which sandgate needs)");
}

TEST(DiagnoseSetupFailureTest, UnrelatedPermissionErrorsGetNoHint) {
  EXPECT_EQ(DiagnoseSetupFailure(nullptr, "bwrap: Can't mkdir /x: Permission denied\n"),
            "bubblewrap: Can't mkdir /x: Permission denied");
}

TEST(DiagnoseSetupFailureTest, AlwaysOneLine) {
  const std::string reason =
      DiagnoseSetupFailure(nullptr, "bwrap: evil \x1b]0;title\x07 text\twith tab\n");
  EXPECT_EQ(reason, "bubblewrap: evil ?]0;title? text with tab");
  const std::string long_reason = DiagnoseSetupFailure(nullptr, std::string(5000, 'x'));
  EXPECT_LT(long_reason.size(), 400U);
  EXPECT_EQ(long_reason.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace sandgate::bubblewrap
