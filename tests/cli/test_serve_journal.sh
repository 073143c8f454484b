#!/usr/bin/env bash
# `baton serve -m MODEL --ledger PATH` (no config) journals its ledger rows beside the ledger
# (PATH's directory/baton-journal), as a config's server.journal does beside the config: the
# journal exists once the server runs, and a request answered just before a SIGKILL is in the
# ledger after the next start, committed or replayed. $1: the baton binary.
set -u
. "$(dirname "$0")/lib.sh" "$1"
MODEL=${BATON_FIXTURES:-$SRC/../shared}/models/stories260K.gguf
[ -f "$MODEL" ] || { echo "FAIL: no $MODEL" >&2; exit 1; }
command -v curl >/dev/null || { echo "FAIL: no curl (scripts/deps.sh installs it)" >&2; exit 1; }

# start_server: runs baton serve in the background on a free port; sets PID and PORT.
start_server() {
  "$BATON" serve -m "$MODEL" --ledger "$WORK/data/ledger.db" --port 0 2>"$WORK/serve.err" &
  PID=$!
  PORT=
  for _ in $(seq 1 100); do
    PORT=$(sed -n 's|.*serving on http://127.0.0.1:\([0-9]*\)/v1.*|\1|p' "$WORK/serve.err")
    [ -n "$PORT" ] && return 0
    kill -0 $PID 2>/dev/null || break
    sleep 0.1
  done
  fail "the server did not start: $(cat "$WORK/serve.err")"
  return 1
}

mkdir -p "$WORK/data"
if start_server; then
  [ -d "$WORK/data/baton-journal" ] || fail "no journal beside the ledger ($WORK/data/baton-journal)"
  [ -n "$(ls -A "$WORK/data/baton-journal" 2>/dev/null)" ] || fail "the journal directory is empty"
  curl -sf "http://127.0.0.1:$PORT/v1/chat/completions" -H 'content-type: application/json' \
    -d '{"model":"auto","messages":[{"role":"user","content":"Once upon a time"}],"max_tokens":8}' \
    >"$WORK/answer" || fail "the request failed"
  grep -q '"chat.completion"' "$WORK/answer" || fail "not a chat completion: $(cat "$WORK/answer")"
  kill -9 $PID
  wait $PID 2>/dev/null
  if start_server; then
    kill -TERM $PID
    wait $PID 2>/dev/null
  fi
  "$BATON" cost --ledger "$WORK/data/ledger.db" >"$WORK/cost" 2>&1 || fail "cost failed: $(cat "$WORK/cost")"
  grep -q "stories260K" "$WORK/cost" || fail "the request is not in the ledger: $(cat "$WORK/cost")"
fi
[ "$fails" -eq 0 ] || exit 1
echo "ok"
