#!/usr/bin/env python3
"""examples/allow_github.py [sandgate options] -- COMMAND: github.com and *.github.com only."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
import sandgate

def decide(request: sandgate.ApprovalRequest) -> sandgate.Decision:
    host = request.destination.host or ""  # the name the sandbox resolved; None for a bare IP
    if host == "github.com" or host.endswith(".github.com"):
        return sandgate.Decision.accept()
    return sandgate.Decision.decline()

if __name__ == "__main__":
    options, command = sandgate.split_args(sys.argv[1:])
    sys.exit(sandgate.run(command, decide, options=options))
