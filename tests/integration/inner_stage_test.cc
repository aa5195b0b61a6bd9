// Which program is the inner stage. The bwrap pipeline's is `sandgate-inner` next to sandgate
// (freestanding, no filter compiler), or sandgate's own hidden subcommand where that program is
// missing (a sandgate binary copied alone). The legacy pipeline's is always sandgate's own
// subcommand, which builds that sandbox. The sandbox, and the filter the supervisor sends in,
// are the same.
#include <gmock/gmock.h>

#include <sys/socket.h>
#include <unistd.h>

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
  const fs::path dir = fs::path(SandgateBinary()).parent_path();
  const fs::path expected =
      CellPipeline() == TestPipeline::kBwrap ? dir / "sandgate-inner" : fs::path(SandgateBinary());
  EXPECT_THAT(r.err, HasSubstr("inner stage: " + expected.string() + "\n"));
}

TEST_F(InnerStageTest, WithoutItSandgatesOwnSubcommandBuildsTheSameSandbox) {
  const std::string lone = LoneSandgate();
  auto off = Run(lone, {"--network", "off"}, {"socket", "inet"});
  EXPECT_EQ(off.out, "err EPERM\n") << off.err;
  EXPECT_THAT(off.err, HasSubstr("inner stage: " + lone + "\n"));
  // Only the bwrap pipeline looks for sandgate-inner, so only it reports doing without.
  if (CellPipeline() == TestPipeline::kBwrap) {
    EXPECT_THAT(off.err, HasSubstr(kFallback));
  }
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

// The inner stage never runs the command without the filter the supervisor sends: a handoff
// that carries no program, or a malformed one, ends it with 125 and a reason to the supervisor.
TEST_F(InnerStageTest, WithoutItsFilterTheCommandNeverRuns) {
  const fs::path inner = fs::path(SandgateBinary()).parent_path() / "sandgate-inner";
  TempDir dir;
  const auto marker = dir / "ran";
  for (const std::string& message : {std::string("R"), std::string("P") + std::string(5, 'x')}) {
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
    ASSERT_EQ(::write(pair[0], message.data(), message.size()),
              static_cast<ssize_t>(message.size()));
    RunOptions options;
    options.cwd = kSandgateCwd;
    options.inherit_fds = {pair[1]};
    auto r = RunCommand({inner.string(), "__sandgate-inner", "--network=off",
                         "--handoff-fd=" + std::to_string(pair[1]), "--stderr-fd=2", "--",
                         "/bin/sh", "-c", "echo x > " + marker.string()},
                        options);
    ::close(pair[1]);
    char report[256] = {};
    const ssize_t n = ::read(pair[0], report, sizeof report - 1);
    ::close(pair[0]);
    EXPECT_EQ(r.exit_code, 125) << r.err;
    EXPECT_EQ(std::string(report, n > 0 ? static_cast<std::size_t>(n) : 0),
              "Fno seccomp program from the supervisor");
    EXPECT_FALSE(fs::exists(marker));
  }
}

}  // namespace
}  // namespace sandgate::testing
