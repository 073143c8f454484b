#!/usr/bin/env bash
# Cost of constrained sampling per token, against unconstrained sampling on the same model.
#
#   bench/constrained.sh [-n TOKENS] [-r ROUNDS] [-t THREADS] [-s "SAMPLER ARGS"]
#
# -s adds sampler options to every run: baton run's defaults are llama.cpp's (top-k 40, top-p
# 0.95, min-p 0.05); -s "--top-k 0 --top-p 1 --min-p 0" is what the local tier of `baton serve`
# samples with by default (OpenAI's: temperature 1, top_p 1, nothing else).
#
# For each model, `baton run` generates TOKENS tokens (temperature 1, fixed seed) three ways:
#   free    no constraint;
#   any     a grammar that allows any text (root ::= [^\x00]*): every sampled token is checked
#           and accepted, so this is the common path (one grammar check per token, no mask);
#   schema  a JSON schema: random weights propose tokens the grammar refuses nearly every time,
#           so this is the worst case, a full-vocabulary mask at almost every token.
# baton run's log lines give the time spent in the sampler plus the grammar per token (the
# overhead is that time minus the free run's, noisy on a shared machine), and the grammar's own
# costs timed around its hooks: one check of the sampled token, one full-vocabulary mask. Models: stories260K (512-token vocabulary), and
# from $BENCH_MODELS (default /tmp/baton-bench-models, as bench/compare_llama.sh makes them;
# synthesized here if absent) SmolLM2-135M Q8_0 (49,152 tokens) and a tiny-shape Qwen2 with the
# Qwen2.5 vocabulary (151,936 tokens; its forward pass is trivial, the vocabulary is what
# matters here). Medians over ROUNDS rounds.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=128 ROUNDS=3 THREADS=2 SAMPLER=""
while getopts "n:r:t:s:" o; do
  case $o in n) N=$OPTARG ;; r) ROUNDS=$OPTARG ;; t) THREADS=$OPTARG ;; s) SAMPLER=$OPTARG ;; *) exit 2 ;; esac
done
BATON=${BATON:-$ROOT/build/baton}
FIX=${BATON_FIXTURES:-$ROOT/../shared}
MODELS=${BENCH_MODELS:-/tmp/baton-bench-models}
mkdir -p "$MODELS"
export BATON_FIXTURES=$FIX
if [ ! -f "$MODELS/smollm2-135m.q8_0.gguf" ]; then
  [ -f "$MODELS/smollm2-135m.base-f16.gguf" ] ||
    "$BATON" synth --shape smollm2-135m --type f16 -t "$THREADS" "$MODELS/smollm2-135m.base-f16.gguf"
  "$BATON" quantize "$MODELS/smollm2-135m.base-f16.gguf" "$MODELS/smollm2-135m.q8_0.gguf" Q8_0 >/dev/null
fi
[ -f "$MODELS/tiny-qwen2.f32.gguf" ] ||
  "$BATON" synth --shape tiny-qwen2 -t "$THREADS" "$MODELS/tiny-qwen2.f32.gguf"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
printf 'root ::= [^\\x00]*\n' >"$WORK/any.gbnf"
cat >"$WORK/schema.json" <<'S'
{"type": "object", "properties": {"name": {"type": "string", "maxLength": 40},
 "age": {"type": "integer", "minimum": 0, "maximum": 150},
 "tags": {"type": "array", "items": {"type": "string"}}, "ok": {"type": "boolean"}},
 "required": ["name", "age", "tags", "ok"], "additionalProperties": false}
S

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# run MODEL MODE -> "sample_us tg_tps masked generated check_us mask_us"
run() {
  local args=()
  case $2 in any) args=(--grammar "$WORK/any.gbnf") ;; schema) args=(--json-schema "$WORK/schema.json") ;; esac
  # shellcheck disable=SC2086
  BATON_LOG=info "$BATON" run -m "$1" -p "Once upon a time" -n "$N" --temp 1 --seed 7 -t "$THREADS" \
    $SAMPLER "${args[@]}" 2>"$WORK/err" >/dev/null
  local s tg m g
  s=$(sed -n 's/.*sampling: \([0-9.]*\) us\/token.*/\1/p' "$WORK/err")
  tg=$(sed -n 's/.*generated [0-9]* tokens in [0-9.]* s (\([0-9.]*\) tok\/s).*/\1/p' "$WORK/err")
  m=$(sed -n 's/.* \([0-9]*\) of \([0-9]*\) draws needed.*/\1/p' "$WORK/err")
  g=$(sed -n 's/.* \([0-9]*\) of \([0-9]*\) draws needed.*/\2/p' "$WORK/err")
  c=$(sed -n 's/.*grammar: \([0-9.]*\) us per check.*/\1/p' "$WORK/err")
  k=$(sed -n 's/.*check of the sampled token ([0-9]*), \([0-9.]*\) us per vocabulary mask.*/\1/p' "$WORK/err")
  echo "$s $tg $m $g ${c:-0} ${k:-0}"
}

printf "%-20s %-7s %7s %13s %12s %8s %9s %9s %9s\n" model mode vocab "sample us/tok" "overhead us" \
  "masked" "check us" "mask us" "tg tok/s"
for model in "$FIX/models/stories260K.gguf" "$MODELS/smollm2-135m.q8_0.gguf" "$MODELS/tiny-qwen2.f32.gguf"; do
  vocab=$("$BATON" info "$model" 2>/dev/null | sed -n 's/.*tokenizer.ggml.tokens: \[string x \([0-9]*\)\].*/\1/p' | head -1)
  declare -A S=() T=() M=() C=() K=()
  for r in $(seq "$ROUNDS"); do
    for mode in free any schema; do
      read -r s tg m g c k < <(run "$model" $mode)
      S[$mode]+="$s "; T[$mode]+="$tg "; M[$mode]="$m/$g"; C[$mode]+="$c "; K[$mode]+="$k "
    done
  done
  free_s=$(echo ${S[free]} | tr ' ' '\n' | median)
  for mode in free any schema; do
    s=$(echo ${S[$mode]} | tr ' ' '\n' | median)
    tg=$(echo ${T[$mode]} | tr ' ' '\n' | median)
    c=$(echo ${C[$mode]} | tr ' ' '\n' | median)
    k=$(echo ${K[$mode]} | tr ' ' '\n' | median)
    printf "%-20s %-7s %7s %13.2f %12.2f %8s %9.2f %9.1f %9.1f\n" "$(basename "$model" .gguf)" $mode \
      "${vocab:-?}" "$s" "$(echo "$s - $free_s" | bc -l)" "${M[$mode]}" "$c" "$k" "$tg"
  done
  unset S T M C K
done
