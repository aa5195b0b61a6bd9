#!/usr/bin/env bash
# The whole test suite: install what is missing, build, run unit, integration, escape and
# (short) benchmark tests. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j2 --timeout 300
