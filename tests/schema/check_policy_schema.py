#!/usr/bin/env python3
"""docs/policy.schema.json against the policies the project shows and against sandgate itself.

1. Every example policy validates: ```json blocks of the Markdown documents that are policies (a
   top-level "network" or "filesystem" key), the man page's example (.EX/.EE blocks), and the
   policies the C++ tests feed the parser (raw strings in the policy file tests).
2. The schema and the real parser agree both ways: each case of policy_cases.json, each example
   and each fixture is given to `sandgate run --policy F --network off -- /bin/true`, which must
   exit 0 exactly when the schema accepts it and 125 when it does not. The few things only a run
   can check (a writable root exists, a CIDR has no host bits...) are listed as runtime_only:
   accepted by the schema, refused by sandgate.

Usage: check_policy_schema.py --schema FILE --cases FILE [--doc FILE]... [--fixture FILE]...
                              [--sandgate BINARY]
Without --sandgate only the schema side is checked.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import jsonschema

POLICY_KEYS = {"network", "filesystem"}


def markdown_blocks(text):
    """The bodies of ```json fenced blocks."""
    return [m.group(1) for m in re.finditer(r"^```json[ \t]*\n(.*?)^```", text, re.M | re.S)]


def roff_blocks(text):
    """The bodies of .EX/.EE example blocks, roff escapes undone."""
    blocks = []
    for m in re.finditer(r"^\.EX\n(.*?)^\.EE", text, re.M | re.S):
        body = m.group(1)
        for escape, plain in (("\\(dq", '"'), ("\\-", "-"), ("\\e", "\\"), ("\\&", "")):
            body = body.replace(escape, plain)
        blocks.append(body)
    return blocks


def cpp_raw_strings(text):
    """The contents of C++ raw string literals R"(...)" (no custom delimiters in these files)."""
    return [m.group(1) for m in re.finditer(r'R"\((.*?)\)"', text, re.S)]


def looks_like_policy(value):
    return isinstance(value, dict) and bool(POLICY_KEYS & value.keys())


def doc_examples(paths):
    """(where, policy) for every policy shown in the documents."""
    found = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        blocks = roff_blocks(text) if re.search(r"\.\d$", path) else markdown_blocks(text)
        for index, block in enumerate(blocks):
            try:
                value = json.loads(block)
            except json.JSONDecodeError:
                continue  # a shell session or a JSON-RPC transcript, not a policy
            if looks_like_policy(value):
                found.append((f"{os.path.basename(path)} block {index + 1}", value))
    return found


def fixture_policies(paths):
    """(where, text) for every raw string in the C++ tests that is a JSON object: the tests feed
    both good and bad policies to the parser, so the verdict is not known here, only that schema
    and parser must agree on it."""
    found = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for index, raw in enumerate(cpp_raw_strings(text)):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                continue
            # Everything JSON in these files is a policy file's content, but for a protocol message.
            if isinstance(value, dict) and "jsonrpc" not in value:
                found.append((f"{os.path.basename(path)} raw string {index + 1}", raw))
    return found


class Checker:
    def __init__(self, schema, sandgate):
        jsonschema.Draft202012Validator.check_schema(schema)
        self.validator = jsonschema.Draft202012Validator(schema)
        self.sandgate = sandgate
        self.failures = []
        self.checked = 0
        self.scratch = tempfile.TemporaryDirectory(prefix="sandgate-policy-schema-")

    def schema_accepts(self, text):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return False, "not JSON"
        errors = sorted(self.validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "(top)"
            return False, f"{where}: {errors[0].message[:200]}"
        return True, ""

    def sandgate_accepts(self, text):
        path = os.path.join(self.scratch.name, "policy.json")
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write(text)
        # The scratch directory as cwd: the default writable roots are the cwd and /tmp.
        run = subprocess.run([self.sandgate, "run", "--policy", path, "--network", "off", "--",
                              "/bin/true"], cwd=self.scratch.name, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=60)
        if run.returncode not in (0, 125):
            raise RuntimeError(f"sandgate exited {run.returncode}: {run.stderr.strip()}")
        return run.returncode == 0, run.stderr.strip()

    def fail(self, where, text, problem):
        shown = text if len(text) < 300 else text[:300] + "..."
        self.failures.append(f"{where}: {problem}\n    policy: {shown}")

    def check(self, where, text, expect_schema, expect_sandgate=None, run_text=None):
        """expect_*: True/False, or None for "whatever the other side says"; run_text: what
        sandgate is given when it differs from what the schema sees (see with_existing_roots)."""
        self.checked += 1
        schema_ok, why = self.schema_accepts(text)
        if expect_schema is not None and schema_ok != expect_schema:
            self.fail(where, text, "the schema " + ("rejects it: " + why if expect_schema
                                                    else "accepts it"))
        if self.sandgate is None:
            return
        if expect_sandgate is None:
            expect_sandgate = schema_ok
        sandgate_ok, stderr = self.sandgate_accepts(run_text if run_text is not None else text)
        if sandgate_ok != expect_sandgate:
            if sandgate_ok:
                self.fail(where, text, "sandgate accepts it (exit 0)" +
                          ("" if schema_ok else f", the schema does not ({why})"))
            else:
                self.fail(where, text, f"sandgate rejects it (exit 125: {stderr})" +
                          (", the schema accepts it" if schema_ok else ""))


def with_existing_roots(policy, scratch):
    """The documents' example roots (/home/me/src/project) are not on this machine: whether a
    root exists is checked at run time, not by the schema, so for the run each one that is
    missing becomes a directory that exists."""
    roots = policy.get("filesystem", {}).get("writableRoots") if isinstance(policy, dict) else None
    if not isinstance(roots, list):
        return policy
    copy = json.loads(json.dumps(policy))
    copy["filesystem"]["writableRoots"] = [
        r if not isinstance(r, str) or os.path.isdir(r) else scratch for r in roots]
    return copy


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--schema", required=True)
    parser.add_argument("--cases", required=True)
    parser.add_argument("--doc", action="append", default=[])
    parser.add_argument("--fixture", action="append", default=[])
    parser.add_argument("--sandgate")
    args = parser.parse_args()

    with open(args.schema, encoding="utf-8") as f:
        schema = json.load(f)
    with open(args.cases, encoding="utf-8") as f:
        cases = json.load(f)
    checker = Checker(schema, args.sandgate)

    examples = doc_examples(args.doc)
    if not examples:
        print("no example policy found in " + ", ".join(args.doc), file=sys.stderr)
        return 1
    for where, policy in examples:
        # Documented examples must be valid as written, and sandgate must run them.
        checker.check(where, json.dumps(policy), True, True,
                      run_text=json.dumps(with_existing_roots(policy, checker.scratch.name)))

    fixtures = fixture_policies(args.fixture)
    if args.fixture and not fixtures:
        print("no policy found in the fixtures " + ", ".join(args.fixture), file=sys.stderr)
        return 1
    for where, text in fixtures:
        runnable = json.dumps(with_existing_roots(json.loads(text), checker.scratch.name))
        checker.check(where, text, None, run_text=runnable)

    for rule in cases["valid_rules"]:
        checker.check(f"valid rule {rule!r}", json.dumps({"network": {"allow": [rule]}}), True, True)
    for rule in cases["invalid_rules"]:
        checker.check(f"invalid rule {rule!r}", json.dumps({"network": {"allow": [rule]}}), False,
                      False)
    for case in cases["runtime_only_rules"]:
        checker.check(f"runtime-only rule {case['rule']!r} ({case['why']})",
                      json.dumps({"network": {"allow": [case["rule"]]}}), True, False)
    for kind, schema_ok, sandgate_ok in (("valid", True, True), ("invalid", False, False),
                                         ("runtime_only", True, False)):
        for case in cases[kind]:
            text = case["text"] if "text" in case else json.dumps(case["policy"])
            checker.check(f"{kind} case: {case['why']}", text, schema_ok, sandgate_ok)

    side = "schema and sandgate" if args.sandgate else "schema only"
    print(f"{checker.checked} policies checked ({side}); {len(examples)} examples from the "
          f"documents, {len(fixtures)} from the C++ tests")
    for failure in checker.failures:
        print("FAIL " + failure)
    return 1 if checker.failures else 0


if __name__ == "__main__":
    sys.exit(main())
