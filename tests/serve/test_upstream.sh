#!/usr/bin/env bash
# Runs the remote-tier scenarios (tests/serve/upstream.test.mjs) with the real npm openai client.
set -euo pipefail
export BATON=$1
HERE=$(cd "$(dirname "$0")" && pwd)
exec node "$HERE/upstream.test.mjs"
