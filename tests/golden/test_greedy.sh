#!/usr/bin/env bash
# Greedy generation against references: stories260K from BOS must print the llama2.c reference
# text ../shared/models/stories260K.expected.txt, and every real model in ../shared/models must
# reproduce llama.cpp's greedy 200-token continuation (tests/golden/greedy/NAME.txt, made by
# scripts/golden/gen_greedy_golden.sh). Leading whitespace and the final newline are ignored.
set -euo pipefail
BATON=$1
HERE=$(cd "$(dirname "$0")" && pwd)
FIX=${BATON_FIXTURES:-${BATON_FIXTURES_DEFAULT:-$HERE/../../../shared}}
fail=0
norm() { sed '1s/^[[:space:]]*//' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'; }
check() {
  local name=$1 model=$2 want=$3 got
  got=$("$BATON" run -m "$model" -p "" -n 200 --temp 0 -t 2 2>/dev/null | norm)
  if [ "$got" == "$(norm < "$want")" ]; then
    echo "ok   $name"
  else
    echo "FAIL $name: differs from $want" >&2
    diff <(printf '%s\n' "$got") <(norm < "$want") | head -5 >&2
    fail=1
  fi
}
check "stories260K vs llama2.c expected text" "$FIX/models/stories260K.gguf" "$FIX/models/stories260K.expected.txt"
for want in "$HERE"/greedy/*.txt; do
  name=$(basename "$want" .txt)
  check "$name vs llama.cpp" "$FIX/models/$name.gguf" "$want"
done
exit $fail
