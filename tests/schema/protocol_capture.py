#!/usr/bin/env python3
"""The protocol messages the integration tests exchanged with sandgate, against
docs/protocol.schema.json.

tests/helpers/scripted_controller.h records them when SANDGATE_PROTOCOL_CAPTURE_DIR is set
(ctest sets it for the matrix tests that use it): DIR/<pid>.jsonl, one JSON record per line,
"kind" process | controller | message (see the header for the fields).

  protocol_capture.py reset DIR                  the fixture's setup: an empty DIR
  protocol_capture.py validate DIR --schema F    the fixture's cleanup

validate checks every line sandgate sent against $defs/fromSandgate and every line the
controller sent against $defs/fromController, and fails listing each invalid one with the test
and source file that saw it. Tests send bad input on purpose (SPEC: bad input never stops
sandgate); a controller line the schema rejects is accepted as such only when sandgate treated
it as bad input: it answered that line with a JSON-RPC error, or the answer it was (to a
network/requestApproval) ended in a deny, which is what SPEC makes of an unknown decision.

It also fails when nothing was validated and that cannot be explained: no record at all (the
capture did not reach the tests), or controllers recorded but no message. A run of only tests
that never start a controller (ctest -R one such test) has process records and no controller:
there is nothing to validate, and that is reported, not failed.
"""

import argparse
import base64
import collections
import json
import os
import shutil
import sys

import jsonschema

# JSON-RPC error codes sandgate uses for input it could not read as a message at all.
MALFORMED = {-32700, -32600}


def reset(directory):
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    return 0


def read_records(directory):
    """(file, line number, record) in file order; unreadable lines are reported as problems."""
    records, problems = [], []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".jsonl"):
            continue
        path = os.path.join(directory, name)
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                try:
                    records.append((name, number, json.loads(line)))
                except json.JSONDecodeError as e:
                    problems.append(f"{name}:{number}: not a capture record ({e})")
    return records, problems


def message_text(record):
    if "text_base64" in record:
        return base64.b64decode(record["text_base64"]).decode("utf-8", errors="surrogateescape")
    return record.get("text", "")


def direction_validator(schema, definition):
    # The direction's definition as the root of a document holding all of the schema's $defs,
    # so that its "#/$defs/..." references resolve as in the original.
    document = {"$schema": schema.get("$schema"), "$defs": schema["$defs"],
                "$ref": "#/$defs/" + definition}
    return jsonschema.Draft202012Validator(document)


def leaves(error):
    if not error.context:
        return [error]
    return [leaf for sub in error.context for leaf in leaves(sub)]


def first_error(validator, value):
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return None
    # "not valid under any of the given schemas" says little: name the problem inside the
    # definition the message meant to be, the oneOf branch whose method (or kind of message:
    # notification, request, response) is the message's.
    branches = collections.defaultdict(list)
    for sub in error.context or []:
        branches[sub.schema_path[0] if sub.schema_path else None].extend(leaves(sub))
    meant = [errors for errors in branches.values()
             if not any(list(leaf.absolute_path) == ["method"] or leaf.validator == "not" or
                        (leaf.validator == "required" and not leaf.absolute_path)
                        for leaf in errors)]
    if len(meant) == 1:
        error = max(meant[0], key=lambda leaf: len(leaf.absolute_path))
    where = "/".join(str(p) for p in error.absolute_path) or "(message)"
    return f"{where}: {error.message[:300]}"


class Session:
    """One Controller: what each side sent, in order."""

    def __init__(self, key):
        self.key = key
        self.test = None
        self.file = None
        self.from_sandgate = []   # (record, parsed or None)
        self.to_sandgate = []


def parse(text):
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None


