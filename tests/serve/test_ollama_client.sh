#!/usr/bin/env bash
# Runs the serve scenarios with the real npm ollama client (tests/serve/ollama_client.test.mjs).
set -euo pipefail
export BATON=$1
HERE=$(cd "$(dirname "$0")" && pwd)
exec node "$HERE/ollama_client.test.mjs"
