#!/usr/bin/env bash
# serve --metrics-listen: Prometheus metrics over HTTP, judged by promtool
# (Debian's prometheus package) and by the counts they must show after real
# calls on swtpm: an enrollment (Begin and Finish accepted) and one refused
# at Finish (no event log: EVENTLOG_REQUIRED). Also: latency histograms
# counting every call, nothing in flight after, the replay guard's size, the
# issuer's notAfter as openssl reads it, the version; 404 off /metrics; a bad
# address refused as bad usage. Usage (under with-swtpm): test_metrics.sh BUILD_DIR
set -euo pipefail
build=${1:?usage}
src=$(cd "$(dirname "$0")/../.." && pwd)
V="$build/bin/rattest-verifier"
B="$build/bin/rattest-bootstrap"
LOG="$src/tests/data/eventlogs/arch-linux-workstation/arch-linux-workstation.bin"
work=$(mktemp -d)
vpid=""
trap 'stop_verifier; rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/verifier.sh"
VERIFIER_ARGS=(--ek-ca "$RATTEST_EK_CA_BUNDLE")

"$src/certs/mkpki" "$work/pki" > /dev/null
"$build/tests/rt_log_extend" "$LOG" > /dev/null
enroll() { # NAME HANDLE EVENT_LOG
  "$B" enroll --verifier "localhost:$port" --ca "$work/pki/tls-ca.pem" --state-dir "$work/s-$1" \
    --name "$1" --handle "$2" --ek rsa --event-log "$3" --timeout 30s
}
# value NAME LABELS: the sample's value in the last scrape ("" when absent).
value() {
  python3 - "$work/scrape" "$1" "$2" <<'PY'
import sys
text, name, labels = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
want = name + ("{" + labels + "}" if labels else "")
print(next((l.rsplit(" ", 1)[1] for l in text.splitlines() if l.rsplit(" ", 1)[0] == want), ""))
PY
}
same() { # WHAT GOT WANT
  if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi
}
scrape() { curl -sf "http://127.0.0.1:$mport/metrics" -o "$work/scrape"; }

start_verifier --metrics-listen 127.0.0.1:0
mport=$(sed -n 's/.*metrics on http:.*(port \([0-9]*\)).*/\1/p' "$work/verifier.log")
check "the metrics port is logged" test -n "$mport"
# libmicrohttpd's threads too leave the stop signals to serve's main thread.
why=$(stop_signals_blocked) && ok || bad "signals: $why"

# --- 1. Before any call: valid, nothing counted ---------------------------
check "scrape" scrape
check "promtool accepts the exposition" sh -c 'promtool check metrics < "$1"' - "$work/scrape"
same "no Begin counted yet" "$(value rattest_enrollment_calls_total 'method="Begin",decision="accept",code="OK"')" ""
same "Begin histogram empty" "$(value rattest_enrollment_call_duration_seconds_count 'method="Begin"')" 0

# --- 2. An enrollment and a refusal move the counters ---------------------
check "enroll" enroll ok 0x81000100 "$LOG"
refuse "enroll without an event log" enroll nolog 0x81000101 /nonexistent
check "scrape again" scrape
check "promtool accepts it again" sh -c 'promtool check metrics < "$1"' - "$work/scrape"
same "Begin accepted twice" "$(value rattest_enrollment_calls_total 'method="Begin",decision="accept",code="OK"')" 2
same "Finish accepted once" "$(value rattest_enrollment_calls_total 'method="Finish",decision="accept",code="OK"')" 1
same "Finish refused once, EVENTLOG_REQUIRED" "$(value rattest_enrollment_calls_total 'method="Finish",decision="reject",code="EVENTLOG_REQUIRED"')" 1
same "audit agrees: one Finish reject" "$(grep -c '"method":"Finish","decision":"reject","code":"EVENTLOG_REQUIRED"' "$work/audit.log")" 1
same "Begin latency counted" "$(value rattest_enrollment_call_duration_seconds_count 'method="Begin"')" 2
same "Finish latency counted" "$(value rattest_enrollment_call_duration_seconds_count 'method="Finish"')" 2
same "+Inf bucket = count" "$(value rattest_enrollment_call_duration_seconds_bucket 'method="Finish",le="+Inf"')" 2
same "nothing in flight" "$(value rattest_enrollment_calls_in_flight '')" 0
guard=$(value rattest_replay_guard_entries '')
check "the accepted Finish's token is in the guard ($guard)" test "${guard:-0}" -ge 1
end=$(openssl x509 -in "$work/pki/issuer-chain.pem" -noout -enddate | cut -d= -f2)
same "issuer notAfter" "$(value rattest_issuer_not_after_timestamp_seconds '')" "$(date -u -d "$end" +%s)"
version=$("$V" --version | awk '{print $NF}')
same "build info" "$(value rattest_build_info "version=\"$version\"")" 1

# --- 3. Only /metrics; a bad address is bad usage -------------------------
same "404 elsewhere" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/")" 404
set +e
"$V" serve --tls-cert x --tls-key x --ek-ca x --issuer-cert x --issuer-key x \
  --metrics-listen 127.0.0.1:99999 > "$work/out" 2>&1
rc=$?
set -e
if [ "$rc" = 2 ] && grep -q -- '--metrics-listen' "$work/out"; then ok; else bad "bad address: rc=$rc $(cat "$work/out")"; fi

finish test_metrics
