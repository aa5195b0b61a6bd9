// Network mode approve with real sandboxes and real host peers: decisions by policy, replay and
// auto-deny, carried out by sandgate, each with exactly one audit record.
#include <gmock/gmock.h>

#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/helpers/host_peers.h"
#include "tests/helpers/sandbox_fixture.h"

namespace sandgate::testing {
namespace {

using ::testing::HasSubstr;

class MediationTest : public SandboxTest {
 protected:
  std::vector<nlohmann::json> AuditLines() {
    std::vector<nlohmann::json> lines;
    std::istringstream in(ReadFile(audit_path_));
    std::string line;
    while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
    return lines;
  }
  // Audit lines about inet destinations (glibc may also try nscd's unix socket on its own).
  std::vector<nlohmann::json> InetAudit() {
    std::vector<nlohmann::json> out;
    for (auto& line : AuditLines()) {
      if (line["destination"]["protocol"] != "unix") out.push_back(line);
    }
    return out;
  }
  std::vector<std::string> Approve(std::vector<std::string> extra = {}) {
    std::vector<std::string> options = {"--network", "approve", "--audit-log", audit_path_.string()};
    options.insert(options.end(), extra.begin(), extra.end());
    return options;
  }

  TempDir dir_;
  std::filesystem::path audit_path_ = dir_ / "audit.jsonl";
};

TEST_F(MediationTest, AllowRuleConnectsThroughTheHost) {
  HostTcpListener listener;
  auto r = RunProbe(Approve({"--allow", "127.0.0.1:" + listener.Port()}),
                    {"connect", "127.0.0.1", listener.Port()});
  EXPECT_EQ(r.out, "ok\n") << r.err;
  EXPECT_EQ(listener.Accepted(), 1);
  auto audit = InetAudit();
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0]["decision"], "allow");
  EXPECT_EQ(audit[0]["source"], "policy");
  EXPECT_EQ(audit[0]["rule"], "127.0.0.1:" + listener.Port());
  EXPECT_EQ(audit[0]["destination"]["port"], std::stoi(listener.Port()));
  EXPECT_THAT(audit[0]["exe"].get<std::string>(), HasSubstr("sandbox_probe"));
}

TEST_F(MediationTest, AllowedFastOpenIsCarriedOutAsConnectAndSend) {
  HostTcpListener listener;
  auto r = RunProbe(Approve({"--allow", "127.0.0.1:" + listener.Port()}),
                    {"tfo", "127.0.0.1", listener.Port()});
  EXPECT_EQ(r.out, "ok\n") << r.err;  // sendto returned the byte count
  EXPECT_EQ(listener.Accepted(), 1);
  auto audit = InetAudit();
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0]["decision"], "allow");
  EXPECT_EQ(audit[0]["destination"]["protocol"], "tcp");
}

TEST_F(MediationTest, UnmatchedIsDeniedByAutoDeny) {
  HostTcpListener listener;
  auto r = RunProbe(Approve({"--approvals", "auto-deny"}), {"connect", "127.0.0.1", listener.Port()});
  EXPECT_EQ(r.out, "err EPERM\n");
  EXPECT_EQ(listener.Accepted(), 0);
  auto audit = InetAudit();
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0]["decision"], "deny");
  EXPECT_EQ(audit[0]["source"], "default");
  EXPECT_TRUE(audit[0]["approvalId"].is_string());
}

TEST_F(MediationTest, DenyBeatsAllow) {
  HostTcpListener listener;
  auto r = RunProbe(Approve({"--allow", "127.0.0.0/8", "--deny", "127.0.0.1:" + listener.Port()}),
                    {"connect", "127.0.0.1", listener.Port()});
  EXPECT_EQ(r.out, "err EPERM\n");
  EXPECT_EQ(listener.Accepted(), 0);
  auto audit = InetAudit();
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0]["source"], "policy");
}

TEST_F(MediationTest, LoopbackInsideTheSandboxNeedsNoApproval) {
  auto r = RunProbe(Approve({"--approvals", "auto-deny"}), {"self-loopback"});
  EXPECT_EQ(r.out, "ok\n") << r.err;
  EXPECT_TRUE(InetAudit().empty());
}

TEST_F(MediationTest, V4MappedAddressMatchesTheV4Rule) {
  HostTcpListener listener;
  auto r = RunProbe(Approve({"--allow", "127.0.0.1:" + listener.Port()}),
                    {"connect6", "::ffff:127.0.0.1", listener.Port()});
  EXPECT_EQ(r.out, "ok\n") << r.err;
  EXPECT_EQ(listener.Accepted(), 1);
}

TEST_F(MediationTest, NonBlockingConnectStaysNonBlockingAndCompletes) {
  HostTcpListener listener;
  auto r = RunProbe(Approve({"--allow", "127.0.0.1"}), {"connect-nonblock", "127.0.0.1", listener.Port()});
  EXPECT_EQ(r.out, "ok\n") << r.err;
  EXPECT_EQ(listener.Accepted(), 1);
}

TEST_F(MediationTest, ConnectErrorOfTheRealConnectIsReturned) {
  // Port 1 (tcpmux) has no listener on these machines. A port freed by a listener of this test
  // would do too, but tests run in parallel: another test's listener may be given that port.
  auto probe = RunCommand({ProbeBinary(), "connect", "127.0.0.1", "1"});
  if (probe.out != "err ECONNREFUSED\n") GTEST_SKIP() << "something listens on port 1 here";
  auto r = RunProbe(Approve({"--allow", "127.0.0.1:1"}), {"connect", "127.0.0.1", "1"});
  EXPECT_EQ(r.out, "err ECONNREFUSED\n") << r.err;
}

