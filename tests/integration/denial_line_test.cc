// --explain-denials: a denied attempt puts one line on the command's stderr saying what was
// denied and why, once per destination, so that an agent reading the output can tell a policy
// denial from a server that is down. Every denial source, the off switch, the stdio framing.
#include <gmock/gmock.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "approvals/base64.h"
#include "tests/helpers/host_peers.h"
#include "tests/helpers/sandbox_fixture.h"
#include "tests/helpers/scripted_controller.h"

namespace sandgate::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::size_t Count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class DenialLineTest : public SandboxTest {
 protected:
  // `sh -c SCRIPT` in the sandbox, with the probe as $0.
  RunResult Shell(std::vector<std::string> options, const std::string& script) {
    std::vector<std::string> argv = {SandgateBinary(), "run", "--network", "approve"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.insert(argv.end(), {"--", "/bin/sh", "-c", script, ProbeBinary()});
    return RunCommand(argv);
  }
  std::string Line(const std::string& why) const {
    return "sandgate: denied tcp connect to 127.0.0.1:" + listener_.Port() + " (" + why + ")\n";
  }
  std::string NoRule() const {
    return Line("no rule; a person can allow it with --allow 127.0.0.1:" + listener_.Port());
  }
  HostTcpListener listener_;
};

TEST_F(DenialLineTest, AutoDenyExplainsOncePerDestination) {
  HostUdpEcho udp;
  const std::string p = listener_.Port();
  auto r = Shell({"--approvals", "auto-deny"},
                 "\"$0\" connect 127.0.0.1 " + p + "; \"$0\" connect 127.0.0.1 " + p +
                     "; \"$0\" udp sendto 127.0.0.1 " + udp.Port());
  EXPECT_EQ(r.out, "err EPERM\nerr EPERM\nerr EPERM\n") << r.err;
  EXPECT_EQ(Count(r.err, NoRule()), 1u) << r.err;
  EXPECT_EQ(Count(r.err, "sandgate: denied udp send to 127.0.0.1:" + udp.Port() +
                             " (no rule; a person can allow it with --allow 127.0.0.1:" +
                             udp.Port() + ")\n"),
            1u)
      << r.err;
  EXPECT_EQ(listener_.Accepted(), 0);
}

TEST_F(DenialLineTest, ADenyRuleIsNamed) {
  auto r = RunProbe({"--network", "approve", "--allow", "127.0.0.0/8", "--deny",
                     "127.0.0.1:" + listener_.Port()},
                    {"connect", "127.0.0.1", listener_.Port()});
  EXPECT_EQ(r.out, "err EPERM\n");
  EXPECT_EQ(Count(r.err, Line("deny rule 127.0.0.1:" + listener_.Port())), 1u) << r.err;
}

TEST_F(DenialLineTest, TheLineComesBeforeTheCommandsOwnMessage) {
  auto r = Shell({"--approvals", "auto-deny"},
                 "echo before >&2; \"$0\" connect 127.0.0.1 " + listener_.Port() +
                     " >/dev/null; echo after >&2");
  const auto before = r.err.find("before\n");
  const auto line = r.err.find(NoRule());
  const auto after = r.err.find("after\n");
  ASSERT_NE(line, std::string::npos) << r.err;
  EXPECT_LT(before, line) << r.err;
  EXPECT_LT(line, after) << r.err;
}

TEST_F(DenialLineTest, OffMeansNoLine) {
  auto r = RunProbe({"--network", "approve", "--approvals", "auto-deny", "--explain-denials", "off"},
                    {"connect", "127.0.0.1", listener_.Port()});
  EXPECT_EQ(r.out, "err EPERM\n");
  EXPECT_THAT(r.err, Not(HasSubstr("sandgate: denied"))) << r.err;
}

TEST_F(DenialLineTest, AllowedTrafficHasNoLine) {
  auto r = RunProbe({"--network", "approve", "--allow", "127.0.0.1:" + listener_.Port()},
                    {"connect", "127.0.0.1", listener_.Port()});
  EXPECT_EQ(r.out, "ok\n") << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("sandgate: denied"))) << r.err;
  EXPECT_EQ(listener_.Accepted(), 1);
}

