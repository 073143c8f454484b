#!/usr/bin/env bash
# The `baton route` contract: the decision and, with --explain, the trace of every rule, for
# -p prompts and -f request bodies, --model, the default model; one-line errors for bad input;
# and no model is loaded (a config whose model files do not exist works). $1: the baton binary.
set -u
. "$(dirname "$0")/lib.sh" "$1"
CFG="$SRC/examples/baton.yaml"
route() { "$BATON" route --config "$CFG" "$@" >"$WORK/out" 2>"$WORK/err" || fail "route $*: $(cat "$WORK/err")"; }
has() { grep -qF -- "$1" "$WORK/out" || fail "expected '$1' in the output of $2:
$(cat "$WORK/out")"; }

"$BATON" route >/dev/null 2>"$WORK/err"
[ $? -eq 2 ] || fail "no arguments should exit 2"
grep -q "usage: baton route" "$WORK/err" || fail "no usage on stderr"
"$BATON" route --help >"$WORK/out" 2>&1 || fail "--help should exit 0"
grep -q -- "--explain" "$WORK/out" || fail "--help does not describe --explain"

# the default model is the route auto; a short prompt takes the default
route -p "Once upon a time"
has "route:    auto" "-p short"
has "tier:     small" "-p short"
has "fallback: large" "-p short"
has "reason:   default: no rule matched" "-p short"
grep -q "rules, in order" "$WORK/out" && fail "the trace is printed without --explain"

# --explain: every rule evaluated, each condition, the rules after the match not evaluated
route --explain -p "Explain, step by step, why the sky is blue"
has "config:   $CFG" "--explain"
has "request:  model auto; chat, 1 message, 42 bytes of text; tools: no; response_format: no" "--explain"
has "model 'auto' names a route (strategy rules)" "--explain"
has "  1. long -> large" "--explain"
has "       min_chars 600: no, the text is 42 bytes" "--explain"
has '       keywords [step by step, in detail, carefully, explain]: yes, "explain" occurs' "--explain"
has "     => matches: large" "--explain"
has "  3. structured -> large: not evaluated (rule detailed matched first)" "--explain"
has "tier:     large" "--explain"
has "fallback: small" "--explain"
has 'reason:   rule detailed: keyword "explain"' "--explain"

# a long prompt
route -p "$(head -c 700 /dev/zero | tr '\0' 'a')"
has "reason:   rule long: text 700 bytes >= min_chars 600" "long -p"

# -f: a chat body with response_format and its own model
cat >"$WORK/req.json" <<'JSON'
{"model": "auto", "messages": [{"role": "system", "content": "Answer in JSON."},
 {"role": "user", "content": "List three colours."}],
 "response_format": {"type": "json_object"}}
JSON
route --explain -f "$WORK/req.json"
has "request:  model auto; chat, 2 messages, 34 bytes of text; tools: no; response_format: yes" "-f"
has "       needs [response_format]: yes" "-f"
has "reason:   rule structured: needs response_format" "-f"
# --model overrides the body's model; a tier named directly has no fallback
route --explain -f "$WORK/req.json" --model large
has "model 'large' names a tier: it answers, with no fallback" "--model large"
has "route:    (none: a tier was named)" "--model large"
has "fallback: none" "--model large"
has "reason:   tier requested" "--model large"
# a completions body without a model gets the default
echo '{"prompt": "carefully now"}' >"$WORK/cmpl.json"
route -f "$WORK/cmpl.json"
has 'reason:   rule detailed: keyword "carefully"' "completions -f"

# no model is loaded: tiers whose files do not exist still route
cat >"$WORK/nomodel.yaml" <<'YAML'
tiers:
  - { name: a, kind: local, model: /nonexistent/a.gguf }
  - name: b
    kind: openai
    base_url: http://127.0.0.1:9/v1
    price: { input: 1, output: 2 }
routes:
  - name: r
    rules: [{ regex: "(?i)\\bsql\\b", tier: b }]
    default: a
YAML
"$BATON" route --config "$WORK/nomodel.yaml" -p "write SQL" >"$WORK/out" 2>"$WORK/err" || fail "nomodel: $(cat "$WORK/err")"
has "route:    r" "first route as default"
has "tier:     b" "regex rule"

# bad input: one line, non-zero
one_line_error "$BATON" route --config "$CFG" -p hi --model gpt-9
grep -qF "model 'gpt-9' not found: it names neither a tier nor a route (tiers: small, large; routes: auto, smart)" "$WORK/err" \
  || fail "unknown model: $(cat "$WORK/err")"
one_line_error "$BATON" route -p hi

# the learned route: score and threshold in the reason, the score's parts in the trace
route --model smart --explain -p "Which of these is prime? A. 21 B. 27 C. 29 D. 33"
has "model 'smart' names a route (strategy learned)" "--model smart"
has "learned router: builtin" "--model smart"
has "strong_fraction 0.300 -> threshold 0." "--model smart"
has "= P(weak as good as strong) = sigmoid(" "--model smart"
grep -qE "^reason:   learned: score 0\.[0-9]{3} (<|>=) threshold 0\.[0-9]{3} -> (weak \(small\)|strong \(large\))$" "$WORK/out" ||
  fail "learned reason: $(cat "$WORK/out")"
one_line_error "$BATON" route --config "$CFG"
one_line_error "$BATON" route --config "$CFG" -p hi -f "$WORK/req.json"
one_line_error "$BATON" route --config "$CFG" -p hi --frobnicate
one_line_error "$BATON" route --config "$WORK/none.yaml" -p hi
grep -q "none.yaml: cannot open" "$WORK/err" || fail "missing config: $(cat "$WORK/err")"
printf 'tiers:\n  - { name: a, kind: local, model: m }\nroutes:\n  - { name: r, default: b }\n' >"$WORK/bad.yaml"
one_line_error "$BATON" route --config "$WORK/bad.yaml" -p hi
grep -qF "$WORK/bad.yaml:4: routes.r.default: unknown tier 'b' (tiers: a)" "$WORK/err" || fail "bad config: $(cat "$WORK/err")"
echo '{"model": "auto", "messages": [' >"$WORK/broken.json"
one_line_error "$BATON" route --config "$CFG" -f "$WORK/broken.json"
echo '{"model": "auto", "messages": []}' >"$WORK/empty.json"
one_line_error "$BATON" route --config "$CFG" -f "$WORK/empty.json"
grep -q "messages" "$WORK/err" || fail "empty messages: $(cat "$WORK/err")"
one_line_error "$BATON" route --config "$CFG" -f "$WORK/nope.json"
one_line_error "$BATON" route --config "$CFG" -p $'\xff\xfe'
[ "$fails" -eq 0 ] && echo "ok test_route.sh" >&2
exit $((fails > 0))