def validate(directory, schema_path):
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    from_sandgate = direction_validator(schema, "fromSandgate")
    from_controller = direction_validator(schema, "fromController")

    if not os.path.isdir(directory):
        print(f"FAIL {directory} does not exist: the capture fixture's setup did not run")
        return 1
    records, problems = read_records(directory)
    processes = sum(1 for _, _, r in records if r.get("kind") == "process")
    sessions = collections.OrderedDict()
    for name, _, record in records:
        if record.get("kind") not in ("controller", "message"):
            continue
        key = (name, record.get("controller"))
        session = sessions.setdefault(key, Session(key))
        session.test = session.test or record.get("test")
        session.file = session.file or record.get("file")
        if record.get("kind") == "message":
            text = message_text(record)
            side = (session.from_sandgate if record.get("direction") == "from_sandgate"
                    else session.to_sandgate)
            side.append((record, text, parse(text)))

    invalid = list(problems)
    tolerated = 0
    counts = collections.Counter()

    def where(session, record):
        test = record.get("test") or session.test or "?"
        source = record.get("file") or session.file or "?"
        return f"{source} ({test}, {session.key[0]} controller {session.key[1]})"

    def shown(text):
        return text if len(text) <= 400 else text[:400] + f"... ({len(text)} bytes)"

    for session in sessions.values():
        # What sandgate made of the controller's lines: errors by id, requests by id, decisions
        # by approval id.
        error_ids, malformed_replies, requests, decisions = set(), 0, {}, {}
        for record, text, message in session.from_sandgate:
            counts["from sandgate"] += 1
            if message is None:
                invalid.append(f"{where(session, record)}: sandgate sent a line that is not JSON:"
                               f"\n    {shown(text)}")
                continue
            problem = first_error(from_sandgate, message)
            if problem:
                invalid.append(f"{where(session, record)}: sandgate -> controller: {problem}"
                               f"\n    {shown(text)}")
            if not isinstance(message, dict):
                continue
            if "error" in message and "method" not in message:
                if message.get("id") is None:
                    malformed_replies += 1
                else:
                    error_ids.add(json.dumps(message.get("id")))
            method = message.get("method")
            params = message.get("params") if isinstance(message.get("params"), dict) else {}
            if method == "network/requestApproval" and "id" in message:
                requests[json.dumps(message["id"])] = params.get("approvalId")
            if method == "network/decision" and params.get("approvalId") is not None:
                decisions[params["approvalId"]] = params.get("decision")

        for record, text, message in session.to_sandgate:
            counts["to sandgate"] += 1
            problem = ("not JSON" if message is None else first_error(from_controller, message))
            if problem is None:
                continue
            # Bad input on purpose, if sandgate treated it as such.
            message_id = message.get("id") if isinstance(message, dict) else None
            is_answer = isinstance(message, dict) and "method" not in message
            if message_id is not None and json.dumps(message_id) in error_ids:
                tolerated += 1
                continue
            if (message_id is None or message is None) and malformed_replies > 0:
                tolerated += 1
                continue
            if is_answer and message_id is not None and json.dumps(message_id) in requests:
                approval = requests[json.dumps(message_id)]
                if decisions.get(approval, "deny") == "deny":
                    tolerated += 1
                    continue
            invalid.append(f"{where(session, record)}: controller -> sandgate: {problem}"
                           f"\n    {shown(text)}")

    total = counts["from sandgate"] + counts["to sandgate"]
    print(f"{processes} test processes, {len(sessions)} controllers, "
          f"{counts['from sandgate']} messages from sandgate and {counts['to sandgate']} to it "
          f"validated against {os.path.basename(schema_path)}; {tolerated} deliberately bad "
          f"controller lines that sandgate rejected as such")
    for line in invalid:
        print("INVALID " + line)
    if invalid:
        return 1
    if total == 0:
        if not records:
            print(f"FAIL nothing was recorded in {directory}: SANDGATE_PROTOCOL_CAPTURE_DIR did not "
                  "reach the tests, or tests/helpers/scripted_controller.h no longer records")
            return 1
        if sessions:
            print("FAIL controllers were started but no message was recorded")
            return 1
        print("no test that ran started a controller: nothing to validate")
    return 0


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("reset").add_argument("directory")
    check = sub.add_parser("validate")
    check.add_argument("directory")
    check.add_argument("--schema", required=True)
    args = parser.parse_args()
    if args.command == "reset":
        return reset(args.directory)
    return validate(args.directory, args.schema)


if __name__ == "__main__":
    sys.exit(main())
