#!/usr/bin/env bash
# Health (issue 16) when the registry hangs instead of failing: the
# PostgreSQL server of tests/harness/with-postgres frozen (SIGSTOP), as a
# database behind a network that drops packets would be. The verifier's
# probe then blocks; after 5 s under way it counts as a failure, and the
# watchdog tells the watch NOT_SERVING (tests/tools/health_probe.py, each
# line the watch's status and a Check's); thawed (SIGCONT), SERVING again.
# Usage (under with-postgres): test_health_stall.sh BUILD_DIR
set -euo pipefail
build=${1:?usage}
src=$(cd "$(dirname "$0")/../.." && pwd)
V="$build/bin/rattest-verifier"
PY=/usr/bin/python3
db=${RATTEST_PG_URL:?run under tests/harness/with-postgres}
work=$(mktemp -d)
pgpids=""
trap '[ -z "$pgpids" ] || kill -CONT $pgpids 2> /dev/null; stop_verifier; rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/verifier.sh"

"$src/certs/mkpki" "$work/pki" > /dev/null
VERIFIER_ARGS=(--ek-ca "$work/pki/tls-ca.pem")
start_verifier --db "$db"
start_health_watch SERVING NOT_SERVING SERVING
wait_watch "SERVING SERVING" 1 && ok || bad "health watch: $(cat "$work/watch")"
# Every process of the server: the postmaster and its backends.
pgpids=$(pgrep -d ' ' -f -- "-D $RATTEST_PG_DIR/data" || true)
pgpids="$pgpids $(pgrep -d ' ' -P "${pgpids%% *}" || true)"
[ -n "${pgpids// /}" ] && ok || bad "no PostgreSQL processes found"
# shellcheck disable=SC2086 # a list of pids
kill -STOP $pgpids
wait_watch "NOT_SERVING NOT_SERVING" 2 && ok || bad "PostgreSQL frozen: $(cat "$work/watch")"
# shellcheck disable=SC2086
kill -CONT $pgpids
pgpids=""
wait "$watcher" && wait_watch "SERVING SERVING" 3 && ok || bad "PostgreSQL thawed: $(cat "$work/watch")"
grep -q 'health: NOT_SERVING' "$work/verifier.log" && ok ||
  bad "no health warning: $(tail -n 3 "$work/verifier.log")"
stop_verifier

finish health_stall_postgresql
