#!/usr/bin/env bash
# Regenerates tests/golden/greedy/*.txt: llama.cpp's greedy 200-token continuation from BOS for
# each real model in ../shared/models (llref from ../shared/reference/build.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LLAMA_REF=${LLAMA_REF:-$HOME/llama-ref}
[ -x "$LLAMA_REF/llref" ] || { echo "no $LLAMA_REF/llref: run ../shared/reference/build.sh first" >&2; exit 1; }
FIX=${BATON_FIXTURES:-$ROOT/../shared}
for m in "$FIX"/models/*.gguf; do
  name=$(basename "$m" .gguf)
  "$LLAMA_REF/llref" "$m" "" 200 1 | sed -n '/^TEXT /,$p' | sed '1s/^TEXT //' \
    > "$ROOT/tests/golden/greedy/$name.txt"
  echo "wrote tests/golden/greedy/$name.txt" >&2
done
