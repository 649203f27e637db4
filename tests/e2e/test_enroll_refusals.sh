#!/usr/bin/env bash
# Every check of the verifier, fed its bad case by rt_enroll_tamper on swtpm:
# each run must end with the specific status and rattest-error code, with no
# certificate in the answer (the tool fails if a refusal carries a message)
# and a "reject" audit line. Usage (under with-swtpm): test_enroll_refusals.sh BUILD_DIR
set -euo pipefail
build=${1:?usage}
src=$(cd "$(dirname "$0")/../.." && pwd)
V="$build/bin/rattest-verifier"
T="$build/tests/rt_enroll_tamper"
export RATTEST_TAMPER_LOG="$src/tests/data/eventlogs/arch-linux-workstation/arch-linux-workstation.bin"
work=$(mktemp -d)
vpid=""
trap 'stop_verifier; rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/verifier.sh"
VERIFIER_ARGS=(--ek-ca "$RATTEST_EK_CA_BUNDLE")

"$src/certs/mkpki" "$work/pki" > /dev/null
"$build/tests/rt_log_extend" "$RATTEST_TAMPER_LOG" > /dev/null


# expect MUTATION "STATUS CODE"
expect() {
  local m=$1 want=$2 got
  set +e
  "$T" "localhost:$port" "$work/pki/tls-ca.pem" "$m" > "$work/out" 2> "$work/err"
  local rc=$?
  set -e
  got=$(grep '^RESULT ' "$work/out" | tail -n 1 | cut -d' ' -f2-)
  if [ "$rc" -eq 0 ] && [ "$got" = "$want" ]; then ok; else
    bad "$m: got \"$got\" (rc=$rc), want \"$want\"; its stderr (last 80 lines):
$(tail -n 80 "$work/err")"; fi
  if [ "$want" != "OK -" ]; then
    local audit=${AUDIT:-$work/audit.log}
    if tail -n 1 "$audit" | grep -q "\"decision\":\"reject\",\"code\":\"${want#* }\""; then ok; else
      bad "$m: no reject audit line: $(tail -n 1 "$audit")"; fi
  fi
}

start_verifier
expect none "OK -"
expect ek-mismatch "PERMISSION_DENIED EK_MISMATCH"
expect ak-not-restricted "PERMISSION_DENIED AK_ATTRIBUTES"
expect ak-not-fixedtpm "PERMISSION_DENIED AK_ATTRIBUTES"
expect ak-noda "OK -"
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

# Identity names: the verifier refuses at Begin every name the bootstrap's
# state file would refuse (one rule, rt_name_check), so it never issues a
# certificate for an identity that cannot be stored. "." and ".." are the
# names of directories.
long=$(printf 'a%.0s' $(seq 65))
for name in . .. a/b "" "$long" "a b" ../x; do
  RATTEST_TAMPER_NAME=$name expect none "INVALID_ARGUMENT NAME_INVALID"
done
RATTEST_TAMPER_NAME=${long:1} expect none "OK -"
RATTEST_TAMPER_NAME=.a..b expect none "OK -"

# TPMs without an EK certificate: refused, unless the policy's ek_allowlist
# names the EK's key (SHA-256 of its SubjectPublicKeyInfo, computed here by
# openssl from the EK certificate in NV, not by our code).
expect no-ek-cert "PERMISSION_DENIED EK_MISMATCH"
tpm2_nvread 0x01c00002 -o "$work/ek.der" 2> /dev/null
ek_hash=$(openssl x509 -inform DER -in "$work/ek.der" -pubkey -noout |
  openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)
other=$(printf 'other' | sha256sum | cut -c1-64)
printf '{"ek_allowlist": ["%s", "%s"]}\n' "$other" "$ek_hash" > "$work/allow.json"
printf '{"ek_allowlist": ["%s"]}\n' "$other" > "$work/allow-other.json"
start_verifier --policy "$work/allow.json"
expect no-ek-cert "OK -"
if grep '"method":"Begin","decision":"accept"' "$work/audit.log" | tail -n 1 |
  grep -q "\"ek_sha256\":\"$ek_hash\",\"ek_trust\":\"allowlist\""; then ok; else
  bad "allow-listed EK: audit $(grep Begin "$work/audit.log" | tail -n 1)"; fi
