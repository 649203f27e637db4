#!/usr/bin/env bash
# The platform certificate in enrollment, on swtpm, with the real binaries:
#   - "platform_cert": "required" and a subject built from the certificate:
#     rattest-bootstrap enrolls with swtpm's own platform certificate, the
#     Begin audit line names the platform, the key certificate's subject
#     carries manufacturer and model;
#   - a verifier trusting another platform CA refuses PLATFORM_CERT_CHAIN;
#   - a policy requiring platform certificates without --platform-ca does
#     not start;
#   - rt_enroll_tamper sends attribute certificates made by
#     platform_cert_tool (one with a platform serial, then expired, naming
#     another EK, garbage, none) and each refusal has its code.
# Usage (under with-swtpm): test_enroll_platform.sh BUILD_DIR
set -euo pipefail
build=${1:?usage}
src=$(cd "$(dirname "$0")/../.." && pwd)
V="$build/bin/rattest-verifier"
B="$build/bin/rattest-bootstrap"
TAMPER="$build/tests/rt_enroll_tamper"
TOOL="$build/tests/platform_cert_tool"
LOG="$src/tests/data/eventlogs/arch-linux-workstation/arch-linux-workstation.bin"
export RATTEST_TAMPER_LOG="$LOG"
work=$(mktemp -d)
vpid=""
trap 'stop_verifier; rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/verifier.sh"
VERIFIER_ARGS=(--ek-ca "$RATTEST_EK_CA_BUNDLE")

"$src/certs/mkpki" "$work/pki" > /dev/null
"$src/certs/mkpki" "$work/other-pki" > /dev/null
"$build/tests/rt_log_extend" "$LOG" > /dev/null
tpm2_nvread 0x01c08000 -o "$work/plat.der" 2> /dev/null
tpm2_nvread 0x01c00002 -o "$work/ek-rsa.der" 2> /dev/null
tpm2_nvread 0x01c00016 -o "$work/ek-ecc.der" 2> /dev/null
CAKEY=$RATTEST_TPM_DIR/ca/signkey.pem

enroll() { # STATE_DIR [args...]
  local dir=$1; shift
  "$B" enroll --verifier "localhost:$port" --ca "$work/pki/tls-ca.pem" --state-dir "$dir" \
    --key-alg ecc-p256 --ek rsa --event-log "$LOG" --timeout 30s "$@"
}
# expect PLATFORM_CERT_FILE|- "STATUS CODE": rt_enroll_tamper's verdict, and
# a reject audit line with the code unless accepted.
expect() {
  local file=$1 want=$2 got rc
  set +e
  if [ "$file" = - ]; then
    env -u RATTEST_TAMPER_PLATFORM_CERT "$TAMPER" "localhost:$port" "$work/pki/tls-ca.pem" none > "$work/out" 2> "$work/err"
  else
    RATTEST_TAMPER_PLATFORM_CERT=$file "$TAMPER" "localhost:$port" "$work/pki/tls-ca.pem" none > "$work/out" 2> "$work/err"
  fi
  rc=$?
  set -e
  got=$(grep '^RESULT ' "$work/out" | tail -n 1 | cut -d' ' -f2-)
  if [ "$rc" -eq 0 ] && [ "$got" = "$want" ]; then ok; else
    bad "$file: got \"$got\" (rc=$rc), want \"$want\" $(head -c 300 "$work/err")"; fi
  if [ "$want" != "OK -" ]; then
    if tail -n 1 "$work/audit.log" | grep -q "\"decision\":\"reject\",\"code\":\"${want#* }\""; then ok; else
      bad "$file: no reject audit line: $(tail -n 1 "$work/audit.log")"; fi
  fi
}
begin_line() { grep '"method":"Begin"' "$work/audit.log" | tail -n 1; }

# --- 1. The bootstrap with swtpm's platform certificate, required ---------
cat > "$work/policy.json" <<'EOF'
{"platform_cert": "required",
 "subject": {"common_name": "{name}", "organization": "{platform_manufacturer}",
             "organizational_unit": "{platform_model}"}}
EOF
start_verifier --platform-ca "$RATTEST_EK_CA_BUNDLE" --policy "$work/policy.json"
check "the verifier says what it does with platform certificates" grep -q 'platform certificates: required' "$work/verifier.log"
check "enroll with the platform certificate required" enroll "$work/state"
check "Begin's audit line names the platform" sh -c "grep '\"method\":\"Begin\",\"decision\":\"accept\"' '$work/audit.log' | grep -q '\"platform\":{\"manufacturer\":\"rattest\",\"model\":\"swtpm\",\"version\":\"2.1\",\"verified\":true}'"
check "Finish accepted" grep -q '"method":"Finish","decision":"accept"' "$work/audit.log"
cert=$(ls "$work/state"/default-*.cert.pem)
subject=$(openssl x509 -in "$cert" -noout -subject -nameopt RFC2253)
if [ "$subject" = "subject=CN=default,OU=swtpm,O=rattest" ]; then ok; else bad "key certificate subject: $subject"; fi

