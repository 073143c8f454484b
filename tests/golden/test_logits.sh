#!/usr/bin/env bash
# Golden test of the engine against llama.cpp: for every tests/golden/logits/*.golden, rebuild
# the model it names (tests/golden/models.sh), check it is byte-identical to the one llama.cpp
# ran (sha256), then for each prompt check that baton's prompt tokens equal llama.cpp's, that
# each of llama.cpp's top-10 logits is matched within the tolerance (0.03 float, 0.10 quantized),
# and that the top token is the same wherever llama.cpp's top-2 margin exceeds 0.2.
# Usage: test_logits.sh BATON [NAME-FILTER-REGEX]
set -euo pipefail
export BATON=$1
FILTER=${2:-.}
HERE=$(cd "$(dirname "$0")" && pwd)
export BATON_FIXTURES=${BATON_FIXTURES:-${BATON_FIXTURES_DEFAULT:-$HERE/../../../shared}}
export MODELS_DIR=${BATON_GOLDEN_MODELS:-$(mktemp -d /tmp/baton-golden.XXXXXX)}
[ -n "${BATON_GOLDEN_MODELS:-}" ] || trap 'rm -rf "$MODELS_DIR"' EXIT
# shellcheck source=models.sh
. "$HERE/models.sh"
mapfile -t prompts < "$(golden_prompts_file)"

fail=0 checked=0
for golden in "$HERE"/logits/*.golden; do
  name=$(basename "$golden" .golden)
  [[ "$name" =~ $FILTER ]] || continue
  model=$(golden_model "$name") || { echo "FAIL $name: could not build the model" >&2; fail=1; continue; }
  want_sha=$(awk '/^model_sha256/ {print $2}' "$golden")
  have_sha=$(sha256sum "$(readlink -f "$model")" | cut -d' ' -f1)
  if [ "$want_sha" != "$have_sha" ]; then
    echo "FAIL $name: model bytes differ from the golden's (synth or quantize output changed;" \
         "if intended, regenerate with scripts/golden/gen_logits_golden.sh $name)" >&2
    fail=1; continue
  fi
  tol=$(golden_tolerance "$name")
  worst=0
  for i in "${!prompts[@]}"; do
    n=$((i + 1))
    prompt=$(printf '%b' "${prompts[$i]}")
    want_tokens=$(awk -v n=$n '$1 == "prompt" && $2 == n && $3 == "tokens" {$1=$2=$3=""; print}' "$golden" | xargs)
    have_tokens=$("$BATON" tokenize -m "$model" -p "$prompt" --ids | tr -d '[],' | xargs)
    if [ "$want_tokens" != "$have_tokens" ]; then
      echo "FAIL $name prompt $n: tokens [$have_tokens], llama.cpp [$want_tokens]" >&2
      fail=1; continue
    fi
    ours=$("$BATON" logits -m "$model" -p "$prompt" --top 64)
    res=$(awk -v n=$n -v tol="$tol" -v name="$name" '
      FNR == NR { have[$1] = $2; if (FNR == 1) top = $1; next }
      $1 == "prompt" && $2 == n && $3 == "logit" {
        k++; id[k] = $4; want[k] = $5
      }
      END {
        bad = 0; worst = 0
        for (j = 1; j <= k; j++) {
          if (!(id[j] in have)) { printf "FAIL %s prompt %d: llama.cpp top-%d id %s (%.4f) not in baton top 64\n", name, n, j, id[j], want[j]; bad = 1; continue }
          d = have[id[j]] - want[j]; if (d < 0) d = -d
          if (d > worst) worst = d
          if (d > tol) { printf "FAIL %s prompt %d: id %s logit %.4f, llama.cpp %.4f (|diff| %.4f > %s)\n", name, n, id[j], have[id[j]], want[j], d, tol; bad = 1 }
        }
        if (k >= 2 && want[1] - want[2] > 0.2 && top != id[1]) { printf "FAIL %s prompt %d: top token %s, llama.cpp %s (margin %.3f)\n", name, n, top, id[1], want[1] - want[2]; bad = 1 }
        printf "WORST %.4f\n", worst
        exit bad
      }' <(printf '%s\n' "$ours") "$golden") || { printf '%s\n' "$res" | grep FAIL >&2; fail=1; }
    w=$(printf '%s\n' "$res" | awk '/^WORST/ {print $2}')
    worst=$(awk -v a="$worst" -v b="${w:-0}" 'BEGIN { print (b > a ? b : a) }')
  done
  checked=$((checked + 1))
  printf '%-24s max |logit diff| %.4f (tolerance %s)\n' "$name" "$worst" "$tol"
  case "$name" in tiny-*) ;; *) rm -f "$model" ;; esac   # real shapes are large: keep disk bounded
done
[ $checked -gt 0 ] || { echo "FAIL: no golden files matched '$FILTER'" >&2; exit 1; }
exit $fail
