# Helpers for tests/cli/test_*.sh, sourced as `. "$(dirname "$0")/lib.sh" "$1"` after `set -u`.
# Sets BATON (the binary, made absolute), SRC (the source tree), WORK (a scratch directory
# removed on exit) and fails; defines fail and one_line_error. Not a test itself (CMake runs
# test_*.sh only).
BATON=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=${BATON_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
# one_line_error COMMAND...: must exit non-zero with exactly one line on stderr, nothing on stdout.
one_line_error() {
  "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  [ $rc -ne 0 ] || { fail "succeeded: $*"; return; }
  [ "$(wc -l <"$WORK/err")" -eq 1 ] || fail "not one line on stderr: $*: $(cat "$WORK/err")"
  [ ! -s "$WORK/out" ] || fail "printed on stdout while failing: $*"
}
