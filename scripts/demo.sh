#!/usr/bin/env bash
# Quick start: install what is missing, build, and run a real command in a sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh >/dev/null
workspace=$(mktemp -d)
mkdir -p "$workspace/.git"
echo "== a shell in the sandbox: cwd writable, .git protected, no network, no capabilities"
set +e
build/supervisor/sandgate run --network off -C "$workspace" -- /bin/sh -c '
  echo hello > notes.txt && echo "wrote notes.txt"
  echo evil > .git/config 2>/dev/null || echo "cannot write .git/config (protected)"
  touch /etc/evil 2>/dev/null || echo "cannot write /etc (read-only)"
  grep CapEff /proc/self/status
  curl -sS --max-time 3 https://deb.debian.org >/dev/null 2>&1 || echo "no network: curl failed"
  exit 3'
echo "sandgate exit status: $? (the command's own)"
rm -rf "$workspace"
