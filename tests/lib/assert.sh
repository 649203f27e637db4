# shellcheck shell=bash
# Sourced by the shell tests: counted assertions and the closing line
# "NAME: N passed, M failed" that ctest shows and CI reads. A test that
# checked nothing fails: it cannot have proven anything.
#
# A test may set RT_TEST_OUT to a file: check and refuse then leave their
# command's output there, and every failure shows that file, so a test's
# own commands writing to it get the same report.
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() {
  fail=$((fail + 1))
  echo "FAIL: $*" >&2
  if [ -n "${RT_TEST_OUT:-}" ] && [ -s "$RT_TEST_OUT" ]; then
    sed 's/^/    | /' "$RT_TEST_OUT" | head -n 20 >&2
  fi
}
# check WHAT CMD...: CMD must succeed; when it does not, its output is shown.
check() {
  local what=$1 out
  shift
  if [ -n "${RT_TEST_OUT:-}" ]; then
    if "$@" > "$RT_TEST_OUT" 2>&1; then ok; else bad "$what"; fi
    return 0
  fi
  out=$("$@" 2>&1) && ok || bad "$what: $(printf '%s' "$out" | head -c 600)"
}
# refuse WHAT CMD...: CMD must fail.
refuse() {
  local what=$1
  shift
  if "$@" > "${RT_TEST_OUT:-/dev/null}" 2>&1; then bad "$what: accepted"; else ok; fi
}
# finish NAME: the closing line, and the script's exit status.
finish() {
  echo "$1: $pass passed, $fail failed"
  [ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
}
