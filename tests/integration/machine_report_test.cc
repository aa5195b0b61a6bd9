// `sandgate debug`: what this machine allows, as the cell's identity sees it.
#include <gmock/gmock.h>

#include "tests/helpers/sandbox_fixture.h"

namespace sandgate::testing {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;

using MachineReportTest = SandboxTest;

TEST_F(MachineReportTest, DebugSaysWhatThisMachineAllows) {
  for (const char* sub : {"", "landlock"}) {
    std::vector<std::string> argv = {SandgateBinary(), "debug"};
    if (*sub != '\0') argv.emplace_back(sub);
    auto r = RunCommand(argv);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, ContainsRegex("landlock abi: [1-9][0-9]*\n"));
    EXPECT_THAT(r.out, HasSubstr("seccomp listener: yes\n"));
    EXPECT_THAT(r.out, ContainsRegex("bwrap: /[^ ]+ [0-9]+\\.[0-9]+\\.[0-9]+\n"));
    EXPECT_THAT(r.out, ContainsRegex("inner stage: /[^ ]+/sandgate-inner\n"));
    EXPECT_THAT(r.out, HasSubstr(TestIdentity() == Identity::kRoot ? "running as: root\n"
                                                                    : "running as: an unprivileged user\n"));
    if (CellHasUserNamespaces()) {
      EXPECT_THAT(r.out, HasSubstr("user namespaces: yes\n"));
      EXPECT_THAT(r.out, HasSubstr("pipeline bwrap: available\n"));
    } else {
      EXPECT_THAT(r.out, HasSubstr("user namespaces: no ("));
      EXPECT_THAT(r.out, HasSubstr("pipeline bwrap: unavailable"));
      EXPECT_THAT(r.out, HasSubstr("pipeline legacy: no namespaces"));
    }
  }
}

}  // namespace
}  // namespace sandgate::testing
