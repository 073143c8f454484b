#!/usr/bin/env bash
# Installs every Debian package baton needs to build and test, and nothing that is already there.
# Idempotent: a second run installs nothing and takes about a second. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config       # the build
  clang libclang-rt-14-dev llvm          # libFuzzer targets, sanitizer runtimes, llvm-symbolizer
  libjansson-dev                         # JSON (tokenizer.json, configs, API bodies)
  libcurl4-openssl-dev                   # HTTP client to upstream tiers (multi interface)
  libyaml-dev                            # the serve configuration
  libsqlite3-dev                         # the cost ledger
  sqlite3                                # tests/cli/test_cost.sh writes ledgers with the CLI
  libpcre2-dev                           # regex rules and policies
  libssl-dev                             # SHA-256 (libcrypto): API key hashes, the audit chain
  libhiredis-dev redis-server            # limits shared across instances; the tests start redis
  libpq-dev postgresql                   # ledger and audit trail in PostgreSQL; the tests start one
  wrk time                               # bench/: load generator, peak memory (GNU time)
  python3                                # unicode table generator, golden-file scripts
  git ca-certificates curl               # fetching npm packages, the reference bundle
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js: any install that provides node and npm will do (nodesource's nodejs bundles npm and
# conflicts with Debian's npm package), so check the commands rather than the packages.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps.sh: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps.sh: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages the tests drive (real API clients), pinned by tests/clients/package-lock.json.
CLIENTS="$(cd "$(dirname "$0")/.." && pwd)/tests/clients"
if [ -f "$CLIENTS/package-lock.json" ] &&
   { [ ! -f "$CLIENTS/node_modules/.package-lock.json" ] ||
     [ "$CLIENTS/package-lock.json" -nt "$CLIENTS/node_modules/.package-lock.json" ]; }; then
  echo "deps.sh: installing npm test clients" >&2
  (cd "$CLIENTS" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
