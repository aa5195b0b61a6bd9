#include "supervisor/cli.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "supervisor/control/tty_approver.h"
#include "tests/helpers/temp_dir.h"

namespace sandgate::supervisor {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

CliResult Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "sandgate");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return ParseCommandLine(static_cast<int>(argv.size()), argv.data());
}

RunConfig ParseOk(std::vector<std::string> args) {
  auto result = Parse(std::move(args));
  if (auto* exit = std::get_if<CliExit>(&result)) {
    ADD_FAILURE() << "unexpected exit: " << exit->message;
    return {};
  }
  return std::get<RunConfig>(result);
}

// A bad command line: exit 125, exactly one line on stderr naming the problem.
std::string ParseError(std::vector<std::string> args) {
  auto result = Parse(std::move(args));
  auto* exit = std::get_if<CliExit>(&result);
  if (exit == nullptr) {
    ADD_FAILURE() << "expected an error";
    return "";
  }
  EXPECT_EQ(exit->code, 125);
  EXPECT_TRUE(exit->to_stderr);
  EXPECT_THAT(exit->message, StartsWith("sandgate: "));
  EXPECT_EQ(std::count(exit->message.begin(), exit->message.end(), '\n'), 1) << exit->message;
  return exit->message;
}

TEST(CliTest, DefaultsAreCwdAndTmpWritableApproveBwrap) {
  testing::TempDir dir;
  auto config = ParseOk({"run", "-C", dir.Path().string(), "--", "echo", "hi"});
  EXPECT_THAT(config.sandbox.command, ElementsAre("echo", "hi"));
  EXPECT_EQ(config.sandbox.cwd, dir.Path());
  EXPECT_THAT(config.sandbox.writable_roots, ElementsAre(fs::path("/tmp"), dir.Path()));
  EXPECT_EQ(config.sandbox.network, pipelines::NetworkMode::kApprove);
  EXPECT_EQ(config.sandbox.pipeline, pipelines::Pipeline::kBwrap);
  EXPECT_EQ(config.sandbox.proc, pipelines::ProcMount::kFresh);
  EXPECT_FALSE(config.bwrap_path.has_value());
}

TEST(CliTest, WritableRootsAreCanonicalAndDeduplicated) {
  testing::TempDir dir;
  fs::create_directory(dir / "a");
  fs::create_directory_symlink(dir / "a", dir / "link");
  auto config = ParseOk({"run", "-w", (dir / "a").string(), "--writable-root",
                         (dir / "link").string(), "-w", (dir / "a/../a").string(), "--", "true"});
  EXPECT_THAT(config.sandbox.writable_roots, ElementsAre(dir / "a"));
}

TEST(CliTest, ReadOnlyMeansNoWritableRoots) {
  auto config = ParseOk({"run", "--read-only", "--", "true"});
  EXPECT_TRUE(config.sandbox.writable_roots.empty());
}

TEST(CliTest, NetworkModesAndFlags) {
  auto config = ParseOk({"run", "--network", "off", "--no-proc", "--bwrap", "/opt/bwrap",
                         "--log-level", "debug", "--", "true"});
  EXPECT_EQ(config.sandbox.network, pipelines::NetworkMode::kOff);
  EXPECT_EQ(config.sandbox.proc, pipelines::ProcMount::kNone);
  EXPECT_EQ(config.bwrap_path, "/opt/bwrap");
  EXPECT_EQ(config.log_level, "debug");
  EXPECT_EQ(ParseOk({"run", "--network", "on", "--", "true"}).sandbox.network,
            pipelines::NetworkMode::kOn);
}

TEST(CliTest, CommandKeepsItsOwnDashedArguments) {
  auto config = ParseOk({"run", "--", "ls", "-la", "--color", "--network"});
  EXPECT_THAT(config.sandbox.command, ElementsAre("ls", "-la", "--color", "--network"));
  // A repeatable option right before `--` must not swallow it (nor the command's flags).
  config = ParseOk({"run", "--allow", "a.example", "-w", "/tmp", "--", "curl", "-sS", "-o", "x",
                    "-w", "y"});
  EXPECT_THAT(config.sandbox.command, ElementsAre("curl", "-sS", "-o", "x", "-w", "y"));
  EXPECT_EQ(config.rules.allow.size(), 1u);
  config = ParseOk({"run", "--allow", "a.example", "--allow", "b.example", "--", "true"});
  EXPECT_EQ(config.rules.allow.size(), 2u);
}

