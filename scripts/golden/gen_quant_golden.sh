#!/usr/bin/env bash
# Regenerates the quantization golden files in tests/golden/quant/ from the reference, llama.cpp.
#
# Usage: scripts/golden/gen_quant_golden.sh [BUILD_DIR]
#   LLAMA_REF   the reference checkout and build (default: $HOME/llama-ref). If it is missing, build
#               it first with ../shared/reference/build.sh (i.e. /work/shared/reference/build.sh).
#   BUILD_DIR   a configured baton build directory (default: build); the script builds
#               test_quantize there, whose --write-models mode writes the synthetic f32 models.
#
# It writes:
#   tests/golden/quant/ggml_quant.bin   ggml's bytes, dequantized values, RMSE and vec_dot results
#                                       for fixed pseudo-random rows (layout in
#                                       tests/unit/quant_golden.h), made by quant_harness.c, our
#                                       own small program linked against the reference's libggml
#   tests/golden/quant/llama_quantize_types.tsv
#                                       model, target, tensor, type: what llama-quantize picks for
#                                       every tensor of the synthetic models at every target
#                                       (tests/unit/test_quantize.c checks baton picks the same)
# Nothing of llama.cpp is committed; only these outputs and our harness.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
LLAMA_REF=${LLAMA_REF:-$HOME/llama-ref}
BUILD_DIR=${1:-build}
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

# 2. llama-quantize's per-tensor types for the synthetic models of test_quantize.c
[ -f "$BUILD_DIR/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$BUILD_DIR" >/dev/null
cmake --build "$BUILD_DIR" --target test_quantize -j2 >/dev/null
TARGETS="F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K"
TSV="$OUT/llama_quantize_types.tsv"
{
  echo "# model	target	tensor	type  (llama-quantize, scripts/golden/gen_quant_golden.sh)"
  for model in $("$BUILD_DIR/test_quantize" --write-models "$WORK"); do
    for target in $TARGETS; do
      "$BIN/llama-quantize" "$WORK/$model.gguf" "$WORK/out.gguf" "$target" 1 >"$WORK/log" 2>&1 ||
        { cat "$WORK/log" >&2; exit 1; }
      "$WORK/quant_harness" types "$WORK/out.gguf" | sort | sed "s/^/$model	$target	/"
    done
  done
} >"$TSV"
echo "wrote $TSV ($(($(wc -l <"$TSV") - 1)) tensor types)"
