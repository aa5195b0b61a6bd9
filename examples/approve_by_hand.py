#!/usr/bin/env python3
"""Approve a sandboxed command's network connections by hand.

    examples/approve_by_hand.py [sandgate options] -- COMMAND [ARG...]

Runs `sandgate run --approvals fd:3 ...` with the protocol on a socketpair at fd 3, so the
command keeps this terminal for its own input and output, and asks you about every connection:
  y = accept once, s = accept for the session, n = decline, d = decline for the session,
  c = cancel (end the sandbox).
Set SANDGATE to the binary (default: build/supervisor/sandgate next to this checkout).
"""
import json
import os
import socket
import subprocess
import sys

ANSWERS = {"y": "accept", "s": "acceptForSession", "n": "decline",
           "d": "declineForSession", "c": "cancel"}


def describe(params):
    dest = params["destination"]
    proc = params["process"]
    if params.get("reason") == "dns_query":
        # --dns-strict: a name no rule mentions, asked about before it is resolved.
        return f"the sandbox wants to resolve {dest.get('host')}"
    # The host name comes from the sandbox's own DNS answers; the address is what it connects to.
    if dest.get("host") and dest.get("address"):
        where = f"{dest['host']} [{dest['address']}]"
    else:
        where = dest.get("host") or dest.get("address") or dest.get("path")
    port = f":{dest['port']}" if dest.get("port") else ""
    argv = " ".join(proc.get("argv", []))[:120]
    return f"{proc.get('exe')} (pid {proc['pid']}: {argv}) wants {dest['protocol']} {where}{port}"


def ask(question):
    with open("/dev/tty") as tty:
        while True:
            sys.stderr.write(question)
            sys.stderr.flush()
            answer = tty.readline().strip().lower()[:1]
            if answer in ANSWERS:
                return ANSWERS[answer]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    sandgate = os.environ.get("SANDGATE", os.path.join(here, "..", "build", "supervisor", "sandgate"))
    ours, theirs = socket.socketpair()
    os.set_inheritable(theirs.fileno(), True)
    child = subprocess.Popen(
        [sandgate, "run", "--approvals", f"fd:{theirs.fileno()}", *sys.argv[1:]],
        pass_fds=(theirs.fileno(),))
    theirs.close()
    stream = ours.makefile("rwb", buffering=0)
    for line in stream:
        message = json.loads(line)
        method = message.get("method")
        params = message.get("params", {})
        if method == "network/requestApproval":
            decision = ask(f"\n[sandgate] {describe(params)}\n  allow? [y]es [s]ession [n]o [d]eny-session [c]ancel: ")
            reply = {"jsonrpc": "2.0", "id": message["id"], "result": {"decision": decision}}
            stream.write((json.dumps(reply) + "\n").encode())
        elif method == "network/decision":
            dest = params["destination"]
            where = dest.get("host") or dest.get("address") or dest.get("path")
            sys.stderr.write(f"[sandgate] {params['decision']} {where}:{dest.get('port')} ({params['source']})\n")
        elif method == "network/approvalCancelled":
            sys.stderr.write(f"[sandgate] request {params['approvalId']} withdrawn: {params['reason']}\n")
    sys.exit(child.wait())


if __name__ == "__main__":
    main()