TEST(CliTest, Errors) {
  EXPECT_THAT(ParseError({"run", "--network", "maybe", "--", "true"}), HasSubstr("--network"));
  EXPECT_THAT(ParseError({"run", "--bogus", "--", "true"}), HasSubstr("--bogus"));
  EXPECT_THAT(ParseError({"run"}), HasSubstr("command"));
  EXPECT_THAT(ParseError({"run", "-w", "/nonexistent/dir", "--", "true"}),
              HasSubstr("--writable-root /nonexistent/dir"));
  EXPECT_THAT(ParseError({"run", "-C", "/etc/passwd", "--", "true"}), HasSubstr("not a directory"));
  EXPECT_THAT(ParseError({"run", "--read-only", "-w", "/tmp", "--", "true"}),
              HasSubstr("exclude each other"));
  EXPECT_THAT(ParseError({"run", "-w", "/proc", "--", "true"}), HasSubstr("inside /proc"));
  EXPECT_THAT(ParseError({"run", "-w", "/dev/shm", "--", "true"}), HasSubstr("inside /dev"));
  EXPECT_THAT(ParseError({"run", "-c", "features.other=true", "--", "true"}),
              HasSubstr("unknown setting"));
  EXPECT_THAT(ParseError({"run", "-c", "features.use_linux_sandbox_bwrap=maybe", "--", "true"}),
              HasSubstr("true or false"));
  EXPECT_THAT(ParseError({"frobnicate"}), HasSubstr("frobnicate"));
  EXPECT_THAT(ParseError({}), HasSubstr("subcommand"));
}

TEST(CliTest, MediationOptions) {
  testing::TempDir dir;
  auto config = ParseOk({"run", "--allow", "github.com:443", "--allow", "10.0.0.0/8", "--deny",
                         "evil.example", "--approvals", "replay:/x/y.jsonl", "--approval-timeout",
                         "5", "--audit-log", (dir / "audit").string(), "--", "true"});
  EXPECT_EQ(config.rules.allow.size(), 2u);
  EXPECT_EQ(config.rules.deny.size(), 1u);
  EXPECT_EQ(config.approvals, ApprovalsMode::kReplay);
  EXPECT_EQ(config.replay_file, "/x/y.jsonl");
  EXPECT_EQ(config.approval_timeout, std::chrono::seconds(5));
  EXPECT_EQ(config.audit_log, (dir / "audit").string());
  EXPECT_EQ(ParseOk({"run", "--approvals", "fd:7", "--", "true"}).approvals_fd, 7);
  EXPECT_EQ(ParseOk({"run", "--approvals", "auto-deny", "--", "true"}).approvals,
            ApprovalsMode::kAutoDeny);
}

// Runs `check` in a child process in a new session, with a pseudo-terminal as its stdin and
// controlling terminal or with neither, and returns its exit code: 0 when the check held, else a
// code naming what failed.
int InChild(int (*check)(), bool with_terminal) {
  pid_t pid = -1;
  int master = -1;
  if (with_terminal) {
    pid = ::forkpty(&master, nullptr, nullptr, nullptr);  // stdin and /dev/tty are the pty
  } else {
    pid = ::fork();
    if (pid == 0) {
      ::setsid();  // no controlling terminal: /dev/tty cannot be opened
      const int null = ::open("/dev/null", O_RDONLY);
      ::dup2(null, STDIN_FILENO);
    }
  }
  if (pid == 0) std::_Exit(check());
  if (pid < 0) return -1;
  int status = 0;
  const pid_t waited = ::waitpid(pid, &status, 0);
  // Closed only now: closing the master hangs up the child's terminal (SIGHUP).
  if (master >= 0) ::close(master);
  if (waited != pid || !WIFEXITED(status)) return -2;
  return WEXITSTATUS(status);
}

ApprovalsMode ModeOrExit(std::vector<std::string> args, int code_on_error) {
  auto result = Parse(std::move(args));
  if (!std::holds_alternative<RunConfig>(result)) std::_Exit(code_on_error);
  return std::get<RunConfig>(result).approvals;
}

TEST(CliTest, ApprovalsDefaultToTheTerminalWhenStdinIsOne) {
  EXPECT_EQ(InChild(
                [] {
                  if (ModeOrExit({"run", "--", "true"}, 10) != ApprovalsMode::kTty) return 1;
                  if (ModeOrExit({"run", "--approvals", "tty", "--", "true"}, 11) !=
                      ApprovalsMode::kTty) {
                    return 2;
                  }
                  if (ModeOrExit({"run", "--approvals", "stdio", "--", "true"}, 12) !=
                      ApprovalsMode::kStdio) {
                    return 3;
                  }
                  return 0;
                },
                true),
            0);
}

TEST(CliTest, ApprovalsDefaultToAutoDenyWithoutATerminal) {
  EXPECT_EQ(InChild(
                [] {
                  if (ModeOrExit({"run", "--", "true"}, 10) != ApprovalsMode::kAutoDeny) return 1;
                  auto result = Parse({"run", "--approvals", "tty", "--", "true"});
                  auto* exit = std::get_if<CliExit>(&result);
                  if (exit == nullptr || exit->code != 125) return 2;
                  const std::string expected =
                      "sandgate: --approvals tty: no terminal (/dev/tty: " +
                      std::string(std::strerror(ENXIO)) + ")\n";
                  return exit->message == expected ? 0 : 3;
                },
                false),
            0);
}

// Whatever this test's own stdin is: a terminal on stdin is not enough without /dev/tty, and
// /dev/tty alone is not enough without a terminal on stdin.
TEST(CliTest, ApprovalsDefaultFollowsThisProcess) {
  const bool interactive = ::isatty(STDIN_FILENO) == 1 && OpenTerminal("/dev/tty").Ok();
  EXPECT_EQ(ParseOk({"run", "--", "true"}).approvals,
            interactive ? ApprovalsMode::kTty : ApprovalsMode::kAutoDeny);
}

