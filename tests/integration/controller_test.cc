// --approvals stdio with a scripted controller over real pipes: sandgate's requests are read,
// answered (or not), and the effect checked on a real host listener.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <nlohmann/json.hpp>

#include "tests/helpers/host_peers.h"
#include "tests/helpers/sandbox_fixture.h"
#include "tests/helpers/scripted_controller.h"

namespace sandgate::testing {
namespace {

class ControllerTest : public SandboxTest {
 protected:
  std::vector<std::string> Probe(std::vector<std::string> probe_args,
                                 std::vector<std::string> options = {}) {
    options.push_back("--");
    options.push_back(ProbeBinary());
    options.insert(options.end(), probe_args.begin(), probe_args.end());
    return options;
  }
  HostTcpListener listener_;
};

TEST_F(ControllerTest, AcceptConnectsAndIsReportedAsTheUsersDecision) {
  Controller c(Probe({"connect", "127.0.0.1", listener_.Port()}));
  json started = c.Next("sandbox/started");
  ASSERT_FALSE(started.is_null());
  EXPECT_EQ(started["params"]["protocolVersion"], 1);
  json request = c.Next("network/requestApproval");
  ASSERT_FALSE(request.is_null());
  EXPECT_EQ(request["params"]["destination"]["port"], std::stoi(listener_.Port()));
  EXPECT_THAT(request["params"]["process"]["exe"].get<std::string>(), ::testing::HasSubstr("sandbox_probe"));
  c.Answer(request, "accept");
  json decision = c.Next("network/decision");
  EXPECT_EQ(decision["params"]["decision"], "allow");
  EXPECT_EQ(decision["params"]["source"], "user");
  json output = c.NextOutput("stdout");
  EXPECT_EQ(output["params"]["data"], "ok\n");
  json exited = c.Next("sandbox/exited");
  EXPECT_EQ(exited["params"]["exitCode"], 0);
  EXPECT_EQ(c.Wait(), 0);
  EXPECT_EQ(listener_.Accepted(), 1);
}

TEST_F(ControllerTest, DeclineRefusesTheConnect) {
  Controller c(Probe({"connect", "127.0.0.1", listener_.Port()}));
  c.Answer(c.Next("network/requestApproval"), "decline");
  EXPECT_EQ(c.NextOutput("stdout")["params"]["data"], "err EPERM\n");
  EXPECT_EQ(c.Wait(), 1);
  EXPECT_EQ(listener_.Accepted(), 0);
}

TEST_F(ControllerTest, AcceptForSessionAsksOnce) {
  Controller c(Probe({"connect-seq", "3", "127.0.0.1", listener_.Port()}));
  c.Answer(c.Next("network/requestApproval"), "acceptForSession");
  EXPECT_EQ(c.NextOutput("stdout")["params"]["data"], "ok=3 err=0\n");
  c.Next("sandbox/exited");
  int asked = 0, session = 0;
  for (const auto& m : c.seen) {
    if (m.value("method", "") == "network/requestApproval") ++asked;
    if (m.value("method", "") == "network/decision" && m["params"]["source"] == "session") ++session;
  }
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(session, 2);
  EXPECT_EQ(listener_.Accepted(), 3);
}

TEST_F(ControllerTest, DeclineForSessionDeniesTheRestWithoutAsking) {
  Controller c(Probe({"connect-seq", "3", "127.0.0.1", listener_.Port()}));
  c.Answer(c.Next("network/requestApproval"), "declineForSession");
  EXPECT_EQ(c.NextOutput("stdout")["params"]["data"], "ok=0 err=3\n");
  c.Next("sandbox/exited");
  int asked = 0;
  for (const auto& m : c.seen) asked += m.value("method", "") == "network/requestApproval";
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(listener_.Accepted(), 0);
}

TEST_F(ControllerTest, UnansweredRequestTimesOut) {
  Controller c(Probe({"connect", "127.0.0.1", listener_.Port()}, {"--approval-timeout", "1"}));
  json request = c.Next("network/requestApproval");
  json cancelled = c.Next("network/approvalCancelled");
  EXPECT_EQ(cancelled["params"]["reason"], "timeout");
  EXPECT_EQ(cancelled["params"]["approvalId"], request["params"]["approvalId"]);
  json decision = c.Next("network/decision");
  EXPECT_EQ(decision["params"]["source"], "timeout");
  EXPECT_EQ(c.NextOutput("stdout")["params"]["data"], "err EPERM\n");
  c.Answer(request, "accept");  // too late: ignored
  EXPECT_EQ(listener_.Accepted(), 0);
}

TEST_F(ControllerTest, GarbageAndOversizedLinesGetErrorsAndSandgateCarriesOn) {
  Controller c(Probe({"connect", "127.0.0.1", listener_.Port()}));
  json request = c.Next("network/requestApproval");
  ASSERT_TRUE(c.Send("this is not json"));
  ASSERT_TRUE(c.Send(std::string(2 * 1024 * 1024, 'x')));
  c.SendJson(json{{"jsonrpc", "2.0"}, {"id", 7}, {"method", "no/such"}});
  c.SendJson(json{{"jsonrpc", "2.0"}, {"id", 999}, {"result", {{"decision", "accept"}}}});  // unknown id
  c.Answer(request, "accept");
  EXPECT_EQ(c.NextOutput("stdout")["params"]["data"], "ok\n");
  c.Next("sandbox/exited");
  std::vector<int> codes;
  for (const auto& m : c.seen) {
    if (m.contains("error")) codes.push_back(m["error"]["code"]);
  }
  EXPECT_THAT(codes, ::testing::ElementsAre(-32700, -32600, -32601));
  EXPECT_EQ(listener_.Accepted(), 1);
}

TEST_F(ControllerTest, HangUpDeclinesPendingAndEndsTheSandbox) {
  Controller c(Probe({"sleep-after-connect", "127.0.0.1", listener_.Port()}));
  c.Next("network/requestApproval");
  c.CloseInput();
  json decision = c.Next("network/decision");
  EXPECT_EQ(decision["params"]["source"], "cancelled");
  EXPECT_EQ(decision["params"]["decision"], "deny");
  EXPECT_NE(c.Wait(), 0);
  EXPECT_EQ(listener_.Accepted(), 0);
}

TEST_F(ControllerTest, ProcessExitWhilePendingCancelsTheRequest) {
  // The connecting thread's process is killed by its parent while the request waits.
  Controller c(Probe({"connect-then-die", "127.0.0.1", listener_.Port()}));
  json request = c.Next("network/requestApproval");
  json cancelled = c.Next("network/approvalCancelled");
  EXPECT_EQ(cancelled["params"]["reason"], "process_exited");
  EXPECT_EQ(cancelled["params"]["approvalId"], request["params"]["approvalId"]);
  json decision = c.Next("network/decision");
  EXPECT_EQ(decision["params"]["source"], "cancelled");
  c.Next("sandbox/exited");
  EXPECT_EQ(listener_.Accepted(), 0);
}

TEST_F(ControllerTest, TerminateRequestEndsTheCommand) {
  Controller c(Probe({"sleep-ready"}));
  c.NextOutput("stdout");
  c.SendJson(json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "sandbox/terminate"}, {"params", {{"signal", "SIGTERM"}}}});
  json exited = c.Next("sandbox/exited");
  EXPECT_EQ(exited["params"]["signal"], "SIGTERM");
  EXPECT_EQ(c.Wait(), 143);
}

