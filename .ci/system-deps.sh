#!/usr/bin/env bash
# System prerequisites of the test suite (later issues add to this list: lavapipe, Chromium...).
# Idempotent; runs as root in CI. Writes variables the suite needs to .ci/env (git-ignored).
set -euo pipefail
: > .ci/env
if ! command -v node >/dev/null; then echo "node is missing"; exit 1; fi