# A listed EK is trusted by the list, whatever certificates come with it.
expect ek-mismatch "OK -"
start_verifier --policy "$work/allow-other.json"
expect no-ek-cert "PERMISSION_DENIED EK_MISMATCH"
if grep -q "not in the policy's ek_allowlist" "$work/audit.log"; then ok; else
  bad "EK_MISMATCH reason does not name the allow-list"; fi
# With certificates the chain check still applies next to the list.
expect none "OK -"
if grep '"method":"Begin","decision":"accept"' "$work/audit.log" | tail -n 1 |
  grep -q '"ek_trust":"certificate"'; then ok; else bad "certificate trust not in audit"; fi

# Event rules on the real log the TPM measured (rt_log_extend): the policy
# generated from it passes; each rule fed its bad case is refused as
# POLICY_EVENT, naming the rule, the PCR and the event.
"$V" policy from-log "$RATTEST_TAMPER_LOG" > "$work/golden.json"
edit_policy() { # OUT PYTHON-STATEMENT (on dict p)
  python3 -c "import json,sys; p=json.load(open('$work/golden.json')); $2; json.dump(p, open('$1','w'))"
}
start_verifier --policy "$work/golden.json"
expect none "OK -"
edit_policy "$work/sb.json" "p['events']['secure_boot']=True"
start_verifier --policy "$work/sb.json"
expect none "PERMISSION_DENIED POLICY_EVENT"
reason_has() {
  if tail -n 1 "$work/audit.log" | grep -qF "$1"; then ok; else
    bad "reason lacks '$1': $(tail -n 1 "$work/audit.log")"; fi
}
reason_has 'rule events.secure_boot: PCR 7 event '
edit_policy "$work/app.json" "p['events']['boot_apps']={'forbid':[p['events']['boot_apps']['allow'][-1]]}"
start_verifier --policy "$work/app.json"
expect none "PERMISSION_DENIED POLICY_EVENT"
reason_has 'rule events.boot_apps.forbid: PCR 4 event '
edit_policy "$work/cmd.json" "p['events']['kernel_cmdline']='^nomatch\$'"
start_verifier --policy "$work/cmd.json"
expect none "PERMISSION_DENIED POLICY_EVENT"
reason_has 'rule events.kernel_cmdline: PCR 8 event '

# Two verifiers sharing a token key: Begin at one, Finish at the other. With
# separate keys the second cannot open the first one's token.
"$V" token-key "$work/token.key" > /dev/null
if [ "$(stat -c %a "$work/token.key")" = 600 ]; then ok; else bad "token key mode"; fi
if "$V" token-key "$work/token.key" > /dev/null 2>&1; then bad "token key overwritten"; else ok; fi
second() {
  rm -f "$work/port2"
  "$V" serve --listen 127.0.0.1:0 --tls-cert "$work/pki/server-chain.pem" \
    --tls-key "$work/pki/server.key" --issuer-cert "$work/pki/issuer-chain.pem" \
    --issuer-key "$work/pki/issuer.key" --ek-ca "$RATTEST_EK_CA_BUNDLE" \
    --port-file "$work/port2" "$@" > "$work/audit2.log" 2> "$work/verifier2.log" &
  vpid2=$!
  for _ in $(seq 200); do [ -s "$work/port2" ] && break; sleep 0.05; done
  port2=$(cat "$work/port2")
}
start_verifier --token-key "$work/token.key"
second --token-key "$work/token.key"
RATTEST_TAMPER_FINISH_AT="localhost:$port2" expect none "OK -"
if grep -q '"method":"Finish","decision":"accept"' "$work/audit2.log"; then ok; else bad "second verifier did not finish"; fi
kill "$vpid2"; wait "$vpid2" 2>/dev/null || true
second
AUDIT="$work/audit2.log" RATTEST_TAMPER_FINISH_AT="localhost:$port2" expect none "PERMISSION_DENIED TOKEN_INVALID"
kill "$vpid2"; wait "$vpid2" 2>/dev/null || true
# Nothing the tool created is left loaded (direct mode: the count is global).
n=$(tpm2_getcap handles-transient 2>/dev/null | grep -c 0x || true)
[ "$n" = 0 ] && ok || bad "$n transient objects left"

finish "test_enroll_refusals.sh (${RATTEST_TPM_MODE:-direct})"