// A controller gets the same framing whatever the network mode: started, the command's output
// as notifications (never raw on stdout), exited.
TEST_F(ControllerTest, EveryNetworkModeHasTheSameFraming) {
  for (const char* mode : {"off", "on", "approve"}) {
    SCOPED_TRACE(mode);
    Controller c({"--network", mode, "--", "/bin/sh", "-c", "echo framed; echo to-stderr >&2"});
    json started = c.Next("sandbox/started");
    ASSERT_FALSE(started.is_null());
    EXPECT_EQ(started["params"]["network"], mode);
    EXPECT_GT(started["params"]["pid"].get<int>(), 0);
    // Every line up to sandbox/exited is a JSON-RPC message (Next parses each one).
    json exited = c.Next("sandbox/exited");
    std::string out, err;
    for (const auto& m : c.seen) {
      if (m.value("method", "") != "process/output") continue;
      (m["params"]["stream"] == "stdout" ? out : err) += m["params"]["data"].get<std::string>();
    }
    EXPECT_EQ(out, "framed\n");
    EXPECT_EQ(err, "to-stderr\n");
    ASSERT_FALSE(exited.is_null());
    EXPECT_EQ(exited["params"]["exitCode"], 0);
    EXPECT_EQ(c.Wait(), 0);
  }
}

// A controller that is gone before the sandbox starts is treated like one that leaves later:
// the sandbox is ended (SIGKILL, 137), with one sandbox/exited, and it is not mistaken for a
// failed /proc mount (no second sandbox, no fallback message).
TEST_F(ControllerTest, HangUpBeforeTheStartEndsTheSandboxOnce) {
  TempDir dir;
  const auto marker = dir / "ran";
  for (const char* mode : {"approve", "off"}) {
    SCOPED_TRACE(mode);
    // RunCommand gives sandgate /dev/null as stdin: the controller's end is closed from the start.
    auto r = RunCommand({SandgateBinary(), "run", "--approvals", "stdio", "--network", mode, "--",
                         "/bin/sh", "-c", "echo x > " + marker.string()});
    EXPECT_EQ(r.exit_code, 137) << r.err;
    EXPECT_THAT(r.out, ::testing::Not(::testing::HasSubstr("sandbox/started")));
    EXPECT_THAT(r.err, ::testing::Not(::testing::HasSubstr("/proc")));
    std::size_t exited = 0;
    for (std::size_t at = 0; (at = r.out.find("\"sandbox/exited\"", at)) != std::string::npos; ++at) {
      ++exited;
    }
    EXPECT_EQ(exited, 1u) << r.out;
    EXPECT_FALSE(std::filesystem::exists(marker));
  }
}

}  // namespace
}  // namespace sandgate::testing
