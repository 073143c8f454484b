#!/usr/bin/env bash
# Side-by-side speed of baton and llama.cpp on the same GGUF files, same machine, same threads,
# measured alternately in one run (these machines are noisy), printing the ratios.
#
#   bench/compare_llama.sh [-t THREADS] [-r ROUNDS] [-p 512] [-n 128] [MODEL_NAME ...]
#
# Models (default: the five rows of the performance issue) are synthesized by baton from
# ../shared vocabularies and converted with baton quantize into $BENCH_MODELS (default
# /tmp/baton-bench-models): smollm2-135m.q8_0, smollm2-135m.q4_K_M, qwen2.5-0.5b.q8_0,
# qwen2.5-0.5b.q4_K_M, llama-3.2-1b.q4_K_M. llama.cpp is llama-bench from LLAMA_REF (default
# ~/llama-ref, built by ../shared/reference/build.sh). Each round runs llama-bench then baton
# bench (-r 1 each); the table reports medians over the rounds and baton / llama.cpp ratios,
# each process's peak resident memory (GNU time's maximum RSS, the largest over the rounds), and
# the machine's read bandwidth with THREADS threads measured between the rounds (bench/membw.c,
# median pass): decoding reads every weight once per token, so this is the ceiling generation
# speed works against, and on this shared VM it moves by 2x between hours.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
THREADS=2 ROUNDS=3 NP=512 NG=128
while getopts "t:r:p:n:" o; do
  case $o in t) THREADS=$OPTARG ;; r) ROUNDS=$OPTARG ;; p) NP=$OPTARG ;; n) NG=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
LLAMA_REF=${LLAMA_REF:-$HOME/llama-ref}
LB=$LLAMA_REF/src/build/bin/llama-bench
[ -x "$LB" ] || { echo "no $LB: run ../shared/reference/build.sh $LLAMA_REF" >&2; exit 1; }
export BATON=${BATON:-$ROOT/build/baton}
export BATON_FIXTURES=${BATON_FIXTURES:-$ROOT/../shared}
export MODELS_DIR=${BENCH_MODELS:-/tmp/baton-bench-models}
mkdir -p "$MODELS_DIR"
# shellcheck source=../tests/golden/models.sh
. "$ROOT/tests/golden/models.sh"
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(smollm2-135m.q8_0 smollm2-135m.q4_K_M qwen2.5-0.5b.q8_0 qwen2.5-0.5b.q4_K_M llama-3.2-1b.q4_K_M)

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# peak resident memory of each process, through GNU time (Debian package `time`)
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "no $TIME: apt-get install time" >&2; exit 1; }
rss=$(mktemp)
membw=$(mktemp)
trap 'rm -f "$rss" "$membw"' EXIT
cc -O3 -march=native -pthread "$ROOT/bench/membw.c" -o "$membw"
bandwidth() { "$membw" "$THREADS" | awk '{print $3}'; }

printf '| model | llama.cpp pp%s | baton pp%s | ratio | llama.cpp tg%s | baton tg%s | ratio | peak MB llama.cpp / baton | read GB/s |\n' "$NP" "$NP" "$NG" "$NG"
printf '|---|---|---|---|---|---|---|---|---|\n'
for name in "${names[@]}"; do
  model=$(golden_model "$name")
  lpp=() ltg=() bpp=() btg=() bw=() lmem=0 bmem=0
  for ((r = 0; r < ROUNDS; r++)); do
    mapfile -t -O "${#bw[@]}" bw < <(bandwidth)
    j=$("$TIME" -f %M -o "$rss" "$LB" -m "$model" -p "$NP" -n "$NG" -t "$THREADS" -r 1 -o jsonl 2>/dev/null)
    lmem=$(( $(cat "$rss") > lmem ? $(cat "$rss") : lmem ))
    lpp+=("$(printf '%s\n' "$j" | awk -F'"avg_ts": ' '/"n_prompt": [1-9]/ {split($2,a,","); print a[1]}')")
    ltg+=("$(printf '%s\n' "$j" | awk -F'"avg_ts": ' '/"n_gen": [1-9]/ {split($2,a,","); print a[1]}')")
    j=$("$TIME" -f %M -o "$rss" "$BATON" bench -m "$model" -p "$NP" -n "$NG" -t "$THREADS" -r 1 --json)
    bmem=$(( $(cat "$rss") > bmem ? $(cat "$rss") : bmem ))
    bpp+=("$(printf '%s\n' "$j" | sed 's/.*"pp_tps": \([0-9.]*\).*/\1/')")
    btg+=("$(printf '%s\n' "$j" | sed 's/.*"tg_tps": \([0-9.]*\).*/\1/')")
  done
  mlpp=$(printf '%s\n' "${lpp[@]}" | median) mltg=$(printf '%s\n' "${ltg[@]}" | median)
  mbpp=$(printf '%s\n' "${bpp[@]}" | median) mbtg=$(printf '%s\n' "${btg[@]}" | median)
  mbw=$(printf '%s\n' "${bw[@]}" | median)
  awk -v n="$name" -v a="$mlpp" -v b="$mbpp" -v c="$mltg" -v d="$mbtg" -v lm="$lmem" -v bm="$bmem" -v w="$mbw" 'BEGIN {
    printf "| %s | %.1f | %.1f | %.2fx | %.1f | %.1f | %.2fx | %.0f / %.0f | %.0f |\n", n, a, b, b / a, c, d, d / c, lm / 1024, bm / 1024, w }'
done