# --- 2. Another platform CA: refused -----------------------------------------
start_verifier --platform-ca "$work/other-pki/tls-ca.pem" --policy "$work/policy.json"
set +e
enroll "$work/state-other" --handle 0x81000101 > "$work/out" 2>&1; rc=$?
set -e
if [ "$rc" -ne 0 ] && grep -q 'PLATFORM_CERT_CHAIN' "$work/out"; then ok; else bad "wrong platform CA: rc=$rc $(cat "$work/out")"; fi
check "no state written" test ! -e "$work/state-other/state.json"
if begin_line | grep -q '"decision":"reject","code":"PLATFORM_CERT_CHAIN"' &&
  begin_line | grep -q '"platform":{"manufacturer":"rattest","model":"swtpm","version":"2.1","verified":false}'; then ok
else bad "refusal audit line: $(begin_line)"; fi

# --- 3. Configuration: a policy needing CAs that are not given ---------------
echo '{"platform_cert": "verify"}' > "$work/verify.json"
set +e
"$V" serve --listen 127.0.0.1:0 --tls-cert "$work/pki/server-chain.pem" --tls-key "$work/pki/server.key" \
  --issuer-cert "$work/pki/issuer-chain.pem" --issuer-key "$work/pki/issuer.key" \
  --ek-ca "$RATTEST_EK_CA_BUNDLE" --policy "$work/verify.json" > /dev/null 2> "$work/start.err"; rc=$?
set -e
if [ "$rc" = 1 ] && grep -q '"platform_cert": "verify" but no --platform-ca was given' "$work/start.err"; then ok
else bad "policy verify without --platform-ca: rc=$rc $(cat "$work/start.err")"; fi
set +e
"$V" serve --listen 127.0.0.1:0 --tls-cert "$work/pki/server-chain.pem" --tls-key "$work/pki/server.key" \
  --issuer-cert "$work/pki/issuer-chain.pem" --issuer-key "$work/pki/issuer.key" \
  --ek-ca "$RATTEST_EK_CA_BUNDLE" --platform-ca "$work/nothing-here" > /dev/null 2> "$work/start.err"; rc=$?
set -e
if [ "$rc" = 1 ] && grep -q 'platform CA .*nothing-here: cannot access it' "$work/start.err"; then ok
else bad "missing --platform-ca file: rc=$rc $(cat "$work/start.err")"; fi

# --- 4. Attribute certificates through the tampering client -------------------
ac() { "$TOOL" make-ac "$@" --issuer-cert "$RATTEST_EK_CA_INTERMEDIATE" --key "$CAKEY" \
  --manufacturer "Example Corp" --model "Box 9000" --version 1.2 --serial SN-0042; }
ac "$work/ac.der" --holder-cert "$work/ek-rsa.der"
ac "$work/ac-expired.der" --holder-cert "$work/ek-rsa.der" --not-before 20190101000000Z --not-after 20210101000000Z
ac "$work/ac-ecc.der" --holder-cert "$work/ek-ecc.der"
head -c 400 /dev/urandom > "$work/garbage.der"
cat > "$work/serial.json" <<'EOF'
{"platform_cert": "required", "subject": {"common_name": "{name}-{platform_serial}"}}
EOF
start_verifier --platform-ca "$RATTEST_EK_CA_BUNDLE" --policy "$work/serial.json"
expect "$work/ac.der" "OK -"
if begin_line | grep -q '"platform":{"manufacturer":"Example Corp","model":"Box 9000","version":"1.2","serial":"SN-0042","verified":true}'; then ok
else bad "attribute certificate audit line: $(begin_line)"; fi
expect "$work/ac-expired.der" "PERMISSION_DENIED PLATFORM_CERT_EXPIRED"
expect "$work/ac-ecc.der" "PERMISSION_DENIED PLATFORM_CERT_HOLDER"
expect "$work/garbage.der" "INVALID_ARGUMENT PLATFORM_CERT_MALFORMED"
expect - "PERMISSION_DENIED PLATFORM_CERT_MISSING"
# swtpm's certificate names no serial: the subject cannot be rendered.
expect "$work/plat.der" "PERMISSION_DENIED POLICY_SUBJECT"
check "POLICY_SUBJECT names the field" grep -q '{platform_serial}: the machine has no verified platform certificate naming it' "$work/audit.log"
# Default with --platform-ca: checked when sent, none is fine.
start_verifier --platform-ca "$RATTEST_EK_CA_BUNDLE"
check "the default mode" grep -q 'platform certificates: verified when sent' "$work/verifier.log"
expect - "OK -"
expect "$work/ac-ecc.der" "PERMISSION_DENIED PLATFORM_CERT_HOLDER"
# "ignore": not even parsed, not in the audit line.
echo '{"platform_cert": "ignore"}' > "$work/ignore.json"
start_verifier --platform-ca "$RATTEST_EK_CA_BUNDLE" --policy "$work/ignore.json"
expect "$work/garbage.der" "OK -"
if begin_line | grep -q '"platform"'; then bad "ignored certificate in the audit line: $(begin_line)"; else ok; fi

finish "test_enroll_platform.sh"
