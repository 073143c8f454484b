#!/usr/bin/env bash
# Runs the constrained-output and tool-call scenarios with the real npm openai client
# (tests/serve/constrained.test.mjs).
set -euo pipefail
export BATON=$1
HERE=$(cd "$(dirname "$0")" && pwd)
exec node "$HERE/constrained.test.mjs"
