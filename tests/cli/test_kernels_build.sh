#!/usr/bin/env bash
# The built decoding kernels hold what their source asks for. GCC once compiled every software
# prefetch of kernels/avx512.c away without a word (a static inline helper judged free of side
# effects), and the q6_K GEMV ran at half the read bandwidth for it; this fails if that happens
# again. Reads the binary's code with objdump (binutils, part of the build tools).
set -u
. "$(dirname "$0")/lib.sh" "$1"

if ! command -v objdump >/dev/null; then
  fail "objdump not found (Debian package binutils)"
else
  code=$(objdump -d --no-show-raw-insn "$BATON" | awk '/<avx512_packed_tile>:$/,/^$/')
  n=$(printf '%s\n' "$code" | grep -c 'prefetcht2')
  if [ -z "$code" ]; then
    fail "no avx512_packed_tile in $BATON (stripped, or built without the AVX-512 table)"
  elif [ "$n" -lt 1 ]; then
    fail "avx512_packed_tile has no prefetcht2: the q6_K GEMV's prefetch was compiled out"
  fi
fi
[ $fails -eq 0 ] && echo "ok: avx512_packed_tile keeps the q6_K GEMV's prefetch"
exit $((fails > 0))
