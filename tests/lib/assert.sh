# shellcheck shell=bash
# Sourced by the shell tests: counted assertions and the closing line
# "NAME: N passed, M failed" that ctest shows and CI reads. A test that
# checked nothing fails: it cannot have proven anything.
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() {
  fail=$((fail + 1))
  echo "FAIL: $*" >&2
}
# check WHAT CMD...: CMD must succeed; when it does not, its output is shown.
check() {
  local what=$1 out
  shift
  out=$("$@" 2>&1) && ok || bad "$what: $(printf '%s' "$out" | head -c 600)"
}
# refuse WHAT CMD...: CMD must fail.
refuse() {
  local what=$1
  shift
  if "$@" > /dev/null 2>&1; then bad "$what: succeeded"; else ok; fi
}
# finish NAME: the closing line, and the script's exit status.
finish() {
  echo "$1: $pass passed, $fail failed"
  [ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
}
