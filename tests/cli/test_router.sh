#!/usr/bin/env bash
# The `baton router` contract: score prints one number per input line ({"prompt": ...} or an
# OpenAI body), the same for the same text, and refuses bad lines with file:line; eval prints
# the baselines' metrics on a real outcome set (random is exactly 0.5) and draws an SVG; bench
# prints microseconds; bad input exits non-zero with one line. $1: the baton binary.
set -u
. "$(dirname "$0")/lib.sh" "$1"
FIX=${BATON_FIXTURES:-${BATON_FIXTURES_DEFAULT:-$SRC/../shared}}
DATA=$FIX/router-data

"$BATON" router >/dev/null 2>"$WORK/err"
[ $? -eq 2 ] || fail "no arguments should exit 2"
"$BATON" router --help >"$WORK/out" 2>&1 || fail "--help should exit 0"
for sub in train eval score lobo bench; do
  grep -q "baton router $sub" "$WORK/out" || fail "--help does not show $sub"
done

# score: one line per input line; the prompt form and the OpenAI form of one text agree
cat >"$WORK/p.jsonl" <<'JSONL'
{"prompt": "What is the capital of France?"}
{"model": "x", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is the capital of France?"}]}
{"prompt": "Prove that every bounded monotone sequence of real numbers converges."}
JSONL
"$BATON" router score --router builtin -f "$WORK/p.jsonl" >"$WORK/out" 2>"$WORK/err" ||
  fail "score: $(cat "$WORK/err")"
[ "$(wc -l <"$WORK/out")" -eq 3 ] || fail "score: expected 3 lines: $(cat "$WORK/out")"
grep -qvE '^(0|1)\.[0-9]{6}$' "$WORK/out" && fail "score: not probabilities: $(cat "$WORK/out")"
[ "$(sed -n 1p "$WORK/out")" = "$(sed -n 2p "$WORK/out")" ] ||
  fail "score: prompt and messages forms differ: $(cat "$WORK/out")"
"$BATON" router score --router builtin -f - <"$WORK/p.jsonl" | cmp -s - "$WORK/out" ||
  fail "score -f - differs from the file"
cp "$SRC/models/router/baton-router-v1.router" "$WORK/r.router"
"$BATON" router score --router "$WORK/r.router" -f "$WORK/p.jsonl" | cmp -s - "$WORK/out" ||
  fail "the shipped file and the built-in router differ"

printf '{"prompt": "ok"}\nnot json\n' >"$WORK/bad.jsonl"
one_line_error "$BATON" router score --router builtin -f "$WORK/bad.jsonl"
grep -q "bad.jsonl:2: not a JSON object" "$WORK/err" || fail "bad line: $(cat "$WORK/err")"
printf '{"text": "x"}\n' >"$WORK/bad2.jsonl"
one_line_error "$BATON" router score --router builtin -f "$WORK/bad2.jsonl"
head -c 100 "$WORK/r.router" >"$WORK/trunc.router"
one_line_error "$BATON" router score --router "$WORK/trunc.router" -f "$WORK/p.jsonl"
grep -q "trunc.router: 100 bytes, the header describes" "$WORK/err" || fail "truncated: $(cat "$WORK/err")"
one_line_error "$BATON" router score -f "$WORK/p.jsonl"
one_line_error "$BATON" router frobnicate

# eval on arena_bench (300 prompts): baselines without --router, the router with it
if [ -d "$DATA/arena_bench_v1" ]; then
  "$BATON" router eval --data "$DATA/arena_bench_v1" --weak mistralai/Mixtral-8x7B-Instruct-v0.1 \
    --strong gpt-4-1106-preview --router builtin --svg "$WORK/c.svg" --json >"$WORK/out" 2>"$WORK/err" ||
    fail "eval: $(cat "$WORK/err")"
  grep -q '"prompts": 293' "$WORK/out" || fail "eval: prompt count: $(cat "$WORK/out")"
  grep -q '"random": {"apgr": 0.5' "$WORK/out" || fail "eval: no random baseline"
  grep -q '"learned": {"apgr": 0\.[0-9]' "$WORK/out" || fail "eval: no router APGR: $(cat "$WORK/out")"
  grep -q '<svg' "$WORK/c.svg" && grep -q '</svg>' "$WORK/c.svg" || fail "eval: no SVG"
  one_line_error "$BATON" router eval --data "$DATA/arena_bench_v1" --weak nobody --strong gpt-4-0314
  grep -q "no model 'nobody'" "$WORK/err" || fail "eval unknown model: $(cat "$WORK/err")"
  "$BATON" router bench --data "$DATA/arena_bench_v1" --repeat 1 --json >"$WORK/out" 2>"$WORK/err" ||
    fail "bench: $(cat "$WORK/err")"
  grep -qE '"p99_us": [0-9]+\.[0-9]{3}' "$WORK/out" || fail "bench: $(cat "$WORK/out")"
  one_line_error "$BATON" router bench --data "$DATA/arena_bench_v1" --repeat 0
else
  echo "skip: no $DATA/arena_bench_v1" >&2
fi

[ $fails -eq 0 ] || exit 1
echo "ok"
