# Sourced by tests/golden/test_logits.sh and scripts/golden/gen_logits_golden.sh: the one recipe
# that turns a golden model name into a GGUF file, so the reference and the test always run the
# same bytes (each golden file records the sha256 of the model it was made from).
#
# Names are SHAPE.TYPE. Tiny shapes are synthesized in f32 and converted with `quantize --pure`
# (every matrix in TYPE, so each tensor type is tested alone); real shapes are synthesized in f16
# and converted to llama.cpp's mixes (f16, q8_0, q4_K_M), as users download them.
#
# Requires: BATON (the binary), MODELS_DIR (a scratch directory), BATON_FIXTURES.

GOLDEN_SEED=20261124

golden_prompts_file() { echo "$(dirname "${BASH_SOURCE[0]}")/logits/prompts.txt"; }

# golden_model NAME -> prints the path of the model file, building it (and its base) if needed.
golden_model() {
  local name=$1 shape=${1%.*} type=${1##*.} base out
  case "$shape" in
    tiny-*) base="$MODELS_DIR/$shape.base-f32.gguf"; [ -f "$base" ] ||
              "$BATON" synth --shape "$shape" "$base" --type f32 --seed $GOLDEN_SEED >&2 || return 1 ;;
    *)      base="$MODELS_DIR/$shape.base-f16.gguf"; [ -f "$base" ] ||
              "$BATON" synth --shape "$shape" "$base" --type f16 --seed $GOLDEN_SEED >&2 || return 1 ;;
  esac
  out="$MODELS_DIR/$name.gguf"
  if [ ! -f "$out" ]; then
    case "$shape:$type" in
      tiny-*:f32) cp "$base" "$out" ;;
      tiny-*)     "$BATON" quantize --pure "$base" "$out" "$type" >&2 2>/dev/null || return 1 ;;
      *:f16)      ln -s "$base" "$out" ;;
      *)          "$BATON" quantize "$base" "$out" "$type" >&2 2>/dev/null || return 1 ;;
    esac
  fi
  echo "$out"
}

# The golden set: every type on both tiny architectures, the three real shapes in the formats
# people run, and a tiny Llama-3-style model (rope_freqs, one KV head).
golden_names() {
  local t
  for t in f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_K q3_K q4_K q5_K q6_K; do
    echo "tiny-llama.$t"; echo "tiny-qwen2.$t"
  done
  echo tiny-llama3.f16; echo tiny-llama3.q4_K_M
  for s in smollm2-135m qwen2.5-0.5b llama-3.2-1b; do
    echo "$s.f16"; echo "$s.q8_0"; echo "$s.q4_K_M"
  done
}

# Tolerance on logits: 0.03 for float types, 0.10 for quantized ones (issue 2).
golden_tolerance() {
  case "${1##*.}" in f32|f16|bf16) echo 0.03 ;; *) echo 0.10 ;; esac
}
