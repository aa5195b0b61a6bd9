#include "vendor/bubblewrap/userns_check.h"

#include <gtest/gtest.h>

#include "tests/helpers/temp_dir.h"

namespace sandgate::bubblewrap {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::WriteFile;

constexpr uid_t kRoot = 0;
constexpr uid_t kUser = 1000;

class CheckUserNamespacesTest : public ::testing::Test {
 protected:
  void Set(std::string_view name, std::string_view value) { WriteFile(dir_.Path() / name, value); }
  [[nodiscard]] std::string File(std::string_view name) const {
    return (dir_.Path() / name).string();
  }

  TempDir dir_;
};

TEST_F(CheckUserNamespacesTest, MissingFilesAreFine) {
  EXPECT_TRUE(CheckUserNamespaces(dir_.Path(), kRoot).Ok());
  EXPECT_TRUE(CheckUserNamespaces(dir_.Path(), kUser).Ok());
  EXPECT_TRUE(CheckUserNamespaces(dir_.Path() / "does-not-exist", kUser).Ok());
}

TEST_F(CheckUserNamespacesTest, EnabledEverywhereIsFine) {
  Set("user/max_user_namespaces", "96551\n");
  Set("kernel/unprivileged_userns_clone", "1\n");
  Set("kernel/apparmor_restrict_unprivileged_userns", "0\n");
  EXPECT_TRUE(CheckUserNamespaces(dir_.Path(), kUser).Ok());
  EXPECT_TRUE(CheckUserNamespaces(dir_.Path(), kRoot).Ok());
}

TEST_F(CheckUserNamespacesTest, ZeroMaxUserNamespacesFailsForEveryone) {
  Set("user/max_user_namespaces", "0\n");
  for (const uid_t euid : {kRoot, kUser}) {
    base::Status status = CheckUserNamespaces(dir_.Path(), euid);
    ASSERT_FALSE(status.Ok());
    EXPECT_EQ(status.Err().context,
              "user namespaces are disabled (" + File("user/max_user_namespaces") +
                  " is 0): enable them with sysctl -w user.max_user_namespaces=15000");
    EXPECT_EQ(status.Err().errnum, 0);
  }
}

TEST_F(CheckUserNamespacesTest, UnprivilegedCloneOffOnlyHurtsNonRoot) {
  Set("user/max_user_namespaces", "15000\n");
  Set("kernel/unprivileged_userns_clone", "0\n");
  EXPECT_TRUE(CheckUserNamespaces(dir_.Path(), kRoot).Ok());
  base::Status status = CheckUserNamespaces(dir_.Path(), kUser);
  ASSERT_FALSE(status.Ok());
  EXPECT_EQ(status.Err().context,
            "unprivileged user namespaces are disabled (" +
                File("kernel/unprivileged_userns_clone") +
                " is 0): enable them with sysctl -w kernel.unprivileged_userns_clone=1, or run "
                "sandgate as root");
}

TEST_F(CheckUserNamespacesTest, AppArmorRestrictionOnlyHurtsNonRoot) {
  Set("kernel/apparmor_restrict_unprivileged_userns", "1\n");
  EXPECT_TRUE(CheckUserNamespaces(dir_.Path(), kRoot).Ok());
  base::Status status = CheckUserNamespaces(dir_.Path(), kUser);
  ASSERT_FALSE(status.Ok());
  EXPECT_EQ(status.Err().context,
            "AppArmor restricts unprivileged user namespaces (" +
                File("kernel/apparmor_restrict_unprivileged_userns") +
                " is 1): load an AppArmor profile that allows 'userns' for bwrap, or run sysctl "
                "-w kernel.apparmor_restrict_unprivileged_userns=0");
}

TEST_F(CheckUserNamespacesTest, UnreadableValuesCountAsNoRestriction) {
  Set("user/max_user_namespaces", "");
  Set("kernel/unprivileged_userns_clone", "off\n");
  Set("kernel/apparmor_restrict_unprivileged_userns", "1x\n");
  EXPECT_TRUE(CheckUserNamespaces(dir_.Path(), kUser).Ok());
  fs::remove(dir_.Path() / "user/max_user_namespaces");
  fs::create_directories(dir_.Path() / "user/max_user_namespaces");  // a directory, not a file
  EXPECT_TRUE(CheckUserNamespaces(dir_.Path(), kUser).Ok());
}

TEST_F(CheckUserNamespacesTest, ToleratesWhitespaceAroundNumbers) {
  Set("user/max_user_namespaces", "  0");
  EXPECT_FALSE(CheckUserNamespaces(dir_.Path(), kUser).Ok());
  Set("user/max_user_namespaces", "0 \n");
  EXPECT_FALSE(CheckUserNamespaces(dir_.Path(), kUser).Ok());
}

TEST(CheckUserNamespacesRealTest, DefaultsReadTheRunningKernel) {
  // Whatever the verdict, it must come back without crashing and, on failure, as one line.
  base::Status status = CheckUserNamespaces();
  if (!status.Ok()) {
    EXPECT_EQ(status.Err().context.find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace sandgate::bubblewrap
