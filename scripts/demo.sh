#!/usr/bin/env bash
# Quick start: install what is missing, build, and run real commands in sandboxes.
set -euo pipefail
cd "$(dirname "$0")/.."
# sandgate runs as an ordinary account, as coding agents do: started as root, the demo installs
# what is missing and then runs every sandbox as the unprivileged test account; started as an
# ordinary user, it runs them as that user (the packages must be installed already).
as_user=()
if [[ $(id -u) -eq 0 ]]; then
  scripts/install-deps.sh demo  # only what the demo builds and runs; the suite's peers come later
  scripts/create-test-user.sh
  user=${SANDGATE_TEST_USER:-sandgate-test}
  as_user=(setpriv --reuid="$(id -u "$user")" --regid="$(id -g "$user")" --init-groups
           --inh-caps=-all --bounding-set=-all --)
fi
# Only the two binaries the demo runs, not the test suite (a first run in minutes, not ten);
# scripts/build.sh turns tests and benchmarks back on in the same build directory.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSANDGATE_WERROR=ON \
  -DSANDGATE_BUILD_TESTS=OFF -DSANDGATE_BUILD_BENCH=OFF >/dev/null
cmake --build build -j"$(nproc)" --target sandgate sandgate-inner >/dev/null
workspace=$(mktemp -d)
mkdir -p "$workspace/.git" "$workspace/bin"
# sandgate and its inner stage, side by side as installed.
install -m 755 build/supervisor/sandgate build/supervisor/sandgate-inner "$workspace/bin/"
chmod 755 "$workspace"
[[ ${#as_user[@]} -gt 0 ]] && chown -R "$user:" "$workspace"
# From inside the workspace: the checkout (e.g. under /root) may be out of the account's reach,
# and sandgate's default cwd is its own.
sandgate() { (cd "$workspace" && "${as_user[@]}" "$workspace/bin/sandgate" "$@"); }
echo "(sandboxes run as: $("${as_user[@]}" id -un))"
trap 'rm -rf "$workspace"; for p in ${server:-} ${resolver:-}; do kill "$p" 2>/dev/null; done; true' EXIT

echo "== 1. a shell in the sandbox: cwd writable, .git protected, no network, no capabilities"
set +e
sandgate run --network off -C "$workspace" -- /bin/sh -c '
  echo hello > notes.txt && echo "wrote notes.txt"
  { echo evil > .git/config; } 2>/dev/null || echo "cannot write .git/config (protected)"
  touch /etc/evil 2>/dev/null || echo "cannot write /etc (read-only)"
  grep CapEff /proc/self/status
  exit 3'
echo "sandgate exit status: $? (the command's own)"

echo "== 2. mediated network: every connect is held until a rule or a controller decides"
port=18765
if command -v python3 >/dev/null; then
  python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1 &
  server=$!
  sleep 1
fi
sandgate run --audit-log "$workspace/audit.jsonl" --allow "127.0.0.1:$port" -- \
  curl -sS -o /dev/null -w "allowed by rule: HTTP %{http_code}\n" "http://127.0.0.1:$port/"
sandgate run --approvals auto-deny --audit-log "$workspace/audit.jsonl" -- \
  curl -sS --max-time 5 -o /dev/null "http://127.0.0.1:$port/" 2>&1 | sed 's/^/no rule, nobody to ask: /'
echo "audit log (one line per mediated attempt):"
grep -v '"unix"' "$workspace/audit.jsonl"
echo "== 3. the JSON-RPC protocol: a controller on stdin/stdout (here: it never answers, then hangs up)"
(sleep 2) | sandgate run --approvals stdio -- curl -sS "http://127.0.0.1:$port/" | head -c 2000
echo

echo "== 4. host names: the sandbox's DNS goes through sandgate, and rules speak in names"
# A local resolver stands in for the real one: it knows demo.test and blocked.test.
dnsmasq --keep-in-foreground --port=18753 --listen-address=127.0.0.1 --bind-interfaces \
  --no-resolv --no-hosts --address=/demo.test/127.0.0.1 --address=/blocked.test/127.0.0.1 \
  --pid-file= 2>/dev/null &
resolver=$!
sleep 0.5
sandgate run --dns-upstream 127.0.0.1:18753 --allow demo.test --deny blocked.test \
  --audit-log "$workspace/names.jsonl" -- sh -c "
  curl -sS -o /dev/null -w 'demo.test allowed by name: HTTP %{http_code}\n' http://demo.test:$port/
  getent hosts blocked.test || echo 'blocked.test does not even resolve (REFUSED by sandgate)'"
echo "audit log:"
grep -v '"unix"' "$workspace/names.jsonl"

echo "== 5. where bubblewrap cannot run: the legacy pipeline (Landlock + sandgate's own namespaces)"
sandgate debug | grep -E '^(landlock abi|user namespaces|pipeline)'
sandgate run --pipeline legacy --network off -C "$workspace" -- /bin/sh -c '
  echo again > notes.txt && echo "wrote notes.txt"
  { echo evil > .git/config; } 2>/dev/null || echo "cannot write .git/config (protected)"
  touch /etc/evil 2>/dev/null || echo "cannot write /etc (Landlock)"'
sandgate run --pipeline legacy --allow "127.0.0.1:$port" -- \
  curl -sS -o /dev/null -w "curl allowed by a rule, legacy pipeline: HTTP %{http_code}\n" "http://127.0.0.1:$port/"
