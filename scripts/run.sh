#!/usr/bin/env bash
# Builds baton and runs its main job: `baton serve` with the bundled hybrid stack
# (examples/baton.yaml: two local tiers of real tiny models, stories260K as `small` and
# llama2xs-tinystories-5L as `large`, behind the route `auto`). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
export BATON_FIXTURES=${BATON_FIXTURES:-$(pwd)/../shared}
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
PORT=${PORT:-8080}
cat <<MSG
baton: starting the bundled stack on http://127.0.0.1:$PORT/v1 (config: examples/baton.yaml)

  curl http://127.0.0.1:$PORT/v1/chat/completions -H 'content-type: application/json' \\
       -d '{"model": "auto", "messages": [{"role": "user", "content": "Once upon a time"}]}'

  Any OpenAI client works: base URL http://127.0.0.1:$PORT/v1, any API key, model "auto"
  (routed), "small" or "large" (a tier directly). Responses carry x-baton-tier,
  x-baton-route-reason and x-baton-cost-usd. Also: GET /v1/models, /health, /metrics;
  ./build/baton route --config examples/baton.yaml --explain -p "..." shows a decision;
  ./build/baton cost --config examples/baton.yaml reports costs and savings.
MSG
exec ./build/baton serve --config examples/baton.yaml --port "$PORT" "$@"
