"""clients/python/sandgate.py against the real sandgate: real sandboxes, a real HTTP server on
the host's loopback, curl inside. Every test runs in the cell ctest chose (cell.py)."""
from __future__ import annotations

import asyncio
import json
import os
import unittest

import cell
from cell import sandgate


def curl(url: str) -> str:
    """A shell line: fetch url, then say curl's status (7: could not connect)."""
    return f"curl -sS -m 20 {url}; echo \" curl=$?\""


class Collector:
    """Gathers what a session says, by kind."""

    def __init__(self) -> None:
        self.messages: list = []

    def __call__(self, message) -> None:
        self.messages.append(message)

    def of(self, kind) -> list:
        return [m for m in self.messages if isinstance(m, kind)]

    def output(self, stream: str) -> str:
        return "".join(m.text for m in self.of(sandgate.ProcessOutput) if m.stream == stream)


class LibraryTest(cell.CellTest):
    def setUp(self) -> None:
        super().setUp()
        self.server = cell.HttpServer()
        self.addCleanup(self.server.close)

    def run_session(self, script: str, decide, **overrides) -> tuple[int, Collector]:
        seen = Collector()
        kwargs = cell.session_options(transport="stdio", **overrides)
        status = sandgate.run(["sh", "-c", script], decide, on_notification=seen, **kwargs)
        return status, seen

    # -- the callback API --

    def test_callback_accept_lets_the_connect_through_and_the_data_arrives(self):
        asked = []

        def decide(request):
            asked.append(request)
            return sandgate.Decision.accept()

        status, seen = self.run_session(curl(self.server.url("/accepted")), decide)
        self.assertEqual(status, 0)
        self.assertIn("served /accepted", seen.output("stdout"))
        self.assertIn("curl=0", seen.output("stdout"))
        self.assertEqual(len(asked), 1)
        request = asked[0]
        self.assertTrue(request.process.exe.endswith("/curl"), request.process)
        self.assertIn(self.server.url("/accepted"), request.process.argv)
        self.assertGreater(request.process.pid, 0)
        self.assertEqual((request.destination.address, request.destination.port,
                          request.destination.protocol, request.destination.family),
                         ("127.0.0.1", self.server.port, "tcp", "inet"))
        self.assertEqual(request.destination.rule(), f"127.0.0.1:{self.server.port}")
        self.assertEqual(request.reason, "not_allowed")
        decisions = seen.of(sandgate.NetworkDecision)
        self.assertEqual([(d.decision, d.source, d.approval_id) for d in decisions],
                         [("allow", "user", request.approval_id)])
        started = seen.of(sandgate.SandboxStarted)
        self.assertEqual([(s.protocol_version, s.pipeline, s.network) for s in started],
                         [(sandgate.PROTOCOL_VERSION, cell.PIPELINE, "approve")])
        self.assertEqual(seen.of(sandgate.SandboxExited), [sandgate.SandboxExited(0, None)])
        self.assertEqual(self.server.paths, ["/accepted"])

    def test_callback_decline_fails_the_connect_with_the_denial_line_on_stderr(self):
        status, seen = self.run_session(curl(self.server.url("/declined")),
                                        lambda request: sandgate.Decision.decline())
        self.assertEqual(status, 0)  # sh's: the echo after curl
        self.assertIn("curl=7", seen.output("stdout"))
        self.assertIn(f"sandgate: denied tcp connect to 127.0.0.1:{self.server.port} "
                      "(declined when asked)", seen.output("stderr"))
        self.assertEqual([(d.decision, d.source) for d in seen.of(sandgate.NetworkDecision)],
                         [("deny", "user")])
        self.assertEqual(self.server.paths, [])

    def test_decide_returning_none_declines(self):
        status, seen = self.run_session(curl(self.server.url("/none")), lambda request: None)
        self.assertIn("curl=7", seen.output("stdout"))
        self.assertEqual(self.server.paths, [])

    def test_fd_transport_leaves_the_command_its_own_stdout(self):
        out_path = os.path.join(self.tmp, "out.txt")
        seen = Collector()
        with open(out_path, "wb") as out:
            status = sandgate.run(["sh", "-c", curl(self.server.url("/fd"))],
                                  lambda request: sandgate.Decision.accept(),
                                  on_notification=seen,
                                  **cell.session_options(transport="fd", stdout=out))
        self.assertEqual(status, 0)
        with open(out_path) as f:
            self.assertIn("served /fd", f.read())
        self.assertEqual(seen.of(sandgate.ProcessOutput), [], "the command's output is its own")
        self.assertEqual(len(seen.of(sandgate.NetworkDecision)), 1)

    # -- the asyncio API --

    def test_async_accept_then_decline(self):
        script = curl(self.server.url("/first")) + "; " + curl(self.server.url("/second"))
        seen = Collector()

        async def main() -> tuple[int, int]:
            answered = 0
            async with sandgate.AsyncSession(["sh", "-c", script], on_notification=seen,
                                             **cell.session_options(transport="stdio")) as session:
                async for request in session.requests():
                    self.assertIsInstance(request, sandgate.AsyncApprovalRequest)
                    if answered == 0:
                        await request.accept()
                    else:
                        await request.decline()
                    answered += 1
                return await session.wait(), answered

        status, answered = asyncio.run(asyncio.wait_for(main(), 60))
        self.assertEqual((status, answered), (0, 2))
        out = seen.output("stdout")
        self.assertIn("served /first", out)
        self.assertIn("curl=0", out)
        self.assertIn("curl=7", out)
        self.assertIn("(declined when asked)", seen.output("stderr"))
        self.assertEqual(self.server.paths, ["/first"])

    def test_async_messages_yield_everything_in_order(self):
        async def main() -> list:
            kinds = []
            async with sandgate.AsyncSession(["sh", "-c", "echo hi; exit 3"],
                                             **cell.session_options(transport="stdio")) as session:
                async for message in session.messages():
                    kinds.append(type(message).__name__)
                self.assertEqual(await session.wait(), 3)
                self.assertEqual(session.exited, sandgate.SandboxExited(3, None))
            return kinds

        kinds = asyncio.run(asyncio.wait_for(main(), 60))
        self.assertEqual(kinds, ["SandboxStarted", "ProcessOutput", "SandboxExited"])

    # -- session answers, persisted answers --

    def test_accept_for_session_is_not_asked_again(self):
        asked = []
        script = curl(self.server.url("/one")) + "; " + curl(self.server.url("/two"))
        status, seen = self.run_session(
            script, lambda request: asked.append(request) or sandgate.Decision.accept_for_session())
        self.assertEqual(len(asked), 1)
        self.assertEqual(self.server.paths, ["/one", "/two"])
        self.assertEqual([d.source for d in seen.of(sandgate.NetworkDecision)], ["user", "session"])

    def test_decline_for_session_is_not_asked_again(self):
        asked = []
        script = curl(self.server.url("/one")) + "; " + curl(self.server.url("/two"))
        status, seen = self.run_session(
            script, lambda request: asked.append(request) or sandgate.Decision.decline_for_session())
        self.assertEqual(len(asked), 1)
        self.assertEqual(self.server.paths, [])
        self.assertEqual(seen.output("stdout").count("curl=7"), 2)
        # The denial line comes once per destination: the second attempt is told by its source.
        self.assertEqual([(d.decision, d.source) for d in seen.of(sandgate.NetworkDecision)],
                         [("deny", "user"), ("deny", "session")])

    def test_persisting_amendment_writes_the_policy_file_and_the_next_run_uses_it(self):
        policy = os.path.join(self.tmp, "policy.json")
        cell.hand_over(self.tmp)  # sandgate, as the cell's account, writes beside the file
        rule = f"127.0.0.1:{self.server.port}"
        # The command writes nothing: --read-only, as tests/integration/persisted_rules_test.cc
        # says it, so that the cell without user namespaces runs this too (a policy option keeps
        # cell.py from choosing for the test, and the default writable roots would be refused).
        status, seen = self.run_session(
            curl(self.server.url("/saved")),
            lambda request: sandgate.Decision.apply_network_policy_amendment(
                request.destination.rule(), "allow", persist=True),
            options=["--read-only", "--policy-save", policy])
        self.assertEqual(status, 0)
        self.assertEqual(seen.of(sandgate.PolicySaved),
                         [sandgate.PolicySaved(rule, "allow", policy, None)])
        with open(policy) as f:
            self.assertIn(rule, json.load(f)["network"]["allow"])
        self.assertIn("served /saved", seen.output("stdout"))

        def must_not_ask(request):
            self.fail(f"asked again about {request.destination.describe()}")

        status, seen = self.run_session(curl(self.server.url("/again")), must_not_ask,
                                        options=["--read-only", "--policy", policy])
        self.assertIn("served /again", seen.output("stdout"))
        self.assertEqual([(d.source, d.rule) for d in seen.of(sandgate.NetworkDecision)],
                         [("policy", rule)])

    def test_route_goes_through_the_proxy(self):
        proxy = cell.ConnectProxy()
        self.addCleanup(proxy.close)
        status, seen = self.run_session(curl(self.server.url("/routed")),
                                        lambda request: sandgate.Decision.route(proxy.url))
        self.assertIn("served /routed", seen.output("stdout"))
        self.assertEqual(proxy.targets, [f"127.0.0.1:{self.server.port}"])
        self.assertEqual([d.decision for d in seen.of(sandgate.NetworkDecision)], ["route"])

    # -- the cell itself --

    def test_the_sandbox_has_its_own_network_namespace_unless_the_cell_lacks_user_namespaces(self):
        # The cell is the machine it imitates: without user namespaces the legacy pipeline makes
        # no namespace at all, so the command shares the host's network (README, "Two
        # pipelines"); with them, in every other cell, it has its own. Without this a cell
        # whose imitation fell away would still pass. The command's pid is the host's (the
        # supervisor's view), and it waits in connect while we decide.
        namespaces = []

        def decide(request):
            namespaces.append(os.readlink(f"/proc/{request.process.pid}/ns/net"))
            return sandgate.Decision.decline()

        self.run_session(curl(self.server.url("/where")), decide)
        self.assertEqual(len(namespaces), 1)
        host = os.readlink("/proc/self/ns/net")
        if cell.HAS_USER_NAMESPACES:
            self.assertNotEqual(namespaces[0], host)
        else:
            self.assertEqual(namespaces[0], host)

    # -- controller -> sandgate requests --

    def test_jsonrpc_errors_raise_and_the_session_goes_on(self):
        with sandgate.Session(["sh", "-c", "read line; echo got $line"],
                              **cell.session_options(transport="stdio")) as session:
            seen = Collector()
            for message in session.messages():
                seen(message)
                if isinstance(message, sandgate.SandboxStarted):
                    with self.assertRaises(sandgate.SandgateError) as bad_rule:
                        session.update_policy(allow=["*"])
                    self.assertEqual(bad_rule.exception.code, -32602)
                    with self.assertRaises(sandgate.SandgateError) as unknown:
                        session.call("no/such/method", {})
                    self.assertEqual(unknown.exception.code, -32601)
                    session.write_stdin("hello\n", close=True)
            self.assertEqual(session.wait(), 0)
        self.assertEqual(seen.output("stdout"), "got hello\n")

    def test_policy_update_allows_the_next_connect_without_asking(self):
        with sandgate.Session(["sh", "-c", "read go; " + curl(self.server.url("/updated"))],
                              **cell.session_options(transport="stdio")) as session:
            seen = Collector()
            for message in session.messages():
                self.assertNotIsInstance(message, sandgate.ApprovalRequest)
                seen(message)
                if isinstance(message, sandgate.SandboxStarted):
                    session.update_policy(allow=[f"127.0.0.1:{self.server.port}"])
                    session.write_stdin("go\n")
            self.assertEqual(session.wait(), 0)
        self.assertIn("served /updated", seen.output("stdout"))
        self.assertEqual([d.source for d in seen.of(sandgate.NetworkDecision)], ["policy"])

    def test_terminate_ends_the_sandbox_with_the_signal(self):
        for signal_name, status in (("SIGTERM", 143), ("SIGKILL", 137)):
            with self.subTest(signal_name):
                with sandgate.Session(["sleep", "60"], **cell.session_options()) as session:
                    for message in session.messages():
                        if isinstance(message, sandgate.SandboxStarted):
                            session.terminate(signal_name)
                    self.assertEqual(session.wait(), status)
                    self.assertEqual(session.exited, sandgate.SandboxExited(status, signal_name))

    def test_hanging_up_ends_the_sandbox(self):
        session = sandgate.Session(["sleep", "60"], **cell.session_options())
        message = session.next_message(timeout=30)
        self.assertIsInstance(message, sandgate.SandboxStarted)
        # The cell's account runs sandgate (setpriv execs it in place: the same pid).
        ids, _ = cell.account()
        with open(f"/proc/{session.process.pid}/status") as f:
            uid = next(line.split()[1] for line in f if line.startswith("Uid:"))
        self.assertEqual(int(uid), ids[0] if ids else os.geteuid())
        self.assertEqual(session.close(), 137)  # SPEC: the sandbox is killed
        with self.assertRaises(sandgate.SessionClosed):
            session.terminate()

    def test_cancel_ends_the_sandbox(self):
        status, seen = self.run_session(curl(self.server.url("/cancel")) + "; sleep 60",
                                        lambda request: sandgate.Decision.cancel())
        self.assertNotEqual(status, 0)
        self.assertEqual(self.server.paths, [])
        self.assertEqual(len(seen.of(sandgate.SandboxExited)), 1)

    def test_exit_status_is_the_commands(self):
        status, seen = self.run_session("exit 7", lambda request: None)
        self.assertEqual(status, 7)
        self.assertEqual(seen.of(sandgate.SandboxExited), [sandgate.SandboxExited(7, None)])

    def test_sandgate_failure_is_125_with_its_reason(self):
        seen = Collector()
        status = sandgate.run(["true"], lambda request: None, on_notification=seen,
                              **cell.session_options(options=["--allow", "*"],
                                                     capture_stderr=True))
        self.assertEqual(status, 125)
        lines = [m.text for m in seen.of(sandgate.StderrLine)]
        self.assertTrue(any(line.startswith("sandgate") and "*" in line for line in lines), lines)

    def test_every_line_from_sandgate_is_checked_against_the_protocol_schema(self):
        # Not vacuous: a session's lines are counted, and a line the schema rejects is caught.
        before = cell.PROTOCOL_CHECK.checked
        status, seen = self.run_session(curl(self.server.url("/checked")),
                                        lambda request: sandgate.Decision.accept())
        self.assertEqual(status, 0)
        self.assertGreaterEqual(cell.PROTOCOL_CHECK.checked - before, 4)  # started, request, ...
        check = cell.ProtocolCheck()
        check("from_sandgate", b'{"jsonrpc":"2.0","method":"sandbox/exited","params":{}}\n')
        check("from_sandgate", b'{"jsonrpc":"2.0","method":"sandbox/started","params":{"pid":1,'
                               b'"network":"approve","pipeline":"bwrap","protocolVersion":1}}\n')
        self.assertEqual(len(check.take_invalid()), 1)

    def test_a_second_answer_is_refused(self):
        def decide(request):
            request.accept()
            with self.assertRaises(RuntimeError):
                request.decline()
            return None

        status, seen = self.run_session(curl(self.server.url("/twice")), decide)
        self.assertIn("served /twice", seen.output("stdout"))


