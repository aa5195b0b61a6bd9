#!/usr/bin/env python3
"""sandgate(1) against sandgate's own --help, so that neither can change without the other.

    man_page_test.py --sandgate BINARY --man docs/sandgate.1 [--render-only PAGE...]

Checks, per command:
  * every option `sandgate --help`, `sandgate run --help`, `sandgate debug --help`,
    `sandgate debug landlock --help` and `sandgate codex-linux-sandbox --help` lists is
    documented in the matching section of the man page, and every option the page documents
    there is in that --help (run and debug landlock take the same options);
  * the values an option's --help enumerates ({off,approve,on}) are the ones the page gives;
  * every subcommand is described under COMMANDS;
  * each page renders without a warning from man(1), and no rendered line is wider than 80.
The page documents an option with `.TP` and, on the next line, a tag naming it (`.BR \\-C ", "
\\-\\-cwd " \\fIDIR\\fP"`); option sections are OPTIONS, RUN OPTIONS and CODEX HELPER's
"Codex helper options".
"""

import argparse
import os
import re
import subprocess
import sys

failures = []


def fail(message):
    failures.append(message)
    print("FAIL: " + message)


def run_help(sandgate, *args):
    out = subprocess.run([sandgate, *args, "--help"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        fail(f"sandgate {' '.join(args)} --help exited with {out.returncode}: {out.stderr.strip()}")
    return out.stdout


def cli11_sections(text):
    """CLI11's help: {'Options': [(names, values), ...], 'Subcommands': [name, ...]}."""
    options, subcommands, section = [], [], None
    for line in text.splitlines():
        if re.match(r"^\S.*:$", line):
            section = line[:-1]
            continue
        if section == "Options":
            m = re.match(r"^  (-[^\s]+)(?:\s+(\S+))?", line)
            if m:
                names = m.group(1).split(",")
                values = None
                if m.group(2):
                    e = re.search(r"\{([^}]*)\}", m.group(2))
                    if e:
                        values = set(e.group(1).split(","))
                options.append((names, values))
        elif section == "Subcommands":
            m = re.match(r"^  (\S+)", line)
            if m:
                subcommands.append(m.group(1))
    return options, subcommands


def codex_help_options(text):
    """The hand-written usage of the Codex helper: indented `--name` lines, and the refused ones."""
    listed = set(re.findall(r"^  (--[a-z][a-z-]*)", text, re.M))
    refused_text = text.split("Refused", 1)[1].split("\n\n", 1)[0] if "Refused" in text else ""
    refused = set(re.findall(r"--[a-z][a-z-]*", refused_text))
    return listed, refused


def unroff(text):
    """Tag line or body text without roff: \\- to -, no font escapes, no macro name, no quotes."""
    text = re.sub(r"^\.[A-Z]{1,2}\s*", "", text)
    text = text.replace("\\-", "-").replace("\\(dq", '"').replace("\\(aq", "'")
    text = re.sub(r"\\f[BIRP]", "", text)
    text = text.replace("\\|", "").replace("\\e", "\\")
    return text.replace('"', " ")


OPTION_RE = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


def man_sections(path):
    """{section name: [(tag, body), ...]} for every .TP in the page, keyed by .SH and .SS."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    entries = {}
    sh = ss = None
    i = 0
    current = None
    while i < len(lines):
        line = lines[i]
        if line.startswith(".SH "):
            sh, ss, current = line[4:].strip().strip('"'), None, None
        elif line.startswith(".SS "):
            ss, current = line[4:].strip().strip('"'), None
        elif line.strip() == ".TP" and i + 1 < len(lines):
            current = [unroff(lines[i + 1]), ""]
            for key in {sh, f"{sh}/{ss}" if ss else sh}:
                entries.setdefault(key, []).append(current)
            i += 1
        elif current is not None and not line.startswith(".\\\""):
            current[1] += " " + unroff(line)
        i += 1
    return entries


def documented_options(entries):
    """{option: (tag, body)} for every option named in a tag of these entries."""
    found = {}
    for tag, body in entries:
        for name in OPTION_RE.findall(tag):
            found.setdefault(name, (tag, body))
    return found


def compare(what, help_options, man_options):
    help_names = {n for names, _ in help_options for n in names}
    for name in sorted(help_names - set(man_options)):
        fail(f"{what}: --help lists {name}, the man page does not document it there")
    for name in sorted(set(man_options) - help_names):
        fail(f"{what}: the man page documents {name}, --help does not list it")
    # Enumerated values: in the tag (`off|approve|on`) or, when the tag names a placeholder
    # (`LEVEL`), each value somewhere in the description.
    for names, values in help_options:
        if not values or names[-1] not in man_options:
            continue
        tag, body = man_options[names[-1]]
        in_tag = set()
        for alternatives in re.findall(r"[\w.=]+(?:\|[\w.=]+)+", tag):
            in_tag |= set(alternatives.split("|"))
        if in_tag:
            if in_tag != values:
                fail(f"{what}: {names[-1]} takes {sorted(values)}, the man page says {sorted(in_tag)}")
        else:
            for value in sorted(values):
                if not re.search(r"(?<![\w-])" + re.escape(value) + r"(?![\w-])", body):
                    fail(f"{what}: {names[-1]} value {value} is not in the man page's description")


def check_rendering(page):
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    out = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True,
                         env=env, timeout=60)
    if out.returncode != 0 or out.stderr.strip():
        fail(f"{page}: man --warnings: exit {out.returncode}: {out.stderr.strip()}")
    plain = re.sub(r".\x08", "", out.stdout)  # without a terminal man may still overstrike
    for number, line in enumerate(plain.splitlines(), 1):
        if len(line) > 80:
            fail(f"{page}: rendered line {number} is {len(line)} columns wide: {line.strip()}")
    if "sandgate" not in plain:
        fail(f"{page}: rendered to nothing recognisable")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sandgate", required=True)
    parser.add_argument("--man", required=True)
    parser.add_argument("--render-only", nargs="*", default=[])
    args = parser.parse_args()

    for page in [args.man, *args.render_only]:
        check_rendering(page)

    entries = man_sections(args.man)
    with open(args.man, encoding="utf-8") as f:
        headings = {line[4:].strip().strip('"') for line in f if line.startswith((".SH ", ".SS "))}
    for needed in ["SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "RUN OPTIONS", "RULES",
                   "POLICY FILE", "PROTOCOL", "EXIT STATUS", "FILES", "EXAMPLES"]:
        if needed not in headings:
            fail(f"the man page has no section {needed}")

    top_options, top_subcommands = cli11_sections(run_help(args.sandgate))
    compare("sandgate", top_options, documented_options(entries.get("OPTIONS", [])))

    run_options, _ = cli11_sections(run_help(args.sandgate, "run"))
    man_run = documented_options(entries.get("RUN OPTIONS", []))
    compare("sandgate run", run_options, man_run)
    landlock_options, _ = cli11_sections(run_help(args.sandgate, "debug", "landlock"))
    compare("sandgate debug landlock", landlock_options, man_run)

    debug_options, debug_subcommands = cli11_sections(run_help(args.sandgate, "debug"))
    # debug's only option is --help, which OPTIONS documents for every command.
    compare("sandgate debug", debug_options,
            {k: v for k, v in documented_options(entries.get("OPTIONS", [])).items()
             if k in ("-h", "--help")})

    commands = {unroff(tag).strip() for tag, _ in entries.get("COMMANDS", [])}
    for sub in top_subcommands:
        if sub not in commands:
            fail(f"subcommand {sub} is not described under COMMANDS")
    for sub in debug_subcommands:
        if f"debug {sub}" not in commands:
            fail(f"subcommand debug {sub} is not described under COMMANDS")
    for command in commands:
        first = command.split()[0]
        if first not in top_subcommands and first != "codex-linux-sandbox":
            fail(f"COMMANDS describes {command}, which sandgate --help does not list")

    codex_text = run_help(args.sandgate, "codex-linux-sandbox")
    listed, refused = codex_help_options(codex_text)
    man_codex = documented_options(entries.get("CODEX HELPER/Codex helper options", []))
    # --help itself is not in the helper's usage text, but it is what printed it.
    compare("sandgate codex-linux-sandbox", [([n], None) for n in sorted(listed | {"-h", "--help"})],
            man_codex)
    with open(args.man, encoding="utf-8") as f:
        page_text = unroff(f.read())
    for name in sorted(refused):
        if name not in page_text:
            fail(f"codex-linux-sandbox refuses {name}; the man page does not say so")

    # Exit statuses SPEC names.
    exit_tags = {unroff(tag).replace(" ", "") for tag, _ in entries.get("EXIT STATUS", [])}
    for status in ["125", "126", "127", "128+N"]:
        if status not in exit_tags:
            fail(f"EXIT STATUS does not describe {status}")

    if failures:
        print(f"{len(failures)} problem(s)")
        return 1
    print("man page and --help agree; the pages render without warnings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
