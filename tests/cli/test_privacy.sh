#!/usr/bin/env bash
# The `baton privacy` contract: scan prints kind/offset lines and never more than asked; --mask
# prints placeholders; eval reproduces the precision and recall docs/privacy.md records on the
# committed corpus (a detector change that moves them must update the docs); one-line errors.
set -u
. "$(dirname "$0")/lib.sh" "$1"

out=$("$BATON" privacy scan -p "mail bob@example.com, card 4111 1111 1111 1111, order 123456789") \
  || fail "scan failed"
[ "$out" = "$(printf 'email\t5\t20\ncard\t27\t46')" ] || fail "scan printed: $out"
out=$("$BATON" privacy scan --mask -p "mail bob@example.com and bob@example.com") || fail "--mask failed"
[ "$out" = "mail [EMAIL_1] and [EMAIL_1]" ] || fail "--mask printed: $out"

"$BATON" privacy eval "$SRC/tests/privacy/corpus.txt" >"$WORK/eval" || fail "eval failed"
documented=$(sed -n '/^\$ baton privacy eval/,/^```/p' "$SRC/docs/privacy.md" | grep -E '^(kind|email|phone|card|iban|ssn|ipv4|ipv6|secret|all) ')
measured=$(grep -E '^(kind|email|phone|card|iban|ssn|ipv4|ipv6|secret|all) ' "$WORK/eval")
[ "$documented" = "$measured" ] || fail "eval differs from docs/privacy.md:
$measured"

# the corpus is what the generator writes
if command -v python3 >/dev/null; then
  python3 "$SRC/tests/privacy/make_corpus.py" | cmp -s - "$SRC/tests/privacy/corpus.txt" \
    || fail "tests/privacy/corpus.txt is not what make_corpus.py writes"
fi

one_line_error "$BATON" privacy scan
one_line_error "$BATON" privacy scan -p a -f b
one_line_error "$BATON" privacy eval "$WORK/missing.txt"
one_line_error "$BATON" privacy frob
printf 'bad {{nokind:x}}\n' >"$WORK/bad.txt"
one_line_error "$BATON" privacy eval "$WORK/bad.txt"

[ $fails -eq 0 ] && echo "ok" || exit 1
