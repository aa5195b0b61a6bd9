// Which program is the inner stage: `sandgate-inner` next to sandgate (static, no filter
// compiler), or sandgate's own hidden subcommand where that program is missing (a sandgate
// binary copied alone). The sandbox, and the filter the supervisor sends in, are the same.
#include <gmock/gmock.h>

#include <filesystem>

#include "tests/helpers/sandbox_fixture.h"

namespace sandgate::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

class InnerStageTest : public SandboxTest {
 protected:
  // sandgate alone in a directory of its own, reachable by the cell's account.
  std::string LoneSandgate() {
    fs::permissions(lone_.Path(), fs::perms::owner_all | fs::perms::group_read |
                                      fs::perms::group_exec | fs::perms::others_read |
                                      fs::perms::others_exec);
    const fs::path copy = lone_ / "sandgate";
    fs::copy_file(SandgateBinary(), copy);
    fs::permissions(copy, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
    return copy.string();
  }
  RunResult Run(const std::string& sandgate, std::vector<std::string> sandgate_options,
                std::vector<std::string> probe) {
    std::vector<std::string> argv = {sandgate, "run", "--log-level", "debug"};
    argv.insert(argv.end(), sandgate_options.begin(), sandgate_options.end());
    argv.push_back("--");
    argv.push_back(ProbeBinary());
    argv.insert(argv.end(), probe.begin(), probe.end());
    RunOptions options;
    options.cwd = kSandgateCwd;
    return RunCommand(AsCellIdentity(argv), options);
  }
  TempDir lone_{TempDir::Keeper::kRoot};
};

constexpr const char* kFallback = "the inner stage is sandgate's own subcommand";

TEST_F(InnerStageTest, TheProgramNextToSandgateRunsTheSandbox) {
  auto r = Run(SandgateBinary(), {"--network", "off"}, {"socket", "inet"});
  EXPECT_EQ(r.out, "err EPERM\n") << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr(kFallback)));
}

TEST_F(InnerStageTest, WithoutItSandgatesOwnSubcommandBuildsTheSameSandbox) {
  const std::string lone = LoneSandgate();
  auto off = Run(lone, {"--network", "off"}, {"socket", "inet"});
  EXPECT_EQ(off.out, "err EPERM\n") << off.err;
  EXPECT_THAT(off.err, HasSubstr(kFallback));
  // In mode approve the listener comes back through the handoff and the connect is decided.
  auto approve = Run(lone, {"--approvals", "auto-deny"}, {"connect", "192.0.2.1", "80"});
  EXPECT_EQ(approve.out, "err EPERM\n") << approve.err;
  EXPECT_THAT(approve.err, HasSubstr("seccomp listener: synchronous wake-ups"));
}

TEST_F(InnerStageTest, RunByHandItRefusesWithOneLine) {
  const fs::path inner = fs::path(SandgateBinary()).parent_path() / "sandgate-inner";
  RunOptions options;
  options.cwd = kSandgateCwd;
  auto r = RunCommand(AsCellIdentity({inner.string()}), options);
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(r.err, "sandgate-inner: the inner stage of a sandgate sandbox; sandgate starts it, not you\n");
}

}  // namespace
}  // namespace sandgate::testing
