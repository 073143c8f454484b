#!/usr/bin/env bash
# The `baton cost` contract: --estimate arithmetic (the published example: $708.75 and $22.50),
# the report per tier and per route on a ledger written here with the sqlite3 CLI in the
# documented schema (version 1, src/gateway/ledger.c), --since, --by, the saving against the
# config's most expensive tier, and one-line errors. $1: the baton binary.
set -u
. "$(dirname "$0")/lib.sh" "$1"

# --- --estimate: 300 employees x 5 requests/day x 1K in + 1K out x 30 days
est() { "$BATON" cost --estimate --users 300 --requests-per-day 5 --input-tokens 1000 \
          --output-tokens 1000 "$@"; }
est --price-in 1.75 --price-out 14.00 >"$WORK/out" 2>"$WORK/err" || fail "estimate failed: $(cat "$WORK/err")"
grep -q '^total: .*= \$708.75 per 30 days$' "$WORK/out" || fail "estimate: no \$708.75: $(cat "$WORK/out")"
grep -q '45000 requests' "$WORK/out" || fail "estimate: arithmetic not shown"
grep -q '45000000 tokens x \$1.75 per 1M = \$78.75' "$WORK/out" || fail "estimate: input line"
grep -q '45000000 tokens x \$14.00 per 1M = \$630.00' "$WORK/out" || fail "estimate: output line"
est --price-in 0.10 --price-out 0.40 >"$WORK/out" 2>&1 || fail "estimate 2 failed"
grep -q '^total: .*= \$22.50 per 30 days$' "$WORK/out" || fail "estimate: no \$22.50: $(cat "$WORK/out")"
est --price-in 0.10 --price-out 0.40 --days 1 >"$WORK/out" 2>&1 || fail "--days 1 failed"
grep -q '= \$0.75 per 1 days$' "$WORK/out" || fail "--days 1: $(cat "$WORK/out")"
# prices are exact decimals: 0.000001 per 1M over 1M tokens is one micro-dollar
"$BATON" cost --estimate --users 1 --requests-per-day 1 --days 1 --input-tokens 1000000 \
  --output-tokens 0 --price-in 0.000001 --price-out 0 >"$WORK/out" 2>&1 || fail "tiny price failed"
grep -q '= \$0.000001 per 1 days$' "$WORK/out" || fail "tiny price: $(cat "$WORK/out")"
one_line_error est --price-in 1.75
grep -q -- "--price-out" "$WORK/err" || fail "missing --price-out not named: $(cat "$WORK/err")"
one_line_error est --price-in 1.7500001 --price-out 1
grep -q "more than 6 decimals" "$WORK/err" || fail "7 decimals: $(cat "$WORK/err")"
one_line_error est --price-in -1 --price-out 1
one_line_error est --price-in 1 --price-out 1 --users 0
one_line_error "$BATON" cost --estimate --users 1000000000 --requests-per-day 1000000000 \
  --input-tokens 1000000000 --output-tokens 1 --price-in 1 --price-out 1 --days 36600
grep -q "does not fit" "$WORK/err" || fail "overflow: $(cat "$WORK/err")"
one_line_error "$BATON" cost --users 3
one_line_error "$BATON" cost --bogus 1
"$BATON" cost --help >"$WORK/out" 2>&1 || fail "--help should exit 0"
grep -q -- "--estimate" "$WORK/out" || fail "--help does not describe --estimate"

# --- the report
if ! command -v sqlite3 >/dev/null; then
  echo "skip: the report tests need the sqlite3 CLI (scripts/deps.sh installs it)" >&2
else
  L="$WORK/ledger.db"
  # costs at small 0.01/0.02 and large 0.05/0.10 per 1M tokens (examples/baton.yaml)
  sqlite3 "$L" >/dev/null <<'SQL'
PRAGMA journal_mode = WAL;
CREATE TABLE requests (id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, request_id TEXT,
  caller TEXT, route TEXT, tier TEXT NOT NULL, reason TEXT, tokens_in INTEGER NOT NULL,
  tokens_out INTEGER NOT NULL, cost_microusd INTEGER NOT NULL, latency_ms INTEGER NOT NULL,
  ttft_ms INTEGER NOT NULL, status INTEGER NOT NULL, error TEXT);
