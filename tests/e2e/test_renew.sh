#!/usr/bin/env bash
# Renewal before expiry on swtpm: a verifier issuing 1-hour certificates
# (policy cert_lifetime; the 5-minute backdate is clamped to the minutes-old
# issuing CA, so the default window, the last third, opens ~40 minutes in;
# --window 2h puts the certificate inside).
#   - outside the window `renew` does nothing: same files, same state;
#   - status exits 5 once --window puts the certificate inside;
#   - inside the window `renew` re-attests: a new serial and key at the same
#     handle, the old files gone, the --exec hook run with the identity in
#     its environment; a hook that fails makes renew exit 1;
#   - the provider hands out the renewed certificate and key at its next
#     load, in the same process (rt_store_reload), and a TLS server
#     demanding a client certificate (s_server -www, which prints the
#     certificate it got) sees the new one from s_client -provider rattest.
# Usage (under with-swtpm): test_renew.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: test_renew.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
V="$build/bin/rattest-verifier"
B="$build/bin/rattest-bootstrap"
LOG="$src/tests/data/eventlogs/arch-linux-workstation/arch-linux-workstation.bin"
work=$(mktemp -d)
vpid="" spid=""
cleanup() {
  [ -n "$spid" ] && { kill "$spid" 2> /dev/null; wait "$spid" 2> /dev/null; }
  stop_verifier
  rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/verifier.sh"
OSSL=(openssl)
[ -n "${RATTEST_PRELOAD:-}" ] && OSSL=(env LD_PRELOAD="$RATTEST_PRELOAD" ASAN_OPTIONS=detect_leaks=0 openssl)
export OPENSSL_MODULES="$build/lib"

"$src/certs/mkpki" "$work/pki" > /dev/null
"$build/tests/rt_log_extend" "$LOG" > /dev/null
echo '{"cert_lifetime": "1h"}' > "$work/policy.json"
VERIFIER_ARGS=(--ek-ca "$RATTEST_EK_CA_BUNDLE" --policy "$work/policy.json")
start_verifier
S="$work/state"
export RATTEST_STATE_DIR="$S"
"$B" enroll --verifier "localhost:$port" --ca "$work/pki/tls-ca.pem" --state-dir "$S" \
  --name web --ek rsa --event-log "$LOG" --timeout 30s > "$work/enroll.out" 2>&1 \
  || { cat "$work/enroll.out" >&2; exit 1; }
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["identities"]["web"][sys.argv[2]])' "$S/state.json" "$1"; }
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
cert1=$(field cert_file)
serial1=$(serial "$cert1")
# renew_web ARGS...: `renew web` with this test's TPM, log and CA; output in $work/renew.out.
renew_web() {
  "$B" renew web --ca "$work/pki/tls-ca.pem" --state-dir "$S" --ek rsa --event-log "$LOG" \
    --timeout 30s "$@" > "$work/renew.out" 2>&1
}

