#!/usr/bin/env bash
# The `baton template` contract: the prompt on stdout exactly (no newline added), -m reading the
# template and BOS/EOS from a GGUF, --bos/--eos/--date/--no-generation-prompt, chat_template_kwargs,
# -o with several -f; usage errors exit 2; every other failure is one line on stderr, a template's
# raise_exception as "template raised: MESSAGE". (tests/golden/test_templates.sh checks the
# rendering itself against the reference.) $1: the baton binary.
set -u
. "$(dirname "$0")/lib.sh" "$1"
FIX=${BATON_FIXTURES:-${BATON_FIXTURES_DEFAULT:-$SRC/../shared}}

"$BATON" template >/dev/null 2>"$WORK/err"
[ $? -eq 2 ] || fail "no arguments should exit 2"
grep -q "usage: baton template" "$WORK/err" || fail "no usage on stderr"
"$BATON" template --help >"$WORK/out" 2>&1 || fail "--help should exit 0"
grep -q -- "--no-generation-prompt" "$WORK/out" || fail "--help does not describe --no-generation-prompt"
"$BATON" template -t a.jinja -m b.gguf -f r.json >/dev/null 2>&1
[ $? -eq 2 ] || fail "-t with -m should exit 2"

cat >"$WORK/t.jinja" <<'T'
{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}
{% endfor %}
{%- if add_generation_prompt %}[assistant]{% endif %}
{%- if enable_thinking is defined %} think={{ enable_thinking }}{% endif %}
{{- eos_token -}}
{{ '|' ~ strftime_now('%Y-%m-%d') if with_date is defined }}
T
cat >"$WORK/r.json" <<'J'
{"model": "m", "messages": [{"role": "user", "content": "hi"}]}
J
"$BATON" template -t "$WORK/t.jinja" -f "$WORK/r.json" >"$WORK/out" 2>"$WORK/err" || fail "render: $(cat "$WORK/err")"
printf '[user] hi\n[assistant]' | cmp -s - "$WORK/out" || fail "default render: $(od -c "$WORK/out" | head)"
"$BATON" template -t "$WORK/t.jinja" -f "$WORK/r.json" --no-generation-prompt --bos '<s>' --eos '</s>' >"$WORK/out" 2>&1
printf '<s>[user] hi\n</s>' | cmp -s - "$WORK/out" || fail "--no-generation-prompt --bos --eos: $(cat "$WORK/out")"
cat >"$WORK/k.json" <<'J'
{"messages": [], "chat_template_kwargs": {"enable_thinking": false, "with_date": 1}}
J
"$BATON" template -t "$WORK/t.jinja" -f "$WORK/k.json" --date 2024-02-29 >"$WORK/out" 2>&1
printf '[assistant] think=false|2024-02-29' | cmp -s - "$WORK/out" || fail "chat_template_kwargs, --date: $(cat "$WORK/out")"

# -m: the template and the BOS/EOS texts of a GGUF
"$BATON" template -m "$FIX/vocab/ggml-vocab-qwen2.gguf" -f "$WORK/r.json" >"$WORK/out" 2>"$WORK/err" || fail "-m qwen2: $(cat "$WORK/err")"
grep -q "<|im_start|>user" "$WORK/out" || fail "-m qwen2 did not use the GGUF's template: $(cat "$WORK/out")"
one_line_error "$BATON" template -m "$FIX/vocab/ggml-vocab-gpt-2.gguf" -f "$WORK/r.json"
grep -q "has no chat template" "$WORK/err" || fail "a GGUF without template: $(cat "$WORK/err")"

# -o with several -f
cp "$WORK/r.json" "$WORK/a.json"
printf '{"messages": 5}' >"$WORK/bad.json"
mkdir "$WORK/o"
"$BATON" template -t "$WORK/t.jinja" -f "$WORK/a.json" -f "$WORK/bad.json" -o "$WORK/o" 2>"$WORK/err" || fail "-o: $(cat "$WORK/err")"
printf '[user] hi\n[assistant]' | cmp -s - "$WORK/o/a.txt" || fail "-o a.txt"
[ "$(head -1 "$WORK/o/bad.error" 2>/dev/null)" = error ] || fail "-o bad.error"
"$BATON" template -t "$WORK/t.jinja" -f "$WORK/a.json" -f "$WORK/a.json" >/dev/null 2>&1
[ $? -eq 2 ] || fail "several -f without -o should exit 2"

# one-line errors
one_line_error "$BATON" template -t "$WORK/missing.jinja" -f "$WORK/r.json"
one_line_error "$BATON" template -t "$WORK/t.jinja" -f "$WORK/missing.json"
printf '{"messages": [' >"$WORK/trunc.json"
one_line_error "$BATON" template -t "$WORK/t.jinja" -f "$WORK/trunc.json"
one_line_error "$BATON" template -t "$WORK/t.jinja" -f "$WORK/bad.json"
grep -q "messages must be an array" "$WORK/err" || fail "messages not an array: $(cat "$WORK/err")"
printf 'a\n{%% with x = 1 %%}{%% endwith %%}' >"$WORK/with.jinja"
one_line_error "$BATON" template -t "$WORK/with.jinja" -f "$WORK/r.json"
grep -q "line 2: unsupported statement {% with %}" "$WORK/err" || fail "unsupported statement: $(cat "$WORK/err")"
printf '{{ raise_exception("Roles must alternate") }}' >"$WORK/raise.jinja"
one_line_error "$BATON" template -t "$WORK/raise.jinja" -f "$WORK/r.json"
grep -qx "baton: template raised: Roles must alternate" "$WORK/err" || fail "raise: $(cat "$WORK/err")"
one_line_error "$BATON" template -t "$WORK/t.jinja" -f "$WORK/r.json" --date 2024-13-01

[ $fails -eq 0 ] && echo "template: all checks passed"
[ $fails -eq 0 ]
