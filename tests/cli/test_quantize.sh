#!/usr/bin/env bash
# The `baton quantize` command contract: usage and errors (exit status, one line on stderr),
# per-tensor progress and a summary on stderr, an output file `baton info` reads back.
# $1: the baton binary. Fixtures: $BATON_FIXTURES or $BATON_FIXTURES_DEFAULT (../shared).
set -u
BATON=$1
FIX=${BATON_FIXTURES:-${BATON_FIXTURES_DEFAULT:-../shared}}
MODEL="$FIX/models/stories260K.gguf"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# usage: no arguments -> exit 2 and the usage text
"$BATON" quantize >"$WORK/out" 2>"$WORK/err"
[ $? -eq 2 ] || fail "no arguments should exit 2"
grep -q "usage: baton quantize" "$WORK/err" || fail "no usage on stderr"
"$BATON" quantize --help >"$WORK/out" 2>&1 || fail "--help should exit 0"
grep -q "Q4_K_M" "$WORK/out" || fail "--help does not list the types"

# unknown type: non-zero, one line naming the supported types
"$BATON" quantize "$MODEL" "$WORK/x.gguf" Q9_Z 2>"$WORK/err"
[ $? -ne 0 ] || fail "unknown type accepted"
[ "$(wc -l <"$WORK/err")" -eq 1 ] || fail "unknown type: expected one line, got: $(cat "$WORK/err")"
grep -q "Q9_Z.*Q4_K_M" "$WORK/err" || fail "unknown type: message does not list the supported types"
[ ! -e "$WORK/x.gguf" ] || fail "unknown type left an output file"

# bad thread count, missing input: non-zero with a one-line reason
"$BATON" quantize "$MODEL" "$WORK/x.gguf" Q8_0 -t 0 2>"$WORK/err"
[ $? -ne 0 ] && [ "$(wc -l <"$WORK/err")" -eq 1 ] || fail "-t 0 accepted or not one line"
"$BATON" quantize "$WORK/nope.gguf" "$WORK/x.gguf" Q8_0 2>"$WORK/err"
[ $? -ne 0 ] && grep -q "nope.gguf" "$WORK/err" || fail "missing input: $(cat "$WORK/err")"

if [ -f "$MODEL" ]; then
  # success, type in lower case, two threads
  "$BATON" quantize "$MODEL" "$WORK/q.gguf" q4_k_m -t 2 2>"$WORK/err" || fail "quantize failed: $(cat "$WORK/err")"
  n_lines=$(grep -c "^baton info: \[ *[0-9]*/  48\]" "$WORK/err")
  [ "$n_lines" -eq 48 ] || fail "expected 48 per-tensor lines, got $n_lines"
  grep -q "model size .* -> .* MiB" "$WORK/err" || fail "no size summary"
  "$BATON" info "$WORK/q.gguf" >"$WORK/info" || fail "baton info cannot read the output"
  grep -q "general.file_type: 15" "$WORK/info" || fail "general.file_type is not 15 (Q4_K_M)"
  grep -q "general.quantization_version: 2" "$WORK/info" || fail "no quantization_version 2"
  # stories260K rows are 64 long: K-quants fall back to 32-element types, output to q8_0
  grep -Eq "output.weight +q8_0" "$WORK/info" || fail "output.weight is not q8_0"
  grep -Eq "blk.0.attn_q.weight +q5_0" "$WORK/info" || fail "attn_q did not fall back to q5_0"
  grep -Eq "output_norm.weight +f32" "$WORK/info" || fail "a norm was converted"
  # BATON_LOG chooses the level: errors only -> nothing on a success
  BATON_LOG=error "$BATON" quantize "$MODEL" "$WORK/q8.gguf" Q8_0 2>"$WORK/err" || fail "Q8_0 failed"
  [ ! -s "$WORK/err" ] || fail "BATON_LOG=error still printed: $(head -2 "$WORK/err")"
else
  echo "skip: $MODEL not found" >&2
fi
[ "$fails" -eq 0 ] && echo "ok test_quantize.sh" >&2
exit $((fails > 0))
