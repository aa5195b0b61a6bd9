#!/usr/bin/env bash
# The whole test suite: install what is missing, build, run unit, integration, escape and
# (short) benchmark tests. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/create-test-user.sh  # the user cells of the test matrix run sandgate as this account
scripts/build.sh
ctest --test-dir build --output-on-failure -j2 --timeout 300
