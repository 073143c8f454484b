#!/usr/bin/env bash
# The `baton bench` contract: the table and --json forms, and --profile's per-part breakdown of
# where a step's time went (every part of the model named, shares that add up to the step).
# $1: the baton binary. Fixtures: $BATON_FIXTURES or $BATON_FIXTURES_DEFAULT (../shared).
set -u
. "$(dirname "$0")/lib.sh" "$1"
FIX=${BATON_FIXTURES:-${BATON_FIXTURES_DEFAULT:-../shared}}
MODEL="$FIX/models/stories260K.gguf"

"$BATON" bench >"$WORK/out" 2>"$WORK/err"
[ $? -eq 2 ] || fail "no arguments should exit 2"
grep -q "usage: baton bench" "$WORK/err" || fail "no usage on stderr"
"$BATON" bench --help | grep -q -- "--profile" || fail "--help does not mention --profile"

if [ -f "$MODEL" ]; then
  "$BATON" bench -m "$MODEL" -p 32 -n 16 -t 2 -r 2 --json >"$WORK/json" || fail "bench --json failed"
  for k in pp_tps tg_tps peak_rss_mb kernels; do
    grep -q "\"$k\": " "$WORK/json" || fail "--json lacks $k: $(cat "$WORK/json")"
  done
  "$BATON" bench -m "$MODEL" -p 32 -n 16 -t 2 -r 2 --profile >"$WORK/prof" || fail "bench --profile failed"
  grep -q "| pp32 |" "$WORK/prof" || fail "no pp row"
  grep -q "| tg16 x1 |" "$WORK/prof" || fail "no tg row"
  grep -q "^tg profile (per token, 32 tokens)" "$WORK/prof" || fail "no tg profile: $(cat "$WORK/prof")"
  # the tg profile: every matmul role, attention and the rest; shares add up to 100%
  awk '/^tg profile/ {on = 1; next} on' "$WORK/prof" >"$WORK/tg"
  for part in attn_qkv attn_output ffn_gate_up ffn_down output attention "other"; do
    grep -q "^| $part " "$WORK/tg" || fail "tg profile lacks $part: $(cat "$WORK/tg")"
  done
  total=$(awk -F'|' '/%/ {gsub(/[ %]/, "", $5); s += $5} END {printf "%.0f", s}' "$WORK/tg")
  [ "$total" -ge 99 ] && [ "$total" -le 101 ] || fail "tg shares add up to $total%"
  # weight parts report the bytes they read per second
  awk -F'|' '/^\| (attn_qkv|ffn_down|output) / {gsub(/ /, "", $6); if ($6 + 0 <= 0) bad = 1} END {exit bad}' \
    "$WORK/tg" || fail "a weight part without GB/s: $(cat "$WORK/tg")"
  # without --profile there is no profile
  "$BATON" bench -m "$MODEL" -p 8 -n 4 -r 1 | grep -q "profile" && fail "profile printed without --profile"
else
  echo "skip: no $MODEL"
fi

[ "$fails" -eq 0 ] || exit 1
echo "ok"
