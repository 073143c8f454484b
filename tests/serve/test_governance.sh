#!/usr/bin/env bash
# Runs the governance scenarios (tests/serve/governance.test.mjs): keys, budgets, rate limits,
# privacy policies and the audit trail, against real `baton serve` processes.
set -euo pipefail
export BATON=$1
HERE=$(cd "$(dirname "$0")" && pwd)
exec node "$HERE/governance.test.mjs"
