#!/usr/bin/env bash
# Runs the serve scenarios with the real npm @anthropic-ai/sdk client (tests/serve/anthropic_client.test.mjs).
set -euo pipefail
export BATON=$1
HERE=$(cd "$(dirname "$0")" && pwd)
exec node "$HERE/anthropic_client.test.mjs"
