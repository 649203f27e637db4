# shellcheck shell=bash
# Sourced by the shell tests that run a verifier: start_verifier [ARGS...]
# serves on a free loopback port with the development PKI in $work/pki,
# audit lines in $work/audit.log and diagnostics in $work/verifier.log, sets
# $port and $vpid; stop_verifier ends it. Needs $V (rattest-verifier) and
# $work; ${VERIFIER_ARGS[@]} (e.g. --ek-ca) go to every start, and
# $LISTEN_PORT picks a fixed port.
vpid=""
VERIFIER_ARGS=()
stop_verifier() {
  if [ -n "$vpid" ]; then kill "$vpid" 2> /dev/null || true; wait "$vpid" 2> /dev/null || true; fi
  vpid=""
}
start_verifier() {
  stop_verifier
  rm -f "$work/port"
  "$V" serve --listen "127.0.0.1:${LISTEN_PORT:-0}" --tls-cert "$work/pki/server-chain.pem" \
    --tls-key "$work/pki/server.key" --issuer-cert "$work/pki/issuer-chain.pem" \
    --issuer-key "$work/pki/issuer.key" --port-file "$work/port" ${VERIFIER_ARGS[@]+"${VERIFIER_ARGS[@]}"} "$@" \
    > "$work/audit.log" 2> "$work/verifier.log" &
  vpid=$!
  for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.05; done
  [ -s "$work/port" ] || { cat "$work/verifier.log" >&2; echo "verifier did not start" >&2; exit 1; }
  port=$(cat "$work/port")
}
# stop_signals_blocked: every thread of the verifier but the main one (gRPC's,
# libmicrohttpd's, the CRL writer's) blocks SIGHUP, SIGINT and SIGTERM (bits
# 0x4003 of SigBlk), so only serve's sigtimedwait() takes them: one delivered
# to another thread would kill the process instead of reloading or draining
# it. (The main thread shows them unblocked while it waits in sigtimedwait.)
stop_signals_blocked() {
  local t blk n=0
  for t in /proc/"$vpid"/task/*; do
    [ "${t##*/}" != "$vpid" ] || continue
    blk=$(sed -n 's/^SigBlk:\t//p' "$t/status" 2> /dev/null) || continue
    [ -n "$blk" ] || continue
    n=$((n + 1))
    [ $((0x$blk & 0x4003)) = $((0x4003)) ] || { echo "thread $(cat "$t/comm" 2> /dev/null) SigBlk $blk"; return 1; }
  done
  [ "$n" -gt 0 ] || { echo "no thread but the main one"; return 1; }
}
# start_health_watch [STATES...]: tests/tools/health_probe.py watching the
# verifier's health service (service "") in the background ($watcher), each
# status it sees and a Check's written a line to $work/watch, expecting
# STATES in turn; wait_watch LINE N waits (30 s at most) until the watch's
# Nth line is LINE. Needs $PY and $src.
start_health_watch() {
  "$PY" "$src/tests/tools/health_probe.py" "localhost:$port" "$work/pki/tls-ca.pem" "" \
    --watch "$@" --timeout 60 > "$work/watch" 2>&1 &
  watcher=$!
}
wait_watch() {
  for _ in $(seq 600); do [ "$(sed -n "$2p" "$work/watch")" = "$1" ] && return 0; sleep 0.05; done
  return 1
}
