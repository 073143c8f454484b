#!/usr/bin/env bash
# Regenerates the quantization golden files in tests/golden/quant/ from the reference, llama.cpp.
#
# Usage: scripts/golden/gen_quant_golden.sh
#   LLAMA_REF   the reference checkout and build (default: $HOME/llama-ref). If it is missing, build
#               it first with ../shared/reference/build.sh (i.e. /work/shared/reference/build.sh).
#
# It writes:
#   tests/golden/quant/ggml_quant.bin   ggml's bytes, dequantized values, RMSE and vec_dot results
#                                       for fixed pseudo-random rows (layout in
#                                       tests/unit/quant_golden.h), made by quant_harness.c, our
#                                       own small program linked against the reference's libggml
# Nothing of llama.cpp is committed; only these outputs and our harness.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
LLAMA_REF=${LLAMA_REF:-$HOME/llama-ref}
BIN="$LLAMA_REF/src/build/bin"
if [ ! -x "$BIN/llama-quantize" ] || [ ! -f "$BIN/libggml-base.so" ]; then
  echo "gen_quant_golden: no reference build at $LLAMA_REF; run ../shared/reference/build.sh first" >&2
  exit 1
fi
OUT="$ROOT/tests/golden/quant"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"

# 1. block-level golden file
gcc -O2 -std=gnu11 -ffp-contract=off -I "$LLAMA_REF/src/ggml/include" -I "$ROOT/tests/unit" \
    "$ROOT/scripts/golden/quant_harness.c" -L "$BIN" -lggml-cpu -lggml-base -lm \
    -Wl,-rpath,"$BIN" -o "$WORK/quant_harness"
"$WORK/quant_harness" golden "$OUT/ggml_quant.bin"
echo "wrote $OUT/ggml_quant.bin ($(stat -c %s "$OUT/ggml_quant.bin") bytes)"
