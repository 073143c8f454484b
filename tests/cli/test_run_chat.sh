#!/usr/bin/env bash
# `baton run --chat`, --json-schema and --grammar: --chat renders -p (and --system) with the
# model's chat template, or with the plain default (and says so) when the GGUF has none; the
# constrained outputs parse and validate; misuse fails with one line. $1: the baton binary.
set -u
. "$(dirname "$0")/lib.sh" "$1"
FIX=${BATON_FIXTURES:-${BATON_FIXTURES_DEFAULT:-$SRC/../shared}}
M=$FIX/models/stories260K.gguf

# template-less: the messages' text, one per line, exactly as the same plain prompt
"$BATON" run -m "$M" --chat --system "Hi" -p "Once upon a time" -n 24 --temp 0 >"$WORK/chat" 2>"$WORK/err" \
  || fail "run --chat: $(cat "$WORK/err")"
"$BATON" run -m "$M" -p $'Hi\nOnce upon a time' -n 24 --temp 0 >"$WORK/plain" 2>/dev/null
cmp -s "$WORK/chat" "$WORK/plain" || fail "--chat without a template differs from the plain prompt: $(cat "$WORK/chat")"
[ "$(wc -c <"$WORK/chat")" -gt 20 ] || fail "--chat printed almost nothing"
grep -q "no chat template" "$WORK/err" || fail "--chat did not say it used the default template"

# with a template: the same as the prompt `baton template` renders
cat >"$WORK/t.jinja" <<'T'
{% for m in messages %}<<{{ m.role }}>> {{ m.content }}
{% endfor %}{% if add_generation_prompt %}<<assistant>>{% endif %}
T
BATON_FIXTURES=$FIX "$BATON" synth --shape tiny-llama --chat-template "$WORK/t.jinja" "$WORK/m.gguf" 2>"$WORK/err" \
  || fail "synth: $(cat "$WORK/err")"
echo '{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]}' >"$WORK/r.json"
"$BATON" template -m "$WORK/m.gguf" -f "$WORK/r.json" >"$WORK/prompt" || fail "template -m"
"$BATON" run -m "$WORK/m.gguf" --chat --system "Be brief." -p "Hello" -n 12 --temp 0 >"$WORK/chat" 2>"$WORK/err" \
  || fail "run --chat with a template: $(cat "$WORK/err")"
"$BATON" run -m "$WORK/m.gguf" -p "$(cat "$WORK/prompt")" -n 12 --temp 0 >"$WORK/plain" 2>/dev/null
cmp -s "$WORK/chat" "$WORK/plain" || fail "--chat differs from the template's rendered prompt"
! grep -q "no chat template" "$WORK/err" || fail "--chat claimed there was no template"

# constrained output
cat >"$WORK/s.json" <<'S'
{"type": "object", "properties": {"name": {"type": "string", "maxLength": 8},
 "age": {"type": "integer", "minimum": 0, "maximum": 99}}, "required": ["name", "age"],
 "additionalProperties": false}
S
for seed in 1 2 3; do
  "$BATON" run -m "$M" -p "Lily" -n 200 --seed $seed --json-schema "$WORK/s.json" >"$WORK/out" 2>"$WORK/err" \
    || fail "--json-schema: $(cat "$WORK/err")"
  node -e '
    const o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const ok = typeof o.name === "string" && [...o.name].length <= 8 && Number.isInteger(o.age) &&
      o.age >= 0 && o.age <= 99 && Object.keys(o).length === 2;
    if (!ok) { console.error("does not validate: " + JSON.stringify(o)); process.exit(1); }' "$WORK/out" \
    || fail "--json-schema seed $seed: output does not validate: $(cat "$WORK/out")"
done
printf 'root ::= ("yes" | "no") "."\n' >"$WORK/g.gbnf"
"$BATON" run -m "$M" -p "x" --seed 4 --grammar "$WORK/g.gbnf" >"$WORK/out" 2>/dev/null || fail "--grammar"
grep -qxE 'yes\.|no\.' "$WORK/out" || fail "--grammar output: $(cat "$WORK/out")"

one_line_error "$BATON" run -m "$M" -p x --system y
one_line_error "$BATON" run -m "$M" -p x --grammar "$WORK/s.json"
one_line_error "$BATON" run -m "$M" -p x --grammar "$WORK/g.gbnf" --json-schema "$WORK/s.json"
echo '{"type": "array", "uniqueItems": true}' >"$WORK/bad.json"
one_line_error "$BATON" run -m "$M" -p x --json-schema "$WORK/bad.json"
grep -q "uniqueItems is not supported" "$WORK/err" || fail "unsupported schema keyword not named: $(cat "$WORK/err")"

[ $fails -eq 0 ] && echo "run --chat / constrained: ok"
exit $((fails > 0))
