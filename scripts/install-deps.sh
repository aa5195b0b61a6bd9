#!/usr/bin/env bash
# Installs the Debian 12 packages sandgate needs. Idempotent.
#   scripts/install-deps.sh        everything: build, run, and the whole test suite's peers
#   scripts/install-deps.sh demo   only what scripts/demo.sh builds and runs (a faster first run)
set -euo pipefail

# Building sandgate and running its demo: compiler, libraries, bubblewrap, and the demo's peers
# (curl, python3's http.server, dnsmasq as a local resolver).
demo_packages=(
  build-essential cmake pkg-config
  libuv1-dev libseccomp-dev nlohmann-json3-dev libspdlog-dev libcli11-dev
  bubblewrap util-linux curl python3 dnsmasq-base
)
test_packages=(
  libgtest-dev libgmock-dev libbenchmark-dev
  # The whole-workload benchmark clones over git:// from a git daemon.
  git
  # Real peers the integration tests start themselves; the executable-only packages, so that no
  # system dnsmasq (port 53) or tinyproxy (8888) service is installed and started.
  tinyproxy-bin microsocks
  # Fuzz targets (libFuzzer comes with clang's runtime package) and a forging script in the
  # DNS escape tests.
  clang libclang-rt-14-dev
  # A real Go program in the signal tests (the runtime preempts threads with signals).
  golang-go
  # Packaging and docs (issue 15): the .deb is built with cpack, its dependencies found by
  # dpkg-shlibdeps and checked by lintian; the man page is rendered by man/groff; policy files
  # and protocol messages are validated with jsonschema; the completion script uses
  # bash-completion's helpers.
  dpkg-dev lintian man-db groff-base python3-jsonschema bash-completion fakeroot
)
case "${1:-all}" in
  demo) packages=("${demo_packages[@]}") ;;
  all) packages=("${demo_packages[@]}" "${test_packages[@]}") ;;
  *) echo "install-deps.sh: unknown set '$1' (demo or all)" >&2; exit 2 ;;
esac

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps.sh: run as root (apt-get install needs it)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  # A fresh machine may have no package lists yet.
  apt-get install -y "${missing[@]}" || { apt-get update && apt-get install -y "${missing[@]}"; }
fi
