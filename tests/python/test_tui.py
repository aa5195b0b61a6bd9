"""examples/sandgate_tui.py on a real pseudo-terminal (TERM=xterm), run as the cell's account:
keys typed at it, the screen read back through screen.Screen."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import cell
from terminal import Terminal


def curl(url: str, label: str) -> list[str]:
    return ["sh", "-c", f"curl -sS -m 20 {url}; echo \" {label} curl=$?\""]


class TuiTest(cell.CellTest):
    def setUp(self) -> None:
        super().setUp()
        self.server = cell.HttpServer()
        self.addCleanup(self.server.close)
        self.dest = f"address 127.0.0.1  port {self.server.port}"

    def start(self, *args: str) -> Terminal:
        tree = cell.script_tree()
        term = Terminal([cell.PYTHON, os.path.join(tree, "examples", "sandgate_tui.py"), *args],
                        env=cell.script_env(TERM="xterm"))
        self.addCleanup(term.close)
        return term

    def quit(self, term: Terminal, status: int = 0) -> None:
        # Quitting ends what still runs (137): wait for the sandboxes to end by themselves.
        deadline = time.monotonic() + 30
        while "[running" in term.screen.text() and time.monotonic() < deadline:
            time.sleep(0.05)
        term.type("q")
        self.assertEqual(term.wait_exit(), status)
        self.assertEqual(term.mode(), term.initial_mode, "the terminal's mode is put back")
        self.assertIsNone(term.screen.saved_main, "the alternate screen is left")

    def test_accept_once_lets_the_output_arrive(self):
        term = self.start(*cell.options(), "--", *curl(self.server.url("/once"), "once"))
        screen = term.wait_for("pending requests: 1", "/usr/bin/curl", self.dest, "tcp host -")
        self.assertIn(self.server.url("/once"), screen)   # the argv is shown
        self.assertNotEqual(term.mode(), term.initial_mode, "curses runs in a mode of its own")
        mark = term.mark()
        term.type("y")
        term.wait_for("served /once", " once curl=0", "pending requests: 0",
                      f"allow tcp 127.0.0.1:{self.server.port} (user)", "[exit 0]", since=mark)
        self.quit(term)
        self.assertEqual(self.server.paths, ["/once"])

    def test_decline_fails_the_connect(self):
        term = self.start(*cell.options(), "--", *curl(self.server.url("/no"), "no"))
        term.wait_for("pending requests: 1", self.dest)
        mark = term.mark()
        term.type("n")
        term.wait_for(f"sandgate: denied tcp connect to 127.0.0.1:{self.server.port} "
                      "(declined when asked)", " no curl=7", since=mark)
        self.quit(term)
        self.assertEqual(self.server.paths, [])

    def test_accept_for_the_session_asks_once(self):
        script = (f"curl -sS -m 20 {self.server.url('/a')}; "
                  f"curl -sS -m 20 {self.server.url('/b')}; echo \" both curl=$?\"")
        term = self.start(*cell.options(), "--", "sh", "-c", script)
        term.wait_for("pending requests: 1", self.dest)
        mark = term.mark()
        term.type("a")
        term.wait_for("served /a", "served /b", " both curl=0", "(session by", since=mark)
        self.quit(term)
        self.assertEqual(self.server.paths, ["/a", "/b"])

    def test_always_allow_saves_the_rule(self):
        cell.hand_over(self.tmp)
        policy = os.path.join(self.tmp, "policy.json")
        rule = f"127.0.0.1:{self.server.port}"
        # --read-only: the command writes nothing, and the default writable roots are refused
        # in the cell without user namespaces (a policy option keeps cell.py from choosing).
        term = self.start(*cell.options("--read-only", "--policy-save", policy), "--",
                          *curl(self.server.url("/always"), "always"))
        term.wait_for("pending requests: 1", self.dest)
        mark = term.mark()
        term.type("p")
        term.wait_for(f"allow {rule} saved to {policy}", "served /always", since=mark)
        self.quit(term)
        with open(policy) as f:
            self.assertEqual(json.load(f)["network"]["allow"], [rule])

    def test_route_goes_through_the_proxy_given(self):
        proxy = cell.ConnectProxy()
        self.addCleanup(proxy.close)
        term = self.start("--proxy", proxy.url, *cell.options(), "--",
                          *curl(self.server.url("/routed"), "routed"))
        term.wait_for("pending requests: 1", self.dest)
        mark = term.mark()
        term.type("r")
        term.wait_for("served /routed", " routed curl=0", "route tcp", since=mark)
        self.quit(term)
        self.assertEqual(proxy.targets, [f"127.0.0.1:{self.server.port}"])

    def test_route_without_a_proxy_says_so_and_answers_nothing(self):
        term = self.start(*cell.options(), "--", *curl(self.server.url("/x"), "x"))
        term.wait_for("pending requests: 1", self.dest)
        term.type("r")
        term.wait_for("no proxy: start the TUI with --proxy URL", "pending requests: 1")
        mark = term.mark()
        term.type("n")
        term.wait_for(" x curl=7", since=mark)
        self.quit(term)

    def test_two_sandboxes_at_once(self):
        term = self.start(*cell.options(), "--", *curl(self.server.url("/first"), "first"),
                          ":::", *curl(self.server.url("/second"), "second"))
        # Both ask at once; the first tab is shown.
        term.wait_for("1:sh -c curl", "[running, 1 pending]", "2:sh -c curl",
                      self.server.url("/first"))
        mark = term.mark()
        term.type("y")
        term.wait_for("served /first", " first curl=0", since=mark)
        mark = term.mark()
        term.type("\t")                                    # to the second sandbox
        term.wait_for(self.server.url("/second"), "pending requests: 1", since=mark)
        mark = term.mark()
        term.type("n")
        term.wait_for(" second curl=7", "(declined when asked)", since=mark)
        term.wait_for("[exit 0]   2:", "[exit 0] ")
        mark = term.mark()
        term.type("1")                                     # back to the first, by number
        term.wait_for("served /first", since=mark)
        self.quit(term)
        self.assertEqual(self.server.paths, ["/first"])

    def test_exit_when_done_returns_the_first_failing_status(self):
        term = self.start("--exit-when-done", *cell.options(), "--", "sh", "-c", "exit 0",
                          ":::", "sh", "-c", "echo bye; exit 3")
        self.assertEqual(term.wait_exit(), 3)
        self.assertEqual(term.mode(), term.initial_mode)

    def test_sigterm_restores_the_terminal_and_ends_the_sandboxes(self):
        term = self.start(*cell.options(), "--", "sleep", "120")
        screen = term.wait_for("[sandgate] started pid", "[running]")
        pid = int(screen.split("[sandgate] started pid ", 1)[1].split()[0])
        os.kill(term.process.pid, signal.SIGTERM)
        term.wait_exit()
        self.assertEqual(term.mode(), term.initial_mode)
        self.assertIsNone(term.screen.saved_main)
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(os.path.exists(f"/proc/{pid}"), "the sandboxed command outlived the TUI")

    def test_ctrl_c_quits_and_restores_the_terminal(self):
        term = self.start(*cell.options(), "--", "sleep", "120")
        term.wait_for("[sandgate] started pid", "[running]")
        term.type("\x03")                                 # the terminal makes it SIGINT
        self.assertEqual(term.wait_exit(), 137)            # the sandbox was ended: SIGKILL
        self.assertEqual(term.mode(), term.initial_mode)
        self.assertIsNone(term.screen.saved_main)

    def test_help_names_every_key(self):
        tree = cell.script_tree()
        out = subprocess.run([cell.PYTHON, os.path.join(tree, "examples", "sandgate_tui.py"),
                              "--help"], capture_output=True, text=True, timeout=30).stdout
        for key in ("y  accept once", "a  accept for the session", "p  always allow",
                    "n  decline once", "d  decline for the session", "r  route", ":::"):
            self.assertIn(key, out)