TEST_F(DenialLineTest, AReplayedDeclineIsDeclinedWhenAsked) {
  TempDir dir;
  WriteFile(dir / "script.jsonl",
            "{\"expect\": {\"port\": " + listener_.Port() + "}, \"decision\": \"decline\"}\n");
  auto r = RunProbe({"--network", "approve", "--approvals", "replay:" + (dir / "script.jsonl").string()},
                    {"connect", "127.0.0.1", listener_.Port()});
  EXPECT_EQ(r.out, "err EPERM\n");
  EXPECT_EQ(Count(r.err, Line("declined when asked")), 1u) << r.err;
}

// In stdio mode the command's stderr is the protocol's: the line is a process/output stderr
// notification, after everything the command wrote before the attempt and before what it wrote
// after. The command first writes more than a pipe holds, then half a UTF-8 character, which
// the pump holds back waiting for the rest: the line must come after that byte, not before.
TEST_F(DenialLineTest, StdioFramesTheLineInOrderWithTheCommandsStderr) {
  const std::string script = "head -c 100000 /dev/zero | tr '\\0' x >&2; printf 'half \\303' >&2; "
                             "\"$0\" connect 127.0.0.1 " + listener_.Port() +
                             " >/dev/null; printf '\\251 after\\n' >&2";
  Controller c({"--network", "approve", "--", "/bin/sh", "-c", script, ProbeBinary()});
  json request = c.Next("network/requestApproval");
  ASSERT_FALSE(request.is_null());
  c.Answer(request, "decline");
  ASSERT_FALSE(c.Next("sandbox/exited").is_null());
  std::string err;
  for (const json& m : c.seen) {
    if (m.value("method", "") != "process/output" || m["params"]["stream"] != "stderr") continue;
    const std::string data = m["params"]["data"].get<std::string>();
    if (m["params"].value("encoding", "") == "base64") {
      err += approvals::Base64Decode(data).value_or("<bad base64>");
    } else {
      err += data;
    }
  }
  EXPECT_EQ(err, std::string(100000, 'x') + "half \303" + Line("declined when asked") +
                     "\251 after\n");
}

TEST_F(DenialLineTest, ATimeoutSaysHowLongItWaited) {
  Controller c({"--network", "approve", "--approval-timeout", "1", "--", ProbeBinary(), "connect",
                "127.0.0.1", listener_.Port()});
  ASSERT_FALSE(c.Next("network/requestApproval").is_null());  // never answered
  json line = c.NextOutput("stderr");
  ASSERT_FALSE(line.is_null());
  EXPECT_EQ(line["params"]["data"],
            Line("no answer within 1 s; a person can allow it with --allow 127.0.0.1:" +
                 listener_.Port()));
  EXPECT_EQ(c.NextOutput("stdout")["params"]["data"], "err EPERM\n");
}

TEST_F(DenialLineTest, DeclineForSessionIsExplainedOnceAndNamedForTheRest) {
  // connect-seq makes three connects to one destination: one prompt, one line.
  Controller c({"--network", "approve", "--", ProbeBinary(), "connect-seq", "3", "127.0.0.1",
                listener_.Port()});
  c.Answer(c.Next("network/requestApproval"), "declineForSession");
  EXPECT_EQ(c.NextOutput("stdout")["params"]["data"], "ok=0 err=3\n");
  c.Next("sandbox/exited");
  int lines = 0;
  for (const json& m : c.seen) {
    if (m.value("method", "") == "process/output" && m["params"]["stream"] == "stderr") {
      EXPECT_EQ(m["params"]["data"], Line("declined when asked"));
      ++lines;
    }
  }
  EXPECT_EQ(lines, 1);
}

}  // namespace
}  // namespace sandgate::testing
