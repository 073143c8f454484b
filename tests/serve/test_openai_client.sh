#!/usr/bin/env bash
# Runs the serve scenarios with the real npm openai client (tests/serve/openai_client.test.mjs).
set -euo pipefail
export BATON=$1
HERE=$(cd "$(dirname "$0")" && pwd)
exec node "$HERE/openai_client.test.mjs"
