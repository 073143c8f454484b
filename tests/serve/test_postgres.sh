#!/usr/bin/env bash
# Runs the PostgreSQL scenarios (tests/serve/postgres.test.mjs): two baton processes with the
# ledger and audit trail in a real PostgreSQL and limits in a real redis-server.
set -euo pipefail
export BATON=$1
HERE=$(cd "$(dirname "$0")" && pwd)
command -v redis-server >/dev/null || { echo "redis-server missing: run scripts/deps.sh" >&2; exit 1; }
command -v psql >/dev/null && { command -v pg_config >/dev/null || ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; } ||
  { echo "PostgreSQL missing: run scripts/deps.sh" >&2; exit 1; }
exec node "$HERE/postgres.test.mjs"
