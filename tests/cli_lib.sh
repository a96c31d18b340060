# Sourced by the tests/test_*.sh scripts with the specdec binary's path: sets $bin, the shared
# models folder $models, a scratch folder $tmp removed on exit and the failure flag $fail, and
# gives the check every command-line test makes of bad input.
set -u
bin=$(realpath "$1")
models="${SPECDEC_MODELS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/../shared/models}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# expect_fatal WHAT NEEDLE COMMAND...: COMMAND (reading the caller's stdin) exits with status 2 and
# exactly one stderr line, which contains the fixed string NEEDLE (empty: any line).
expect_fatal() {
  local what="$1" needle="$2"; shift 2
  "$@" >/dev/null 2>"$tmp/err"
  local rc=$? lines
  lines=$(wc -l <"$tmp/err")
  if [ "$rc" != 2 ] || [ "$lines" != 1 ] || ! grep -qF -- "$needle" "$tmp/err"; then
    echo "FAIL: $what: exit $rc, $lines stderr lines, expected one containing '$needle':"; cat "$tmp/err"; fail=1
  fi
}
