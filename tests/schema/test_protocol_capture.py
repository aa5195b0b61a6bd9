#!/usr/bin/env python3
"""protocol_capture.py on capture directories made up here: it must pass what is valid, fail on
each kind of invalid message and on a capture that proves nothing, and let through the bad input
that tests send on purpose only when sandgate rejected it.

Usage: test_protocol_capture.py SCHEMA  (docs/protocol.schema.json)
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = None

STARTED = {"jsonrpc": "2.0", "method": "sandbox/started",
           "params": {"protocolVersion": 1, "pid": 42, "pipeline": "bwrap", "network": "approve"}}
DESTINATION = {"host": "example.com", "names": ["example.com"], "address": "192.0.2.1", "port": 443,
               "protocol": "tcp", "family": "inet"}
REQUEST = {"jsonrpc": "2.0", "id": 1, "method": "network/requestApproval",
           "params": {"approvalId": "a1", "process": {"pid": 7, "exe": "/bin/curl",
                                                      "argv": ["curl"], "cwd": "/"},
                      "destination": DESTINATION, "reason": "not_allowed",
                      "availableDecisions": ["accept", "decline"]}}
ACCEPT = {"jsonrpc": "2.0", "id": 1, "result": {"decision": "accept"}}


def decision(verdict):
    return {"jsonrpc": "2.0", "method": "network/decision",
            "params": {"approvalId": "a1", "process": {"pid": 7}, "destination": DESTINATION,
                       "decision": verdict, "source": "user"}}


EXITED = {"jsonrpc": "2.0", "method": "sandbox/exited", "params": {"exitCode": 0, "signal": None}}


class Capture:
    """A capture directory with one process and its controllers, as the header writes it."""

    def __init__(self, directory, pid=1000):
        self.path = os.path.join(directory, f"{pid}.jsonl")
        self.pid = pid
        self.write({"kind": "process", "identity": "root", "pipeline": "bwrap"})

    def write(self, record):
        record = dict(record, pid=self.pid)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def controller(self, controller=0, test="ControllerTest.Made", file="controller_test.cc"):
        self.write({"kind": "controller", "controller": controller, "args": [], "test": test,
                    "file": file, "line": 1})

    def message(self, direction, message, controller=0, test="ControllerTest.Made",
                file="controller_test.cc", raw=False):
        text = message if raw else json.dumps(message)
        record = {"kind": "message", "controller": controller, "direction": direction,
                  "test": test, "file": file, "line": 1}
        if isinstance(text, bytes):
            record["text_base64"] = base64.b64encode(text).decode()
        else:
            record["text"] = text
        self.write(record)

    def received(self, message, **kw):
        self.message("from_sandgate", message, **kw)

    def sent(self, message, **kw):
        self.message("to_sandgate", message, **kw)


class ValidatorTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = os.path.join(self.tmp.name, "capture")
        self.run_tool("reset", self.dir)

    def tearDown(self):
        self.tmp.cleanup()

    def run_tool(self, *args):
        return subprocess.run([sys.executable, os.path.join(HERE, "protocol_capture.py"), *args],
                              capture_output=True, text=True)

    def validate(self):
        return self.run_tool("validate", self.dir, "--schema", SCHEMA)

    def assert_passes(self):
        result = self.validate()
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return result.stdout

    def assert_fails(self, *expected):
        result = self.validate()
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        for text in expected:
            self.assertIn(text, result.stdout)
        return result.stdout

    def good_session(self, capture):
        capture.controller()
        capture.received(STARTED)
        capture.received(REQUEST)
        capture.sent(ACCEPT)
        capture.received(decision("allow"))
        capture.received(EXITED)

    def test_reset_empties_the_directory(self):
        with open(os.path.join(self.dir, "old.jsonl"), "w") as f:
            f.write("{}\n")
        self.run_tool("reset", self.dir)
        self.assertEqual(os.listdir(self.dir), [])

    def test_a_valid_session_passes(self):
        self.good_session(Capture(self.dir))
        out = self.assert_passes()
        self.assertIn("4 messages from sandgate and 1 to it", out)

    def test_every_message_of_sandgate_in_its_own_words(self):
        capture = Capture(self.dir)
        capture.controller()
        for message in [
            STARTED, REQUEST, decision("route"), EXITED,
            {"jsonrpc": "2.0", "method": "network/approvalCancelled",
             "params": {"approvalId": "a1", "reason": "process_exited"}},
            {"jsonrpc": "2.0", "method": "process/output",
             "params": {"stream": "stderr", "data": "AAEC", "encoding": "base64"}},
            {"jsonrpc": "2.0", "method": "policy/saved",
             "params": {"host": "github.com:443", "action": "allow", "file": "/p.json"}},
            {"jsonrpc": "2.0", "id": 3, "result": {}},
            {"jsonrpc": "2.0", "id": None,
             "error": {"code": -32700, "message": "Parse error", "data": "invalid JSON at byte 0"}},
        ]:
            capture.received(message)
        self.assert_passes()

    def test_an_invalid_message_from_sandgate_fails_with_its_test_and_file(self):
        capture = Capture(self.dir)
        self.good_session(capture)
        bad = json.loads(json.dumps(STARTED))
        bad["params"]["protocolVersion"] = 2
        capture.received(bad, test="SomeTest.Name", file="tests/integration/some_test.cc")
        self.assert_fails("INVALID tests/integration/some_test.cc (SomeTest.Name",
                          "protocolVersion")

    def test_each_kind_of_bad_message_from_sandgate_fails(self):
        cases = {
            "unknown source": dict(decision("allow"), params=dict(decision("allow")["params"],
                                                                  source="oracle")),
            "no jsonrpc": {"method": "sandbox/exited", "params": {"exitCode": 0, "signal": None}},
            "missing destination.names": dict(REQUEST, params=dict(
                REQUEST["params"], destination={k: v for k, v in DESTINATION.items()
                                                if k != "names"})),
            "unknown method": {"jsonrpc": "2.0", "method": "sandbox/paused", "params": {}},
            "a result with content": {"jsonrpc": "2.0", "id": 2, "result": {"ok": True}},
            "a non-standard error code": {"jsonrpc": "2.0", "id": 2,
                                          "error": {"code": 1, "message": "x"}},
        }
        for name, message in cases.items():
            with self.subTest(name):
                self.run_tool("reset", self.dir)
                capture = Capture(self.dir)
                self.good_session(capture)
                capture.received(message)
                self.assert_fails("sandgate -> controller")

    def test_a_line_from_sandgate_that_is_not_json_fails(self):
        capture = Capture(self.dir)
        self.good_session(capture)
        capture.received("{\"jsonrpc\": \"2.0\", ", raw=True)
        self.assert_fails("not JSON")

    def test_text_in_base64_is_decoded(self):
        capture = Capture(self.dir)
        self.good_session(capture)
        capture.received(json.dumps(EXITED).encode(), raw=True)
        self.assert_passes()

    def test_an_invalid_answer_that_sandgate_acted_on_fails(self):
        capture = Capture(self.dir)
        capture.controller()
        capture.received(REQUEST)
        capture.sent({"jsonrpc": "2.0", "id": 1, "result": {"decision": "maybe"}})
        capture.received(decision("allow"))
        self.assert_fails("controller -> sandgate")

    def test_an_unknown_decision_that_sandgate_declined_is_bad_input_on_purpose(self):
        capture = Capture(self.dir)
        capture.controller()
        capture.received(REQUEST)
        capture.sent({"jsonrpc": "2.0", "id": 1, "result": {"decision": "maybe"}})
        capture.received(decision("deny"))
        self.assertIn("1 deliberately bad", self.assert_passes())

    def test_bad_lines_that_sandgate_answered_with_an_error_are_on_purpose(self):
        capture = Capture(self.dir)
        capture.controller()
        capture.received(STARTED)
        capture.sent("this is not json", raw=True)
        capture.received({"jsonrpc": "2.0", "id": None,
                          "error": {"code": -32700, "message": "Parse error"}})
        capture.sent({"jsonrpc": "2.0", "id": 7, "method": "no/such"})
        capture.received({"jsonrpc": "2.0", "id": 7,
                          "error": {"code": -32601, "message": "Method not found"}})
        self.assertIn("2 deliberately bad", self.assert_passes())

    def test_a_bad_request_that_sandgate_did_not_reject_fails(self):
        capture = Capture(self.dir)
        capture.controller()
        capture.received(STARTED)
        capture.sent({"jsonrpc": "2.0", "id": 7, "method": "policy/update",
                      "params": {"allow": "github.com"}})
        capture.received({"jsonrpc": "2.0", "id": 7, "result": {}})
        self.assert_fails("controller -> sandgate", "policy/update")

    def test_controller_requests_validate(self):
        capture = Capture(self.dir)
        capture.controller()
        capture.received(STARTED)
        for i, (method, params) in enumerate([
                ("sandbox/terminate", {"signal": "SIGTERM"}),
                ("policy/update", {"allow": ["github.com"], "deny": [], "route": []}),
                ("process/writeStdin", {"data": "hi\n", "close": True})]):
            capture.sent({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
            capture.received({"jsonrpc": "2.0", "id": i, "result": {}})
        capture.sent({"jsonrpc": "2.0", "id": 9,
                      "error": {"code": -32000, "message": "the user closed the dialog"}})
        self.assert_passes()

    def test_an_empty_capture_fails(self):
        self.assert_fails("nothing was recorded")

    def test_a_missing_capture_directory_fails(self):
        os.rmdir(self.dir)
        self.assert_fails("does not exist")

    def test_controllers_without_messages_fail(self):
        Capture(self.dir).controller()
        self.assert_fails("no message was recorded")

    def test_processes_that_started_no_controller_have_nothing_to_validate(self):
        Capture(self.dir, pid=1)
        Capture(self.dir, pid=2)
        self.assertIn("nothing to validate", self.assert_passes())

    def test_several_processes_and_controllers_are_kept_apart(self):
        first, second = Capture(self.dir, pid=1), Capture(self.dir, pid=2)
        self.good_session(first)
        # Same request id in another process: its invalid answer was acted on there.
        second.controller()
        second.received(REQUEST)
        second.sent({"jsonrpc": "2.0", "id": 1, "result": {"decision": "maybe"}})
        second.received(decision("allow"))
        self.assert_fails("2.jsonl controller 0")


if __name__ == "__main__":
    SCHEMA = os.path.abspath(sys.argv.pop(1))
    unittest.main()
