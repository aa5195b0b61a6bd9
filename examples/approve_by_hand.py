#!/usr/bin/env python3
"""Approve a sandboxed command's network connections by hand.

    examples/approve_by_hand.py [sandgate options] -- COMMAND [ARG...]

Runs `sandgate run --approvals fd:N ...` with the protocol on a socketpair (the library's "fd"
transport), so the command keeps this terminal for its own input and output, and asks you about
every connection on /dev/tty:
  y = accept once, s = accept for the session, n = decline, d = decline for the session,
  c = cancel (end the sandbox).
Set SANDGATE to the binary (default: build/supervisor/sandgate next to this checkout, else PATH).
"""
import os
import sys

# In a checkout the library sits in clients/python; installed, `import sandgate` finds it.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
import sandgate  # noqa: E402

ANSWERS = {"y": sandgate.Decision.accept(), "s": sandgate.Decision.accept_for_session(),
           "n": sandgate.Decision.decline(), "d": sandgate.Decision.decline_for_session(),
           "c": sandgate.Decision.cancel()}


def describe(request: sandgate.ApprovalRequest) -> str:
    dest, proc = request.destination, request.process
    if request.reason == "dns_query":
        # --dns-strict: a name no rule mentions, asked about before it is resolved.
        return f"the sandbox wants to resolve {dest.host}"
    argv = " ".join(proc.argv)[:120]
    return f"{proc.exe} (pid {proc.pid}: {argv}) wants {dest.describe()}"


def decide(request: sandgate.ApprovalRequest) -> sandgate.Decision:
    question = (f"\n[sandgate] {describe(request)}\n"
                "  allow? [y]es [s]ession [n]o [d]eny-session [c]ancel: ")
    # The terminal itself, not our stdin: the command may be reading that.
    with open("/dev/tty") as tty:
        while True:
            sys.stderr.write(question)
            sys.stderr.flush()
            line = tty.readline()
            if not line:  # the terminal is gone: nobody can say yes
                return sandgate.Decision.decline()
            answer = line.strip().lower()[:1]
            if answer in ANSWERS:
                return ANSWERS[answer]


def report(message) -> None:
    if isinstance(message, sandgate.NetworkDecision):
        dest = message.destination
        where = dest.host or dest.address or dest.path
        sys.stderr.write(f"[sandgate] {message.decision} {where}:{dest.port} ({message.source})\n")
    elif isinstance(message, sandgate.ApprovalCancelled):
        sys.stderr.write(f"[sandgate] request {message.approval_id} withdrawn: {message.reason}\n")


def main() -> int:
    options, command = sandgate.split_args(sys.argv[1:])
    return sandgate.run(command, decide, options=options, on_notification=report)


if __name__ == "__main__":
    sys.exit(main())