TEST_F(MediationTest, AllowedUdpDatagramsGetTheirReplies) {
  HostUdpEcho echo;
  for (const char* how :
       {"sendto", "sendmsg", "connect-send", "sendmsg-gather", "connect-sendmsg-gather", "sendmmsg"}) {
    auto r = RunProbe(Approve({"--allow", "127.0.0.1:" + echo.Port()}), {"udp", how, "127.0.0.1", echo.Port()});
    EXPECT_EQ(r.out, "ok\n") << how << ": " << r.err;
  }
  EXPECT_EQ(echo.Received(), 6);
}

TEST_F(MediationTest, SixtyFourConcurrentConnectsFromThreadsAreAllDecided) {
  HostTcpListener listener;
  auto r = RunProbe(Approve({"--allow", "127.0.0.1:" + listener.Port()}),
                    {"threads", "64", "127.0.0.1", listener.Port()});
  EXPECT_EQ(r.out, "ok=64 err=0\n") << r.err;
  EXPECT_EQ(listener.Accepted(), 64);
  EXPECT_EQ(InetAudit().size(), 64u);
}

TEST_F(MediationTest, ConcurrentConnectsFromProcessesAreAllDecided) {
  HostTcpListener listener;
  auto r = RunProbe(Approve({"--allow", "127.0.0.1:" + listener.Port()}),
                    {"processes", "16", "127.0.0.1", listener.Port()});
  EXPECT_EQ(r.out, "ok=16 err=0\n") << r.err;
  EXPECT_EQ(listener.Accepted(), 16);
  EXPECT_EQ(InetAudit().size(), 16u);
}

TEST_F(MediationTest, DeniedConcurrentConnectsShareOnePromptAndAreAllRecorded) {
  HostTcpListener listener;
  auto r = RunProbe(Approve({"--approvals", "auto-deny"}), {"threads", "64", "127.0.0.1", listener.Port()});
  EXPECT_EQ(r.out, "ok=0 err=64\n") << r.err;
  EXPECT_EQ(listener.Accepted(), 0);
  EXPECT_EQ(InetAudit().size(), 64u);
}

TEST_F(MediationTest, ReplayPassesWhenTheScriptPlaysOut) {
  HostTcpListener listener;
  WriteFile(dir_ / "script.jsonl",
            "{\"expect\": {\"address\": \"127.0.0.1\", \"port\": " + listener.Port() +
                ", \"protocol\": \"tcp\"}, \"decision\": \"accept\"}\n");
  auto r = RunProbe(Approve({"--approvals", "replay:" + (dir_ / "script.jsonl").string()}),
                    {"connect", "127.0.0.1", listener.Port()});
  EXPECT_EQ(r.out, "ok\n") << r.err;
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(listener.Accepted(), 1);
  auto summary = nlohmann::json::parse(r.err.substr(r.err.rfind('{')));
  EXPECT_EQ(summary["matched"], 1);
}

TEST_F(MediationTest, ReplayMismatchDeclinesAndFailsTheRun) {
  HostTcpListener listener;
  WriteFile(dir_ / "script.jsonl",
            "{\"expect\": {\"port\": 1}, \"decision\": \"accept\"}\n");
  auto r = RunProbe(Approve({"--approvals", "replay:" + (dir_ / "script.jsonl").string()}),
                    {"exit-after-connect", "127.0.0.1", listener.Port()});
  EXPECT_EQ(listener.Accepted(), 0);
  EXPECT_EQ(r.exit_code, 125) << r.err;
  EXPECT_THAT(r.err, HasSubstr("unexpected"));
}

TEST_F(MediationTest, BadReplayFileIsASandgateError) {
  WriteFile(dir_ / "script.jsonl", "not json\n");
  auto r = RunProbe(Approve({"--approvals", "replay:" + (dir_ / "script.jsonl").string()}), {"exit", "0"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("line 1"));
}

// sandgate's own failures come before the command runs, as exit 125 with one line: here the
// machine will not let sandgate into the sandbox's namespaces (setns refused by a seccomp
// filter around sandgate), so nothing could be mediated.
TEST_F(MediationTest, MediationThatCannotBeSetUpStopsBeforeTheCommandRuns) {
  const auto marker = dir_ / "command-ran";
  std::vector<std::string> sandgate = {SandgateBinary(), "run", "--network", "approve", "--",
                                       "/bin/sh", "-c", "echo ran > " + marker.string()};
  std::vector<std::string> argv = {ProbeBinary(), "without-setns"};
  for (auto& arg : AsCellIdentity(sandgate)) argv.push_back(arg);
  RunOptions options;
  options.cwd = kSandgateCwd;
  auto r = RunCommand(argv, options);
  EXPECT_EQ(r.exit_code, 125) << r.err;
  EXPECT_THAT(r.err, ::testing::StartsWith("sandgate: sandbox setup failed: cannot mediate: setns("));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(marker));
  // With the network off nothing needs the namespaces: the same machine runs it.
  sandgate[3] = "off";
  argv.resize(2);
  for (auto& arg : AsCellIdentity(sandgate)) argv.push_back(arg);
  r = RunCommand(argv, options);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(marker), "ran\n");
}

}  // namespace
}  // namespace sandgate::testing