CREATE INDEX requests_ts ON requests(ts_ms);
PRAGMA user_version = 1;
-- 2024-05-01T00:00:00Z = 1714521600000
INSERT INTO requests VALUES (NULL, 1714521600000, 'c1', 'k', 'auto', 'small', 'default', 1000000, 500000, 20000, 100, 10, 200, NULL);
INSERT INTO requests VALUES (NULL, 1714525200000, 'c2', 'k', 'auto', 'large', 'rule long', 2000000, 1000000, 200000, 900, 50, 200, NULL);
INSERT INTO requests VALUES (NULL, 1714608000000, 'c3', 'k', NULL, 'small', 'tier requested', 3000000, 0, 30000, 50, 5, 200, NULL);
INSERT INTO requests VALUES (NULL, 1714611600000, 'c4', 'k', 'auto', 'small', 'default', 0, 0, 0, 1, -1, 503, 'queue full');
SQL
  CFG="$SRC/examples/baton.yaml"
  "$BATON" cost --config "$CFG" --ledger "$L" >"$WORK/out" 2>"$WORK/err" || fail "report failed: $(cat "$WORK/err")"
  row() { grep -E "$1" "$WORK/out" | head -1 | tr -s ' '; }
  [ "$(row '^  large ')" = " large 1 0 2000000 1000000 \$0.20" ] || fail "large row: $(row '^  large ')"
  [ "$(row '^  small ')" = " small 3 1 4000000 500000 \$0.05" ] || fail "small row: $(row '^  small ')"
  [ "$(row '^  auto ')" = " auto 3 1 3000000 1500000 \$0.22" ] || fail "auto row: $(row '^  auto ')"
  [ "$(row '^  \(tier named\) ')" = " (tier named) 1 0 3000000 0 \$0.03" ] || fail "tier-named row"
  [ "$(grep -c '^  total ' "$WORK/out")" -eq 2 ] || fail "expected a total row per table"
  [ "$(row '^  total ')" = " total 4 1 6000000 1500000 \$0.25" ] || fail "total row: $(row '^  total ')"
  grep -q '^period: 2024-05-01T00:00:00Z .. 2024-05-02T01:00:00Z$' "$WORK/out" || fail "period: $(grep period "$WORK/out")"
  # all at large: 6M in x 0.05 + 1.5M out x 0.10 = 0.30 + 0.15 = $0.45; actual $0.25
  grep -q 'saving against sending everything to large (\$0.05 in, \$0.10 out per 1M tokens)' "$WORK/out" \
    || fail "no saving header: $(cat "$WORK/out")"
  grep -q 'all on large: \$0.45; actual: \$0.25; saved: \$0.20 (44.4%)' "$WORK/out" \
    || fail "saving numbers: $(grep saved "$WORK/out")"

  # --since (with a zone) and --by
  "$BATON" cost --config "$CFG" --ledger "$L" --since 2024-05-02T02:00:00+02:00 --by tier \
    >"$WORK/out" 2>"$WORK/err" || fail "--since failed: $(cat "$WORK/err")"
  [ "$(row '^  total ')" = " total 2 1 3000000 0 \$0.03" ] || fail "--since total: $(row '^  total ')"
  grep -q 'by route' "$WORK/out" && fail "--by tier printed the route table"
  grep -q '(since 2024-05-02T00:00:00Z)' "$WORK/out" || fail "--since not echoed in UTC"
  "$BATON" cost --ledger "$L" --since 2024-05-01 --by route >"$WORK/out" 2>&1 || fail "no-config report failed"
  grep -q 'saving: give --config' "$WORK/out" || fail "no hint without --config"
  grep -q 'by tier' "$WORK/out" && fail "--by route printed the tier table"
  "$BATON" cost --ledger "$L" --since 2030-01-01 >"$WORK/out" 2>&1 || fail "empty window failed"
  grep -q 'period: no requests' "$WORK/out" || fail "empty window: $(head -3 "$WORK/out")"

  # the ledger path comes from the config when --ledger is absent (relative to the config)
  mkdir -p "$WORK/cfg"
  cp "$L" "$WORK/cfg/baton-ledger.db"
  printf 'tiers:\n  - { name: a, kind: local, model: m.gguf }\n' >"$WORK/cfg/baton.yaml"
  (cd / && "$BATON" cost --config "$WORK/cfg/baton.yaml" >"$WORK/out" 2>"$WORK/err") || fail "config ledger path: $(cat "$WORK/err")"
  grep -q "^ledger: $WORK/cfg/baton-ledger.db$" "$WORK/out" || fail "ledger path: $(head -1 "$WORK/out")"
  grep -q 'every tier is priced at 0' "$WORK/out" || fail "zero prices not said"

  one_line_error "$BATON" cost --ledger "$WORK/missing.db"
  grep -q "missing.db: No such file or directory" "$WORK/err" || fail "missing ledger: $(cat "$WORK/err")"
  one_line_error "$BATON" cost --ledger "$L" --since 2024-13-01
  one_line_error "$BATON" cost --ledger "$L" --since 2024-02-30
  one_line_error "$BATON" cost --ledger "$L" --by model
  printf 'server: { ledger: "" }\ntiers:\n  - { name: a, kind: local, model: m }\n' >"$WORK/off.yaml"
  one_line_error "$BATON" cost --config "$WORK/off.yaml"
  grep -q "turns the ledger off" "$WORK/err" || fail "ledger off: $(cat "$WORK/err")"
  sqlite3 "$WORK/newer.db" 'PRAGMA user_version = 7;'
  one_line_error "$BATON" cost --ledger "$WORK/newer.db"
  grep -q "schema version 7 is newer" "$WORK/err" || fail "newer schema: $(cat "$WORK/err")"
fi
[ "$fails" -eq 0 ] && echo "ok test_cost.sh" >&2
exit $((fails > 0))
