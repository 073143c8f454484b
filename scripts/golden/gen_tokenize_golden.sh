#!/usr/bin/env bash
# Regenerates tests/golden/tokenize/<vocab>.golden: llama.cpp's llama-tokenize output for every
# corpus file (tests/golden/tokenize/corpus/*.txt) and vocabulary (tests/golden/tokenize/vocabs.sh),
# one line "<file> <mode> [ids]" per case. Run it after changing the corpus or the vocabulary list,
# and review the diff: the golden files are the reference baton's tokenizer is held to.
#
#   scripts/golden/gen_tokenize_golden.sh            (uses build/baton for derived vocabularies)
#   LLAMA_REF=/path/to/llama-ref BATON=build-x/baton BATON_FIXTURES=../shared scripts/golden/...
#
# LLAMA_REF defaults to $HOME/llama-ref, where ../shared/reference/build.sh builds llama.cpp.
set -euo pipefail
cd "$(dirname "$0")/../.."
LLAMA_REF=${LLAMA_REF:-$HOME/llama-ref}
TOKENIZE=$LLAMA_REF/src/build/bin/llama-tokenize
BATON=${BATON:-build/baton}
FIX=${BATON_FIXTURES:-$(pwd)/../shared}
if [ ! -x "$TOKENIZE" ]; then
  echo "gen_tokenize_golden: $TOKENIZE not found; build llama.cpp with ../shared/reference/build.sh" >&2
  exit 1
fi
[ -x "$BATON" ] || { echo "gen_tokenize_golden: $BATON not found (set BATON=path/to/baton)" >&2; exit 1; }
. tests/golden/tokenize/vocabs.sh
CORPUS=tests/golden/tokenize/corpus
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for v in $TOK_VOCABS; do
  gguf=$(tok_vocab_path "$v" "$BATON" "$FIX" "$TMP")
  out=tests/golden/tokenize/$v.golden
  : > "$out.tmp"
  tok_cases "$CORPUS" | while read -r file mode; do
    # shellcheck disable=SC2046
    ids=$("$TOKENIZE" -m "$gguf" -f "$CORPUS/$file" $(tok_mode_flags "$mode") --log-disable 2>/dev/null)
    printf '%s %s %s\n' "$file" "$mode" "$ids" >> "$out.tmp"
  done
  mv "$out.tmp" "$out"
  echo "$out: $(wc -l < "$out") cases"
done