TEST(CliTest, MediationOptionErrors) {
  EXPECT_THAT(ParseError({"run", "--allow", "*", "--", "true"}), HasSubstr("*"));
  EXPECT_THAT(ParseError({"run", "--allow", "github.com:0", "--", "true"}), HasSubstr("github.com:0"));
  EXPECT_THAT(ParseError({"run", "--approvals", "maybe", "--", "true"}), HasSubstr("--approvals maybe"));
  EXPECT_THAT(ParseError({"run", "--approvals", "fd:x", "--", "true"}), HasSubstr("fd:N"));
  EXPECT_THAT(ParseError({"run", "--approval-timeout", "-1", "--", "true"}),
              HasSubstr("--approval-timeout"));
  EXPECT_THAT(ParseError({"run", "--proxy", "ftp://p:3128", "--", "true"}), HasSubstr("--proxy"));
  EXPECT_THAT(ParseError({"run", "--proxy", "http://p", "--", "true"}), HasSubstr("--proxy"));
  EXPECT_THAT(ParseError({"run", "--route", "github.com", "--", "true"}),
              HasSubstr("routing needs a proxy"));
  EXPECT_THAT(ParseError({"run", "--dns-upstream", "resolver.example", "--", "true"}),
              HasSubstr("--dns-upstream resolver.example"));
  EXPECT_THAT(ParseError({"run", "--dns-upstream", "10.0.0.1:0", "--", "true"}),
              HasSubstr("port"));
}

TEST(CliTest, ProxyAndDnsOptions) {
  auto config = std::get<RunConfig>(Parse({"run", "--proxy", "socks5://u:p@127.0.0.1:1080",
                                           "--route", "**.example.org", "--dns-upstream",
                                           "[fd00::53]:5353", "--dns-strict", "--", "true"}));
  ASSERT_TRUE(config.proxy);
  EXPECT_EQ(config.proxy->scheme, approvals::ProxyScheme::kSocks5);
  EXPECT_EQ(config.proxy->port, 1080);
  ASSERT_EQ(config.rules.route.size(), 1U);
  ASSERT_TRUE(config.dns_upstream);
  EXPECT_EQ(config.dns_upstream->address.ToString(), "fd00::53");
  EXPECT_EQ(config.dns_upstream->port, 5353);
  EXPECT_TRUE(config.dns_strict);
  auto plain = std::get<RunConfig>(Parse({"run", "--", "true"}));
  EXPECT_FALSE(plain.proxy);
  EXPECT_FALSE(plain.dns_upstream);
  EXPECT_FALSE(plain.dns_strict);
}

TEST(CliTest, EverySpellingOfTheLegacyPipelineChoosesIt) {
  auto pipeline = [](std::vector<std::string> args) {
    return std::get<RunConfig>(Parse(std::move(args))).sandbox.pipeline;
  };
  EXPECT_EQ(pipeline({"run", "--pipeline", "legacy", "--", "true"}), pipelines::Pipeline::kLegacy);
  EXPECT_EQ(pipeline({"run", "-c", "features.use_linux_sandbox_bwrap=false", "--", "true"}),
            pipelines::Pipeline::kLegacy);
  EXPECT_EQ(pipeline({"debug", "landlock", "--", "true"}), pipelines::Pipeline::kLegacy);
  EXPECT_EQ(pipeline({"run", "--", "true"}), pipelines::Pipeline::kBwrap);
  EXPECT_EQ(pipeline({"run", "-c", "features.use_linux_sandbox_bwrap=true", "--", "true"}),
            pipelines::Pipeline::kBwrap);
}

TEST(CliTest, DebugWithoutACommandAsksForTheMachineReport) {
  EXPECT_TRUE(std::holds_alternative<MachineReportRequest>(Parse({"debug"})));
  EXPECT_TRUE(std::holds_alternative<MachineReportRequest>(Parse({"debug", "landlock"})));
  auto with_bwrap = Parse({"debug", "landlock", "--bwrap", "/opt/bwrap"});
  ASSERT_TRUE(std::holds_alternative<MachineReportRequest>(with_bwrap));
  EXPECT_EQ(std::get<MachineReportRequest>(with_bwrap).bwrap_path, "/opt/bwrap");
  EXPECT_TRUE(std::holds_alternative<RunConfig>(Parse({"debug", "landlock", "--", "true"})));
  // run still needs its command.
  EXPECT_THAT(ParseError({"run"}), HasSubstr("command"));
}

TEST(CliTest, HelpAndVersionExitZeroOnStdout) {
  auto version = std::get<CliExit>(Parse({"--version"}));
  EXPECT_EQ(version.code, 0);
  EXPECT_FALSE(version.to_stderr);
  EXPECT_THAT(version.message, StartsWith("sandgate "));
  auto help = std::get<CliExit>(Parse({"run", "--help"}));
  EXPECT_EQ(help.code, 0);
  EXPECT_THAT(help.message, HasSubstr("--writable-root"));
}

}  // namespace
}  // namespace sandgate::supervisor
