#!/usr/bin/env bash
# Golden test: `baton tokenize --ids` must print exactly what llama.cpp's llama-tokenize printed
# (tests/golden/tokenize/<vocab>.golden, made by scripts/golden/gen_tokenize_golden.sh) for every
# corpus file, vocabulary and mode. Usage: test_tokenize.sh path/to/baton
set -uo pipefail
BATON=${1:?usage: test_tokenize.sh path/to/baton}
SRC=${BATON_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
FIX=${BATON_FIXTURES:-${BATON_FIXTURES_DEFAULT:-$SRC/../shared}}
. "$SRC/tests/golden/tokenize/vocabs.sh"
CORPUS=$SRC/tests/golden/tokenize/corpus
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

total=0
failed=0
for v in $TOK_VOCABS; do
  golden=$SRC/tests/golden/tokenize/$v.golden
  if ! gguf=$(tok_vocab_path "$v" "$BATON" "$FIX" "$TMP"); then
    echo "FAIL $v: cannot make the vocabulary" >&2
    failed=$((failed + 1))
    continue
  fi
  # one baton run per mode, all that mode's files at once (the vocabulary loads once)
  for mode in raw escape nospecial; do
    files=()
    wants=()
    while read -r file m want; do
      [ "$m" = "$mode" ] || continue
      files+=("$file")
      wants+=("$want")
    done < "$golden"
    [ ${#files[@]} -gt 0 ] || continue
    args=()
    for f in "${files[@]}"; do args+=(-f "$CORPUS/$f"); done
    # shellcheck disable=SC2046
    mapfile -t gots < <("$BATON" tokenize -m "$gguf" "${args[@]}" $(tok_mode_flags "$mode") 2>&1)
    for i in "${!files[@]}"; do
      total=$((total + 1))
      if [ "${gots[$i]:-}" != "${wants[$i]}" ]; then
        failed=$((failed + 1))
        echo "FAIL $v ${files[$i]} $mode" >&2
        echo "  want: ${wants[$i]:0:300}" >&2
        echo "  got:  ${gots[$i]:0:300}" >&2
      fi
    done
  done
done
echo "tokenize golden: $((total - failed))/$total cases match llama.cpp"
[ "$total" -gt 0 ] && [ "$failed" -eq 0 ]
