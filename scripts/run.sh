#!/usr/bin/env bash
# Builds baton and runs its main job. Until `baton serve` lands, the main job is the local engine:
# the bundled tiny model (../shared/models/stories260K.gguf) generating a story.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
export BATON_FIXTURES=${BATON_FIXTURES:-$(pwd)/../shared}
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
exec ./build/baton run -m "$BATON_FIXTURES/models/stories260K.gguf" -p "Once upon a time" -n 200 "$@"
