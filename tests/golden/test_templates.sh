#!/usr/bin/env bash
# Golden test: `baton template` must render every chat template in the fixtures' templates/ (and
# the template of each fixture vocabulary that has one, with -m) for every conversation in
# tests/golden/templates/conversations/, with add_generation_prompt on and off, byte for byte as
# the reference renderer (@huggingface/jinja) did
# (tests/golden/templates/expected/, made by scripts/golden/gen_template_golden.mjs). Where the
# reference failed, baton must fail too; where the template itself raised an exception, baton
# must report the same message. Usage: test_templates.sh path/to/baton [TEMPLATE_NAME_FILTER]
set -uo pipefail
BATON=${1:?usage: test_templates.sh path/to/baton [FILTER]}
FILTER=${2:-}
SRC=${BATON_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
FIX=${BATON_FIXTURES:-${BATON_FIXTURES_DEFAULT:-$SRC/../shared}}
GOLDEN=$SRC/tests/golden/templates
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

passed=0
failed=0
shown=0
fail() {
  failed=$((failed + 1))
  if [ $shown -lt 20 ]; then
    echo "FAIL $*" >&2
    shown=$((shown + 1))
  fi
}

convs=()
for conv in "$GOLDEN"/conversations/*.json; do
  c=${conv##*/}
  convs+=("${c%.json}")
done
fargs=()
for c in "${convs[@]}"; do fargs+=(-f "$GOLDEN/conversations/$c.json"); done

# Render: one process per template and mode; -o writes one .txt or .error per conversation,
# into $TMP/KEY/MODE. KEY is the template's name, or gguf-VOCAB for a vocabulary's own template
# (rendered with -m: template and BOS/EOS texts from the GGUF).
keys=()
render_all() { # KEY SOURCE-ARGS...
  local key=$1 gp dir
  shift
  keys+=("$key")
  for gp in gp nogp; do
    dir=$TMP/$key/$gp
    mkdir -p "$dir"
    flags=()
    [ $gp = nogp ] && flags+=(--no-generation-prompt)
    if ! "$BATON" template "$@" "${fargs[@]}" -o "$dir" --date 2024-07-26 "${flags[@]}" \
        2>"$TMP/err"; then
      fail "$key $gp: baton template failed: $(head -c 300 "$TMP/err")"
    fi
  done
}
while IFS=$'\n' read -r row; do
  IFS=$'\t' read -r name bos eos <<<"$row"
  case "$name" in *"$FILTER"*) render_all "$name" -t "$FIX/templates/$name.jinja" --bos "$bos" --eos "$eos" ;; esac
done <"$GOLDEN/tokens.tsv"
while IFS=$'\t' read -r name _; do
  case "gguf-$name" in *"$FILTER"*) render_all "gguf-$name" -m "$FIX/vocab/$name.gguf" ;; esac
done <"$GOLDEN/gguf.tsv"

# Compare: hashes of every rendered prompt in two processes, error files with read.
declare -A want_sum got_sum
while read -r sum file; do
  f=${file##*/}
  want_sum[${f%.txt}]=$sum
done < <(cd "$GOLDEN/expected" && sha256sum -- *.txt)
while read -r sum file; do
  IFS=/ read -r key gp f <<<"$file"
  got_sum[${key}__${f%.txt}__$gp]=$sum
done < <(cd "$TMP" && find . -name '*.txt' -printf '%P\0' | xargs -0 -r sha256sum --)

for name in "${keys[@]}"; do
  for c in "${convs[@]}"; do
    for gp in gp nogp; do
      key=${name}__${c}__$gp
      want=$GOLDEN/expected/$key
      got=$TMP/$name/$gp/$c
      if [ -f "$want.txt" ]; then
        if [ -f "$got.error" ]; then
          fail "$name $c $gp: baton failed: $(tail -n +2 "$got.error" | head -c 300)"
        elif [ "${got_sum[$key]:-}" != "${want_sum[$key]}" ]; then
          fail "$name $c $gp: output differs from the reference: $(cmp "$got.txt" "$want.txt" 2>&1 | head -1)"
        else
          passed=$((passed + 1))
        fi
      elif [ -f "$want.error" ]; then
        { read -r kind; read -r msg; } <"$want.error"
        if [ ! -f "$got.error" ]; then
          fail "$name $c $gp: the reference failed ($kind: $msg) but baton rendered"
        else
          { read -r gkind; read -r gmsg; } <"$got.error"
          if [ "$kind" = raise ] && [ "$gkind $gmsg" != "raise $msg" ]; then
            fail "$name $c $gp: the template raised '$msg'; baton: $gkind: $gmsg"
          else
            passed=$((passed + 1))
          fi
        fi
      else
        fail "$name $c $gp: no golden file (regenerate with scripts/golden/gen_template_golden.mjs)"
      fi
    done
  done
done

echo "templates: $passed passed, $failed failed"
[ $failed -eq 0 ]