class DecisionTest(unittest.TestCase):
    """The wire form of each answer, as SPEC spells it (no sandbox needed)."""

    def test_wire_forms(self):
        D = sandgate.Decision
        self.assertEqual(D.accept().wire, "accept")
        self.assertEqual(D.accept_for_session().wire, "acceptForSession")
        self.assertEqual(D.decline().wire, "decline")
        self.assertEqual(D.decline_for_session().wire, "declineForSession")
        self.assertEqual(D.cancel().wire, "cancel")
        self.assertEqual(D.route().wire, {"route": {}})
        self.assertEqual(D.route("socks5://127.0.0.1:1080").wire,
                         {"route": {"proxy": "socks5://127.0.0.1:1080"}})
        self.assertEqual(D.apply_network_policy_amendment("github.com:443", "deny", True).wire,
                         {"applyNetworkPolicyAmendment":
                          {"host": "github.com:443", "action": "deny", "persist": True}})
        with self.assertRaises(ValueError):
            D.apply_network_policy_amendment("x", "maybe")

    def test_split_args(self):
        self.assertEqual(sandgate.split_args(["--allow", "x", "--", "curl", "u"]),
                         (["--allow", "x"], ["curl", "u"]))
        self.assertEqual(sandgate.split_args(["git", "diff", "--", "f"]),
                         ([], ["git", "diff", "--", "f"]))
        self.assertEqual(sandgate.split_args(["--", "ls"]), ([], ["ls"]))

    def test_rules_for_destinations(self):
        Dest = sandgate.Destination
        self.assertEqual(Dest("tcp", "inet", host="api.github.com", address="1.2.3.4",
                              port=443).rule(), "api.github.com:443")
        self.assertEqual(Dest("tcp", "inet6", address="::1", port=80).rule(), "[::1]:80")
        self.assertEqual(Dest("unix", "unix", path="/run/x.sock").rule(), "unix:/run/x.sock")


if __name__ == "__main__":
    unittest.main()