# --- outside the window: nothing happens ------------------------------------
check "status: valid, outside the window" "$B" status web --state-dir "$S"
before=$(cd "$S" && sha256sum state.json ./*.pem)
calls=$(wc -l < "$work/audit.log")
if renew_web && grep -q 'identity "web": valid until .*, renewal window opens .*: nothing to do' "$work/renew.out"; then ok; else
  bad "renew outside the window: $(cat "$work/renew.out")"; fi
if [ "$(cd "$S" && sha256sum state.json ./*.pem)" = "$before" ]; then ok; else bad "renew outside the window changed the state"; fi
if [ "$(wc -l < "$work/audit.log")" -eq "$calls" ]; then ok; else bad "renew outside the window called the verifier"; fi
rc=0; "$B" status web --state-dir "$S" --window 2h > "$work/status.out" 2>&1 || rc=$?
if [ "$rc" -eq 5 ] && grep -q 'renewal-due' "$work/status.out"; then ok; else bad "status --window 2h: rc=$rc $(cat "$work/status.out")"; fi

# --- the provider before the renewal ---------------------------------------
cat "$work/pki/issuer-chain.pem" "$work/pki/issuer-root.pem" > "$work/clientca.pem"
# served_serial: the serial of the client certificate s_server -www got
# from s_client -provider rattest -cert rattest:web (a fresh key load).
served_serial() {
  local sport
  for _ in $(seq 20); do
    sport=$((20000 + RANDOM % 20000))
    : > "$work/server.log"
    openssl s_server -accept "127.0.0.1:$sport" -www -naccept 1 -Verify 1 -verify_return_error \
      -CAfile "$work/clientca.pem" -cert "$work/pki/server-chain.pem" -key "$work/pki/server.key" \
      > "$work/server.log" 2>&1 &
    spid=$!
    for _ in $(seq 50); do grep -q ACCEPT "$work/server.log" && break; sleep 0.05; done
    grep -q ACCEPT "$work/server.log" && break
    wait "$spid" 2> /dev/null || true; spid=""
  done
  printf 'GET / HTTP/1.0\r\n\r\n' | timeout 30 "${OSSL[@]}" s_client -quiet -connect "127.0.0.1:$sport" \
    -CAfile "$work/pki/tls-ca.pem" -provider rattest -provider default -key rattest:web \
    -cert rattest:web > "$work/client.out" 2>&1 || true
  wait "$spid" 2> /dev/null || true; spid=""
  sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' "$work/client.out" > "$work/served.pem"
  openssl x509 -in "$work/served.pem" -noout -serial 2> /dev/null | cut -d= -f2
}
got=$(served_serial)
if [ -n "$got" ] && [ "$got" = "$serial1" ]; then ok; else
  bad "s_server saw client certificate '$got', want $serial1: $(head -c 600 "$work/client.out")"; fi

# --- inside the window: renewed, in the middle of one provider process ------
# The hook records its environment; rt_store_reload loads rattest:web, runs
# the renewal, loads again.
hook="env | grep -E '^RATTEST_(NAME|STATE_DIR|CERT_FILE|CHAIN_FILE|KEY_FILE)=' | sort > '$work/hook.env'"
cmd="'$B' renew web --ca '$work/pki/tls-ca.pem' --state-dir '$S' --ek rsa --event-log '$LOG' --timeout 30s --window 2h --exec \"$hook\" > '$work/renew.out' 2>&1"
# (A RATTEST_NAME of the caller's is replaced, not inherited. Under ASan,
# full stacks: tests/lsan.supp names the ESYS function that leaks.)
RT_TEST_OUT="$work/reload.out" check "one process loads rattest:web, renews, loads again" \
  env RATTEST_NAME=stale ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0" \
  "$build/tests/rt_store_reload" "$build/lib" rattest:web "$cmd"
cert2=$(field cert_file)
serial2=$(serial "$cert2")
if grep -q 'inside the renewal window since .*: renewing' "$work/renew.out" && grep -q '^enrolled identity "web"' "$work/renew.out"; then ok; else
  bad "renew inside the window: $(cat "$work/renew.out")"; fi
if [ "$serial2" != "$serial1" ] && [ ! -e "$cert1" ] && [ "$(field handle)" = 0x81000100 ]; then ok; else
  bad "not replaced: serial $serial1 -> $serial2, old cert file $(ls "$cert1" 2>&1), handle $(field handle)"; fi
if grep -qx "first $serial1 signs yes" "$work/reload.out" && grep -qx "second $serial2 signs yes" "$work/reload.out"; then ok; else
  bad "the provider's second load is not the renewed identity (want $serial1 then $serial2): $(cat "$work/reload.out")"; fi
# A server that keeps its first key object signs with whatever the handle
# holds now: its old certificate no longer matches (docs/provider.md,
# "Renewal": reload it).
if grep -qx "stale no" "$work/reload.out"; then ok; else bad "stale key object: $(cat "$work/reload.out")"; fi
printf 'RATTEST_CERT_FILE=%s\nRATTEST_CHAIN_FILE=%s\nRATTEST_KEY_FILE=%s\nRATTEST_NAME=web\nRATTEST_STATE_DIR=%s\n' \
  "$cert2" "$(field chain_file)" "$(field key_file)" "$S" > "$work/want.env"
if cmp -s "$work/hook.env" "$work/want.env"; then ok; else bad "hook environment: $(cat "$work/hook.env" 2>&1)"; fi
got=$(served_serial)
if [ "$got" = "$serial2" ]; then ok; else bad "s_server saw '$got' after renewal, want $serial2: $(head -c 600 "$work/client.out")"; fi
check "status: the renewed identity is valid" "$B" status web --state-dir "$S"

# --- a failing hook: renewed all the same, exit 1 ---------------------------
rc=0; renew_web --window 2h --exec 'exit 3' || rc=$?
if [ "$rc" -eq 1 ] && grep -q 'identity "web" renewed, but --exec exited 3' "$work/renew.out" \
  && [ "$(serial "$(field cert_file)")" != "$serial2" ]; then ok; else bad "failing hook: rc=$rc $(cat "$work/renew.out")"; fi
finish test_renew
