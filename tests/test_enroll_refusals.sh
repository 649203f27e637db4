#!/usr/bin/env bash
# Every check of the verifier, fed its bad case by rt_enroll_tamper on swtpm:
# each run must end with the specific status and rattest-error code, with no
# certificate in the answer (the tool fails if a refusal carries a message)
# and a "reject" audit line. Usage (under with-swtpm): test_enroll_refusals.sh BUILD_DIR
set -euo pipefail
build=${1:?usage}
src=$(cd "$(dirname "$0")/.." && pwd)
V="$build/bin/rattest-verifier"
T="$build/tests/rt_enroll_tamper"
export RATTEST_TAMPER_LOG="$src/tests/data/eventlogs/arch-linux-workstation/arch-linux-workstation.bin"
work=$(mktemp -d)
vpid=""
stop_verifier() {
  if [ -n "$vpid" ]; then kill "$vpid" 2>/dev/null || true; wait "$vpid" 2>/dev/null || true; fi
  vpid=""
}
trap 'stop_verifier; rm -rf "$work"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

"$src/certs/mkpki" "$work/pki" > /dev/null
"$build/tests/rt_log_extend" "$RATTEST_TAMPER_LOG" > /dev/null

start_verifier() {
  stop_verifier
  rm -f "$work/port"
  "$V" serve --listen 127.0.0.1:0 --tls-cert "$work/pki/server-chain.pem" \
    --tls-key "$work/pki/server.key" --issuer-cert "$work/pki/issuer-chain.pem" \
    --issuer-key "$work/pki/issuer.key" --ek-ca "$RATTEST_EK_CA_BUNDLE" \
    --port-file "$work/port" "$@" > "$work/audit.log" 2> "$work/verifier.log" &
  vpid=$!
  for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.05; done
  [ -s "$work/port" ] || { cat "$work/verifier.log" >&2; exit 1; }
  port=$(cat "$work/port")
}

# expect MUTATION "STATUS CODE"
expect() {
  local m=$1 want=$2 got
  set +e
  "$T" "localhost:$port" "$work/pki/tls-ca.pem" "$m" > "$work/out" 2> "$work/err"
  local rc=$?
  set -e
  got=$(grep '^RESULT ' "$work/out" | tail -n 1 | cut -d' ' -f2-)
  if [ "$rc" -eq 0 ] && [ "$got" = "$want" ]; then ok; else
    bad "$m: got \"$got\" (rc=$rc), want \"$want\" $(head -c 300 "$work/err")"; fi
  if [ "$want" != "OK -" ]; then
    if tail -n 1 "$work/audit.log" | grep -q "\"decision\":\"reject\",\"code\":\"${want#* }\""; then ok; else
      bad "$m: no reject audit line: $(tail -n 1 "$work/audit.log")"; fi
  fi
}

start_verifier
expect none "OK -"
expect ek-mismatch "PERMISSION_DENIED EK_MISMATCH"
expect ak-not-restricted "PERMISSION_DENIED AK_ATTRIBUTES"
expect ak-not-fixedtpm "PERMISSION_DENIED AK_ATTRIBUTES"
expect wrong-secret "PERMISSION_DENIED SECRET_MISMATCH"
expect quote-nonce "PERMISSION_DENIED QUOTE_NONCE"
expect quote-pcrs "PERMISSION_DENIED QUOTE_PCR_SELECTION"
expect quote-other-key "PERMISSION_DENIED QUOTE_SIGNATURE"
expect certify-other-key "PERMISSION_DENIED CERTIFY_NAME"
expect key-restricted "PERMISSION_DENIED KEY_ATTRIBUTES"
expect key-exportable "PERMISSION_DENIED KEY_ATTRIBUTES"
expect key-alg-mismatch "PERMISSION_DENIED KEY_ALGORITHM"
expect possession "PERMISSION_DENIED POSSESSION_SIGNATURE"
expect no-event-log "PERMISSION_DENIED EVENTLOG_REQUIRED"
expect token-tampered "PERMISSION_DENIED TOKEN_INVALID"
expect token-replayed "PERMISSION_DENIED TOKEN_REPLAYED"
start_verifier --session-ttl 2s
expect token-expired "PERMISSION_DENIED TOKEN_EXPIRED"
# Nothing the tool created is left loaded (direct mode: the count is global).
n=$(tpm2_getcap handles-transient 2>/dev/null | grep -c 0x || true)
[ "$n" = 0 ] && ok || bad "$n transient objects left"

echo "test_enroll_refusals.sh (${RATTEST_TPM_MODE:-direct}): $pass passed, $fail failed"
[ "$fail" -eq 0 ]
