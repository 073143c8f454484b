#!/usr/bin/env bash
# What baton adds on top of an upstream, side by side with Portkey's open-source gateway
# (npm @portkey-ai/gateway, bench/portkey/) in front of the same upstream:
#   1. latency at fixed request rates (wrk, Poisson arrivals): p50 and p99 direct to the upstream, through
#      baton, through Portkey; "added" = through - direct at the same percentile;
#   2. throughput at saturation (wrk, 64 connections): requests/s through each.
# The upstream is bench_fast_upstream (baton's HTTP server answering a fixed completion at
# once), so the numbers are the gateways' own cost. Non-streaming chat completions; baton with
# its ledger and metrics on, as deployed.
#
#   bench/gateway_latency.sh [-d SECONDS] [RATE ...]      (default: 10 s at 500 1000 2000 rps)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DUR=10
while getopts "d:" o; do case $o in d) DUR=$OPTARG ;; *) exit 2 ;; esac; done
shift $((OPTIND - 1))
RATES=("$@"); [ ${#RATES[@]} -gt 0 ] || RATES=(500 1000 2000)
BUILD=${BUILD:-$ROOT/build}
[ -x "$BUILD/baton" ] && [ -x "$BUILD/bench_fast_upstream" ] || { echo "build first (cmake --build build)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "run scripts/deps.sh (wrk)" >&2; exit 1; }
PK=$ROOT/bench/portkey
[ -d "$PK/node_modules" ] || (cd "$PK" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

"$BUILD/bench_fast_upstream" > "$WORK/up.port" & pids+=($!)
for _ in $(seq 50); do [ -s "$WORK/up.port" ] && break; sleep 0.1; done
UP=$(head -1 "$WORK/up.port")
cat > "$WORK/baton.yaml" <<YAML
server: { ledger: $WORK/ledger.db, max_connections: 4096 }
tiers:
  - name: fast
    kind: openai
    base_url: http://127.0.0.1:$UP/v1
    price: { input: 1.0, output: 2.0 }
routes: []
YAML
"$BUILD/baton" serve --config "$WORK/baton.yaml" --port 0 2> "$WORK/baton.log" & pids+=($!)
for _ in $(seq 100); do grep -q "serving on" "$WORK/baton.log" && break; sleep 0.1; done
BP=$(sed -n 's/.*serving on http:\/\/[^:]*:\([0-9]*\)\/v1.*/\1/p' "$WORK/baton.log")
PKPORT=$((20000 + RANDOM % 20000))
(cd "$PK" && NODE_ENV=production exec node node_modules/@portkey-ai/gateway/build/start-server.js --port=$PKPORT --headless > "$WORK/portkey.log" 2>&1) & pids+=($!)
for _ in $(seq 100); do curl -s "http://127.0.0.1:$PKPORT/" >/dev/null 2>&1 && break; sleep 0.1; done

BODY='{"model":"fast","messages":[{"role":"user","content":"Say hello"}],"max_tokens":8}'
declare -A URL HDR
URL[direct]="http://127.0.0.1:$UP/v1/chat/completions"
URL[baton]="http://127.0.0.1:$BP/v1/chat/completions"
URL[portkey]="http://127.0.0.1:$PKPORT/v1/chat/completions"
HDR[portkey]="x-portkey-provider: openai|x-portkey-custom-host: http://127.0.0.1:$UP/v1|Authorization: Bearer unused"
for t in direct baton portkey; do   # each must answer before we measure it
  args=(); IFS='|' read -ra hs <<< "${HDR[$t]:-}"; for h in "${hs[@]}"; do [ -n "$h" ] && args+=(-H "$h"); done
  curl -sf "${args[@]}" -H 'content-type: application/json' -d "$BODY" "${URL[$t]}" | grep -q '"content"' ||
    { echo "$t does not answer:" >&2; curl -s "${args[@]}" -H 'content-type: application/json' -d "$BODY" "${URL[$t]}" >&2; exit 1; }
done

# Fixed-rate load with wrk: each of C connections waits an exponentially distributed time (mean
# C/rate s) before each request, so arrivals are Poisson-like at the target rate. (A constant
# per-connection delay would synchronise the connections into bursts of C requests, which
# measures burst draining rather than latency.) wrk reports the latency percentiles.
C=20
mklua() { # rate extra-header-lines -> script path
  local f=$WORK/rate_$1_$RANDOM.lua
  cat > "$f" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
$2
local mean_ms = 1000 * $C / $1
function delay() return -mean_ms * math.log(1 - math.random()) end
LUA
  echo "$f"
}
PKH='wrk.headers["x-portkey-provider"] = "openai"
wrk.headers["x-portkey-custom-host"] = "http://127.0.0.1:'$UP'/v1"
wrk.headers["Authorization"] = "Bearer unused"'
ms() { awk '{v = $2; if (v ~ /us$/) {sub(/us/, "", v); v /= 1000} else if (v ~ /ms$/) {sub(/ms/, "", v)} else if (v ~ /s$/) {sub(/s/, "", v); v *= 1000} printf "%.3f", v}'; }
run_rate() { # target rate -> "p50 p99 rps"
  local t=$1 rate=$2 extra=""
  [ "$t" = portkey ] && extra=$PKH
  local out; out=$(wrk -t1 -c$C -d"${DUR}s" --latency -s "$(mklua "$rate" "$extra")" "${URL[$t]}")
  echo "$(printf '%s\n' "$out" | awk '$1 == "50%"' | ms) $(printf '%s\n' "$out" | awk '$1 == "99%"' | ms) $(printf '%s\n' "$out" | awk '/Requests\/sec/ {print $2}')"
}

echo "## Added latency at fixed request rates (ms; ${DUR}s each, $C connections, Poisson arrivals)"
echo "| rate (req/s) | direct p50 / p99 | baton p50 / p99 | baton added p50 / p99 | portkey p50 / p99 | portkey added p50 / p99 |"
echo "|---|---|---|---|---|---|"
for rate in "${RATES[@]}"; do
  read -r d50 d99 dr <<< "$(run_rate direct "$rate")"
  read -r b50 b99 br <<< "$(run_rate baton "$rate")"
  read -r p50 p99 pr <<< "$(run_rate portkey "$rate")"
  awk -v r="$rate" -v d50="$d50" -v d99="$d99" -v b50="$b50" -v b99="$b99" -v p50="$p50" -v p99="$p99" \
      -v br="$br" -v pr="$pr" 'BEGIN {
    printf "| %d (baton served %.0f, portkey %.0f) | %.3f / %.3f | %.3f / %.3f | %.3f / %.3f | %.3f / %.3f | %.3f / %.3f |\n",
      r, br, pr, d50, d99, b50, b99, b50 - d50, b99 - d99, p50, p99, p50 - d50, p99 - d99 }'
done

cat > "$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
LUA
cp "$WORK/post.lua" "$WORK/post_pk.lua"
cat >> "$WORK/post_pk.lua" <<LUA
wrk.headers["x-portkey-provider"] = "openai"
wrk.headers["x-portkey-custom-host"] = "http://127.0.0.1:$UP/v1"
wrk.headers["Authorization"] = "Bearer unused"
LUA
rps() { wrk -t1 -c64 -d"${DUR}s" -s "$2" "$1" | awk '/Requests\/sec/ {print $2}'; }
echo
echo "## Throughput at saturation (wrk -t1 -c64, ${DUR}s)"
dr=$(rps "${URL[direct]}" "$WORK/post.lua"); br=$(rps "${URL[baton]}" "$WORK/post.lua"); pr=$(rps "${URL[portkey]}" "$WORK/post_pk.lua")
echo "| target | requests/s |"
echo "|---|---|"
echo "| upstream direct | $dr |"
echo "| baton | $br |"
echo "| portkey | $pr |"
awk -v b="$br" -v p="$pr" 'BEGIN { printf "\nbaton / portkey throughput: %.1fx\n", b / p }'
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')"
