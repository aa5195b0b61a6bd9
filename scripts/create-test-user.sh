#!/usr/bin/env bash
# Creates the unprivileged account the test matrix's user cells run sandgate as (idempotent).
# Run as root; the name can be changed with SANDGATE_TEST_USER.
set -euo pipefail
user=${SANDGATE_TEST_USER:-sandgate-test}
if ! id -u "$user" >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$user"
fi
