"""The example controllers: allow_github.py's decision on made-up requests, then both examples
end to end, run as a person runs them (as the cell's account, approve_by_hand.py at a real
terminal), against real sandboxes."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import unittest

import cell
from cell import sandgate
from terminal import Terminal


def load_example(name: str):
    path = os.path.join(cell.SOURCE_DIR, "examples", name)
    spec = importlib.util.spec_from_file_location(name[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def request_to(host, address="140.82.121.4", port=443) -> sandgate.ApprovalRequest:
    return sandgate.ApprovalRequest(
        approval_id="a1", process=sandgate.Process(pid=42, exe="/usr/bin/git", argv=("git",)),
        destination=sandgate.Destination("tcp", "inet", host=host, address=address, port=port,
                                         names=(host,) if host else ()),
        reason="not_allowed", available_decisions=(), _reply=lambda decision: None)


class AllowGithubDecisionTest(unittest.TestCase):
    """decide() alone, on requests as sandgate builds them."""

    def test_github_and_its_subdomains_only(self):
        decide = load_example("allow_github.py").decide
        accept, decline = sandgate.Decision.accept(), sandgate.Decision.decline()
        for host, expected in [("github.com", accept), ("api.github.com", accept),
                               ("codeload.eu.github.com", accept), ("evilgithub.com", decline),
                               ("github.com.evil.test", decline), ("github.co", decline),
                               ("example.org", decline), (None, decline)]:
            with self.subTest(host=host):
                self.assertEqual(decide(request_to(host)), expected)


class AllowGithubEndToEndTest(cell.CellTest):
    """The example itself, with names the sandbox resolves through sandgate's DNS forwarder
    from a dnsmasq of ours, all pointing at the HTTP server on the host's loopback (the names
    are only ever answered by that dnsmasq: no traffic leaves the machine)."""

    def test_github_names_get_through_and_others_are_declined(self):
        server = cell.HttpServer()
        self.addCleanup(server.close)
        dns = cell.Dnsmasq({"github.com": "127.0.0.1", "api.github.com": "127.0.0.1",
                            "evil.test": "127.0.0.1", "github.com.evil.test": "127.0.0.1"},
                           self.tmp)
        self.addCleanup(dns.close)
        port = server.port
        script = "; ".join(f"curl -sS -m 20 http://{host}:{port}{path}; echo \" {path} curl=$?\""
                           for host, path in [("github.com", "/root"), ("api.github.com", "/api"),
                                              ("evil.test", "/evil"),
                                              ("github.com.evil.test", "/suffix"),
                                              ("127.0.0.1", "/address")])
        tree = cell.script_tree()
        result = subprocess.run(
            cell.launcher() + [cell.PYTHON, os.path.join(tree, "examples", "allow_github.py"),
                               *cell.options("--dns-upstream", f"127.0.0.1:{dns.port}"),
                               "--", "sh", "-c", script],
            cwd="/tmp", env=cell.script_env(), stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(server.paths, ["/root", "/api"], result.stdout + result.stderr)
        for path in ("/root", "/api"):
            self.assertIn(f"served {path}", result.stdout)
            self.assertIn(f" {path} curl=0", result.stdout)
        for target, path in [(f"evil.test:{port}", "/evil"),
                             (f"github.com.evil.test:{port}", "/suffix")]:
            self.assertIn(f" {path} curl=7", result.stdout)
            self.assertIn(f"sandgate: denied tcp connect to {target} (declined when asked)",
                          result.stderr)
        # The bare address is declined too. Its request still carries a name: sandgate names
        # an address by what this sandbox last resolved to it (github.com.evil.test here), so
        # it got no denial line of its own (one per destination, and that one was said).
        self.assertIn(" /address curl=7", result.stdout)


class ApproveByHandTest(cell.CellTest):
    """approve_by_hand.py at a real terminal: the question on the terminal, answered by typing."""

    def test_typed_answers_decide(self):
        server = cell.HttpServer()
        self.addCleanup(server.close)
        script = (f"curl -sS -m 20 {server.url('/yes')}; echo \" yes curl=$?\"; "
                  f"curl -sS -m 20 {server.url('/no')}; echo \" no curl=$?\"")
        tree = cell.script_tree()
        term = Terminal([cell.PYTHON, os.path.join(tree, "examples", "approve_by_hand.py"),
                         *cell.options(), "--", "sh", "-c", script], env=cell.script_env())
        self.addCleanup(term.close)
        question = f"wants tcp 127.0.0.1:{server.port}"
        term.wait_for(question, "[y]es [s]ession [n]o")
        mark = term.mark()
        term.type("y\n")
        term.wait_for("served /yes", " yes curl=0", f"allow 127.0.0.1:{server.port} (user)",
                      since=mark)
        term.wait_for_count(question, 2)
        mark = term.mark()
        term.type("n\n")
        term.wait_for(" no curl=7", since=mark)
        self.assertEqual(term.wait_exit(), 0)
        raw = term.raw.decode(errors="replace")
        self.assertIn(f"sandgate: denied tcp connect to 127.0.0.1:{server.port} "
                      "(declined when asked)", raw)
        self.assertIn(f"deny 127.0.0.1:{server.port} (user)", raw)
        self.assertIn("/usr/bin/curl (pid ", raw)
        self.assertEqual(server.paths, ["/yes"])


if __name__ == "__main__":
    unittest.main()
