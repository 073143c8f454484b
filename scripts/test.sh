#!/usr/bin/env bash
# The whole test suite, from a fresh machine: dependencies, the three builds, every test layer.
#   1. build/      RelWithDebInfo: unit, golden and CLI tests (ctest)
#   2. build-san/  ASan + UBSan: the unit tests again
#   3. build-fuzz/ clang libFuzzer: each target replays its regression corpus, then fuzzes for
#                  $BATON_FUZZ_SECONDS (default 30) seconds
# Fixtures come from $BATON_FIXTURES (default: ../shared beside the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
./scripts/deps.sh
export BATON_FIXTURES=${BATON_FIXTURES:-$ROOT/../shared}
[ -d "$BATON_FIXTURES/models" ] || { echo "test.sh: fixtures not found at $BATON_FIXTURES" >&2; exit 1; }
JOBS=$(nproc)
FUZZ_SECONDS=${BATON_FUZZ_SECONDS:-30}

step() { printf '\n=== %s\n' "$*" >&2; }

step "build (RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"
step "tests (unit, golden, cli)"
ctest --test-dir build --output-on-failure -j"$JOBS" --timeout 1800

step "build (ASan + UBSan)"
cmake -S . -B build-san -DCMAKE_BUILD_TYPE=Debug -DBATON_SANITIZE=ON >/dev/null
cmake --build build-san -j"$JOBS"
step "unit tests under sanitizers"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-san -L unit --output-on-failure -j"$JOBS" --timeout 1800

step "build (libFuzzer)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBATON_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$JOBS"
for fz in build-fuzz/fuzz_*; do
  name=$(basename "$fz")
  corpus="tests/fuzz/corpus/${name#fuzz_}"
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
  step "fuzz $name: regression corpus, then ${FUZZ_SECONDS}s"
  if [ -d "$corpus" ]; then
    "$fz" -runs=0 "$corpus" 2>&1 | tail -2
  fi
  "$fz" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/" "$work" 2>&1 | grep -E "stat::number_of_executed_units|ERROR|crash|Done" || true
  if ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* >/dev/null 2>&1; then
    echo "fuzz $name found a failure; add it to $corpus as a regression file:" >&2
    ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null >&2
    exit 1
  fi
  rm -rf "$work"
done
step "all tests passed"
