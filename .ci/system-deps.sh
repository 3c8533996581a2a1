#!/usr/bin/env bash
# System prerequisites of the test suite. Each backend or feature that needs system packages adds
# its own idempotent script under .ci/deps/ (run in name order); they may append `export` lines
# to .ci/env, which .ci/run sources before the tests. Runs as root in CI.
set -euo pipefail
: > .ci/env
if ! command -v node >/dev/null; then echo "node is missing"; exit 1; fi
for s in .ci/deps/*.sh; do
  [ -e "$s" ] || continue
  echo "+ $s"
  bash "$s"
done
