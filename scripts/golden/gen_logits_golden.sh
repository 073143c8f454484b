#!/usr/bin/env bash
# Regenerates tests/golden/logits/*.golden from llama.cpp, the reference.
#
#   scripts/golden/gen_logits_golden.sh [NAME ...]      (default: every name in the golden set)
#
# For each model name (tests/golden/models.sh: synthesized by baton, converted by
# `baton quantize`) and each prompt of tests/golden/logits/prompts.txt (one per line, `\n`
# escapes expanded), llama.cpp's llref harness (../shared/reference/llref.c) prints the prompt's
# token ids and the last position's top 10 logits; they are written with the model's sha256.
# Needs the reference built by ../shared/reference/build.sh (LLAMA_REF, default ~/llama-ref) and
# baton built in build/. Takes ~15 minutes and ~8 GB of scratch space (MODELS_DIR).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LLAMA_REF=${LLAMA_REF:-$HOME/llama-ref}
LLREF=$LLAMA_REF/llref
[ -x "$LLREF" ] || { echo "no $LLREF: run ../shared/reference/build.sh $LLAMA_REF first" >&2; exit 1; }
export BATON=${BATON:-$ROOT/build/baton}
export BATON_FIXTURES=${BATON_FIXTURES:-$ROOT/../shared}
export MODELS_DIR=${MODELS_DIR:-/tmp/baton-golden-models}
mkdir -p "$MODELS_DIR"
# shellcheck source=../../tests/golden/models.sh
. "$ROOT/tests/golden/models.sh"
OUT=$ROOT/tests/golden/logits
ref_commit=$(git -C "$LLAMA_REF/src" log -1 --format=%h 2>/dev/null || echo unknown)

names=("$@")
[ ${#names[@]} -gt 0 ] || mapfile -t names < <(golden_names)
for name in "${names[@]}"; do
  model=$(golden_model "$name")
  {
    echo "# llama.cpp (node-llama-cpp 3.22.1 source, $ref_commit) top-10 logits on $name;"
    echo "# regenerate with scripts/golden/gen_logits_golden.sh $name"
    echo "model_sha256 $(sha256sum "$(readlink -f "$model")" | cut -d' ' -f1)"
    i=0
    while IFS= read -r line; do
      i=$((i + 1))
      prompt=$(printf '%b' "$line")
      "$LLREF" "$model" "$prompt" 0 10 2 | awk -v i=$i '
        /^PROMPT/ { $1 = ""; print "prompt " i " tokens" $0 }
        /^LOGIT/  { print "prompt " i " logit " $2 " " $3 }'
    done < "$(golden_prompts_file)"
  } > "$OUT/$name.golden"
  echo "wrote $OUT/$name.golden" >&2
done
