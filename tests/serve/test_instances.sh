#!/usr/bin/env bash
# Runs the several-instances scenarios (tests/serve/instances.test.mjs): two baton processes
# sharing limits through a real redis-server.
set -euo pipefail
export BATON=$1
HERE=$(cd "$(dirname "$0")" && pwd)
command -v redis-server >/dev/null || { echo "redis-server missing: run scripts/deps.sh" >&2; exit 1; }
exec node "$HERE/instances.test.mjs"
