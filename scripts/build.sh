#!/usr/bin/env bash
# Configures and builds sandgate, its tests and benchmarks into ./build (warnings are errors).
# Tests and benchmarks are turned on explicitly: scripts/demo.sh configures the same directory
# without them.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSANDGATE_WERROR=ON \
  -DSANDGATE_BUILD_TESTS=ON -DSANDGATE_BUILD_BENCH=ON "$@"
cmake --build build -j"$(nproc)"
