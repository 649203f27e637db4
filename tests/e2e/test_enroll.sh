#!/usr/bin/env bash
# Enrollment end to end on swtpm, with the real binaries:
#   - a real firmware event log (arch-linux-workstation, locality 0) is
#     extended into the TPM's PCRs, so the quote is over a real boot;
#   - rattest-verifier (permissive development policy, then a policy that
#     pins those PCR values) and rattest-bootstrap enroll;
#   - judged by openssl verify, tpm2_readpublic and tpm2-openssl signing with
#     the TSS2 key file; then idempotence, --renew, and refusals (tampered
#     log, wrong EK CA, pinned PCR mismatch) that must leave state intact.
# Usage (under with-swtpm): test_enroll.sh BUILD_DIR rsa-ek|ecc-ek ecc-p256|rsa-2048
set -euo pipefail
build=${1:?usage} ekkind=${2:?usage} alg=${3:?usage}
src=$(cd "$(dirname "$0")/../.." && pwd)
V="$build/bin/rattest-verifier"
B="$build/bin/rattest-bootstrap"
LOG="$src/tests/data/eventlogs/arch-linux-workstation/arch-linux-workstation.bin"
ek=${ekkind%-ek}
work=$(mktemp -d)
vpid=""
cleanup() { stop_verifier; rm -rf "$work"; }
trap cleanup EXIT
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/verifier.sh"
# Runs tpm2-tools or openssl with the TPM; under ASan our module needs the runtime preloaded.
ossl() {
  if [ -n "${RATTEST_PRELOAD:-}" ]; then LD_PRELOAD="$RATTEST_PRELOAD" ASAN_OPTIONS=detect_leaks=0 openssl "$@"; else openssl "$@"; fi
}

"$src/certs/mkpki" "$work/pki" > /dev/null
"$src/certs/mkpki" "$work/other-pki" > /dev/null
"$build/tests/rt_log_extend" "$LOG" > /dev/null

# start_verifier [extra serve args...]
# enroll STATE_DIR [extra args...]
enroll() {
  local dir=$1; shift
  "$B" enroll --verifier "localhost:$port" --ca "$work/pki/tls-ca.pem" --state-dir "$dir" \
    --key-alg "$alg" --ek "$ek" --event-log "$LOG" --timeout 30s "$@"
}
transients() { tpm2_getcap handles-transient 2>/dev/null | grep -c 0x || true; }
# field STATE_DIR NAME: a field of the identity "default" from `status --json`.
field() {
  "$B" status --state-dir "$1" --json | /usr/bin/python3 -c "
import json, sys
ids = [i for i in json.load(sys.stdin)['identities'] if i['name'] == 'default']
print(ids[0]['$2'])"
}

# --- 0. Arguments checked before anything is sent ------------------------
# Nothing listens at the verifier address: an argument checked only after
# Begin would show as the verifier unreachable (exit 1), and against a
# real verifier as a certificate issued, audited and thrown away.
unreachable() {
  local dir=$1; shift
  "$B" enroll --verifier localhost:1 --ca "$work/pki/tls-ca.pem" --state-dir "$dir" \
    --key-alg "$alg" --ek "$ek" --event-log "$LOG" --timeout 2s "$@"
}
# early WHAT STATUS PATTERN DIR [ARGS...]: unreachable exits STATUS, says
# PATTERN, and DIR (absent before) is not there after.
early() {
  local what=$1 want=$2 pat=$3 dir=$4; shift 4
  set +e; unreachable "$dir" "$@" > "$work/out" 2>&1; local rc=$?; set -e
  if [ "$rc" -eq "$want" ] && grep -qE -- "$pat" "$work/out" && [ ! -e "$dir" ]; then ok; else
    bad "$what: rc=$rc (want $want), $dir $([ -e "$dir" ] && echo exists || echo absent): $(head -c 400 "$work/out")"
  fi
}
early "--handle in the EK range" 2 '--handle: 0x81010001 is in the endorsement key range' \
  "$work/s0" --handle 0x81010001
early "--handle outside the owner range" 2 '--handle: 0x81800000 is out of range' \
  "$work/s0" --handle 0x81800000
early "--key-alg enroll cannot create" 2 '--key-alg must be ecc-p256 or rsa-2048' \
  "$work/s0" --key-alg rsa-3072
# The state records absolute paths, and the verifier in 255 characters.
cd "$work"
early "relative --state-dir" 2 '--state-dir: "rel-state" is not an absolute path' rel-state
cd - > /dev/null
early "overlong --verifier" 2 '--verifier: longer than 255 characters' "$work/s0" \
  --verifier "$(printf 'v%.0s' $(seq 260)).example:1"
# A state directory another user could change is refused, named, untouched.
mkdir "$work/s777" && chmod 0777 "$work/s777"
set +e; unreachable "$work/s777" > "$work/out" 2>&1; rc=$?; set -e
if [ "$rc" -eq 2 ] && grep -q -- "--state-dir $work/s777: " "$work/out" &&
  grep -q 'group or other users can write to it' "$work/out" && [ -z "$(ls -A "$work/s777")" ]; then ok
else bad "0777 state directory: rc=$rc $(cat "$work/out")"; fi
if [ "$(id -u)" -eq 0 ]; then
  mkdir -m 0700 "$work/s-nobody" && chown nobody "$work/s-nobody"
  set +e; unreachable "$work/s-nobody" > "$work/out" 2>&1; rc=$?; set -e
  if [ "$rc" -eq 2 ] && grep -q -- "--state-dir $work/s-nobody: owned by uid $(id -u nobody)" "$work/out"
  then ok; else bad "state directory of another user: rc=$rc $(cat "$work/out")"; fi
fi
# A first enroll that fails leaves no state directory; one that was there
# before stays.
early "first enroll, verifier unreachable" 1 '.' "$work/s-fail"
mkdir -m 0700 "$work/s-there"
set +e; unreachable "$work/s-there" > /dev/null 2>&1; set -e
check "an existing state directory stays" test -d "$work/s-there"
# An object rattest did not put at --handle: refused before Begin too.
tpm2_createprimary -C o -c "$work/foreign.ctx" > /dev/null 2>&1
tpm2_evictcontrol -C o -c "$work/foreign.ctx" 0x81000110 > /dev/null 2>&1
tpm2_flushcontext -t > /dev/null 2>&1
early "foreign object at --handle" 1 'persistent handle 0x81000110 holds an object rattest did not put there' \
  "$work/s-foreign" --handle 0x81000110
tpm2_evictcontrol -C o -c 0x81000110 > /dev/null 2>&1
check "nothing left loaded by the early refusals" test "$(transients)" = 0

# --- 1. Enrollment with the development policy -------------------------
start_verifier --ek-ca "$RATTEST_EK_CA_BUNDLE"
S="$work/state"
# Its TPM commands, counted with the pcap TCTI (tests/tools/tpm_pcap_count.py;
# resends the TPM asked for with TPM_RC_RETRY not counted): at most 20.
RATTEST_TCTI="pcap:$RATTEST_TCTI" TCTI_PCAP_FILE="$work/enroll.pcap" check "enroll" enroll "$S"
python3 "$src/tests/tools/tpm_pcap_count.py" "$work/enroll.pcap" > "$work/enroll.count"
n_cmds=$(sed -n 's/^commands: //p' "$work/enroll.count")
if [ -n "$n_cmds" ] && [ "$n_cmds" -le 20 ]; then ok; else
  bad "enrollment sent ${n_cmds:-?} TPM commands, more than 20: $(sed -n 's/^all: //p' "$work/enroll.count")"
fi
echo "TPM commands of the enrollment ($ekkind, $alg): $n_cmds: $(sed -n 's/^all: //p' "$work/enroll.count")"
id_cert=$(field "$S" cert_file)
id_key=$(field "$S" key_file)
id_chain=$(field "$S" chain_file)
id_ak=$(field "$S" ak_cert_file)
check "state.json is 0600" test "$(stat -c %a "$S/state.json")" = 600
check "key file is 0600" test "$(stat -c %a "$id_key")" = 600
check "key cert verifies against the issuing CA" \
  openssl verify -CAfile "$work/pki/issuer-root.pem" -untrusted "$id_chain" "$id_cert"
check "AK cert verifies against the issuing CA" \
  openssl verify -CAfile "$work/pki/issuer-root.pem" -untrusted "$id_chain" "$id_ak"
check "key cert EKU clientAuth" sh -c "openssl x509 -in '$id_cert' -noout -ext extendedKeyUsage | grep -q 'TLS Web Client Authentication'"
check "AK cert EKU tcg-kp-AIKCertificate" sh -c "openssl x509 -in '$id_ak' -noout -ext extendedKeyUsage | grep -q '2.23.133.8.3'"
# The SAN names the EK: the SHA-256 of the EK certificate's public key.
tpm2_nvread "$([ "$ek" = rsa ] && echo 0x01c00002 || echo 0x01c00016)" -o "$work/ek.der" 2>/dev/null
ek_hash=$(openssl x509 -inform der -in "$work/ek.der" -pubkey -noout | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1)
check "SAN carries the EK hash" sh -c "openssl x509 -in '$id_cert' -noout -ext subjectAltName | grep -q 'URI:urn:rattest:ek:sha256:$ek_hash'"
# The certified key is the one at the persistent handle (tpm2-tools reads it).
tpm2_readpublic -c 0x81000100 -f pem -o "$work/handle.pem" > /dev/null 2>&1
check "cert key = TPM key at 0x81000100" sh -c "[ \"\$(openssl x509 -in '$id_cert' -pubkey -noout)\" = \"\$(cat '$work/handle.pem')\" ]"
# tpm2-openssl loads our TSS2 key file and signs; the cert's key verifies it.
echo "signed by the TPM-bound key" > "$work/msg"
export TPM2OPENSSL_TCTI="$RATTEST_TCTI"
check "tpm2-openssl signs with the key file" ossl pkeyutl -sign -provider tpm2 -provider default \
  -propquery '?provider=tpm2' -inkey "$id_key" -rawin -digest sha256 -in "$work/msg" -out "$work/sig"
openssl x509 -in "$id_cert" -pubkey -noout > "$work/pub.pem"
check "signature verifies with the certificate" openssl pkeyutl -verify -pubin -inkey "$work/pub.pem" \
  -rawin -digest sha256 -in "$work/msg" -sigfile "$work/sig"
check "audit line for the accepted Finish" sh -c "grep '\"method\":\"Finish\"' '$work/audit.log' | grep -q '\"decision\":\"accept\"'"
check "audit line carries the EK hash" grep -q "\"ek_sha256\":\"$ek_hash\"" "$work/audit.log"
# swtpm's EK certificate names IBM's vendor ID (numeric, so no vendor text),
# model swtpm, and the TCG "no expiry" date 9999-12-31.
check "Begin's audit line names the TPM from the EK certificate" grep -q \
  '"ek_tpm":{"manufacturer":"id:00001014","model":"swtpm","version":"id:20191023","not_after":"9999-12-31T23:59:59Z","expired":false}' \
  "$work/audit.log"
check "nothing left loaded" test "$(transients)" = 0

# --- 2. Idempotence, status, renewal --------------------------------------
if enroll "$S" > "$work/out" 2>&1 && grep -q 'nothing to do' "$work/out"; then ok; else
  bad "second run: $(cat "$work/out")"; fi
check "status --json" sh -c "'$B' status --state-dir '$S' --json | grep -q '\"handle\": \"0x81000100\"'"
serial1=$(openssl x509 -in "$id_cert" -noout -serial)
check "--renew" enroll "$S" --renew
old_files="$id_cert $id_key $id_chain $id_ak"
id_cert=$(field "$S" cert_file)
serial2=$(openssl x509 -in "$id_cert" -noout -serial)
check "--renew removed the previous identity's files" sh -c "for f in $old_files; do [ ! -e \$f ] || exit 1; done"
check "only the current identity's files remain" test "$(ls "$S" | grep -c '^default-')" = 4
check "--renew issued a new certificate" test "$serial1" != "$serial2"
tpm2_readpublic -c 0x81000100 -f pem -o "$work/handle2.pem" > /dev/null 2>&1
check "renewed key replaced ours at the handle" sh -c "[ \"\$(openssl x509 -in '$id_cert' -pubkey -noout)\" = \"\$(cat '$work/handle2.pem')\" ]"

# --- 3. Refusals leave the state as it was ------------------------------
cp "$S/state.json" "$work/state.before"
# One byte of the event log changed: a measured digest of PCR 4, found with
# our own eventlog listing; the replay no longer matches the quote.
cp "$LOG" "$work/bad.log"
off=$("$V" eventlog --json "$LOG" | /usr/bin/python3 -c '
import json, sys
ev = [e for e in json.load(sys.stdin)["events"] if e["pcr"] == 4 and e["type"] != "EV_NO_ACTION"]
# TCG_PCR_EVENT2: pcr, type, count (12 bytes), then alg id + digest per bank;
# this log lists sha1 then sha256, and the quote covers sha256.
assert list(ev[0]["digests"]) == ["sha1", "sha256"], ev[0]["digests"]
print(ev[0]["offset"] + 12 + 2 + 20 + 2)')
printf '\x5a' | dd of="$work/bad.log" bs=1 seek="$off" conv=notrunc 2>/dev/null
check "the tampered byte differs" sh -c "! cmp -s '$LOG' '$work/bad.log'"
set +e
enroll "$S" --renew --event-log "$work/bad.log" > "$work/out" 2>&1; rc=$?
set -e
if [ "$rc" -ne 0 ] && grep -qE 'EVENTLOG_(REPLAY_MISMATCH|MALFORMED)' "$work/out"; then ok; else bad "tampered log: rc=$rc $(cat "$work/out")"; fi
check "state unchanged after a refusal" cmp -s "$S/state.json" "$work/state.before"
check "nothing left loaded after a refusal" test "$(transients)" = 0
check "audit line for the refusal" grep -q '"decision":"reject"' "$work/audit.log"

# A verifier that trusts another manufacturer refuses the EK.
start_verifier --ek-ca "$work/other-pki/tls-ca.pem"
set +e
enroll "$work/state-other" --handle 0x81000108 > "$work/out" 2>&1; rc=$?
set -e
if [ "$rc" -eq 1 ] && grep -q '^rattest-bootstrap enroll: the verifier refused Begin: PERMISSION_DENIED EK_CHAIN: ' "$work/out"; then ok; else
  bad "wrong EK CA: rc=$rc $(cat "$work/out")"; fi
check "nothing issued: no state written" test ! -e "$work/state-other/state.json"
# A TLS certificate that does not chain to --ca: not retried until
# --timeout, and the message names --ca.
t0=$SECONDS
set +e
enroll "$work/state-tls" --handle 0x81000108 --ca "$work/other-pki/tls-ca.pem" > "$work/out" 2>&1; rc=$?
set -e
if [ "$rc" -eq 1 ] && [ $((SECONDS - t0)) -lt 15 ] && ! grep -q 'retrying' "$work/out" &&
  grep -q '^rattest-bootstrap enroll: Begin: TLS with the verifier at localhost:[0-9]* failed (.*certificate verify failed.*): check --ca' "$work/out"; then ok; else
  bad "wrong --ca: rc=$rc after $((SECONDS - t0)) s: $(cat "$work/out")"; fi

# A verifier trusting only the manufacturer root: the chain needs the
# intermediate, which the machine can send itself.
start_verifier --ek-ca "$RATTEST_EK_CA_ROOT"
set +e
enroll "$work/state-root" --handle 0x81000106 > "$work/out" 2>&1; rc=$?
set -e
if [ "$rc" -ne 0 ] && grep -q 'EK_CHAIN' "$work/out"; then ok; else bad "root only, no intermediate: rc=$rc $(cat "$work/out")"; fi
check "root only + intermediate sent by the machine" enroll "$work/state-root" --handle 0x81000106 \
  --ek-intermediates "$RATTEST_EK_CA_INTERMEDIATE"
# An intermediate does not anchor trust: a verifier given only it refuses.
start_verifier --ek-ca "$RATTEST_EK_CA_INTERMEDIATE"
set +e
enroll "$work/state-inter" --handle 0x81000107 > "$work/out" 2>&1; rc=$?
set -e
if [ "$rc" -ne 0 ] && grep -q 'EK_CHAIN' "$work/out"; then ok; else bad "intermediate as anchor: rc=$rc $(cat "$work/out")"; fi

# A policy that pins PCR values: the TPM's own values pass, others fail.
pcr0=$(tpm2_pcrread sha256:0 2>/dev/null | awk '/0 :/ {print tolower($3)}' | sed 's/^0x//')
cat > "$work/policy-good.json" <<EOF
{"pcrs": {"sha256": [0,1,2,3,4,5,6,7]}, "expected": {"sha256": {"0": ["$pcr0"]}}}
EOF
cat > "$work/policy-bad.json" <<EOF
{"pcrs": {"sha256": [0,1,2,3,4,5,6,7]}, "expected": {"sha256": {"0": ["$(printf '%064d' 0)"]}}}
EOF
start_verifier --ek-ca "$RATTEST_EK_CA_BUNDLE" --policy "$work/policy-good.json"
check "enroll under a pinned-PCR policy" enroll "$work/state-pinned" --handle 0x81000102
start_verifier --ek-ca "$RATTEST_EK_CA_BUNDLE" --policy "$work/policy-bad.json"
set +e
enroll "$work/state-pinned2" --handle 0x81000103 > "$work/out" 2>&1; rc=$?
set -e
if [ "$rc" -ne 0 ] && grep -q 'POLICY_PCR' "$work/out" && grep -q 'PCR sha256:0' "$work/out"; then ok; else bad "PCR policy mismatch: rc=$rc $(cat "$work/out")"; fi
# The verifier is down when the machine boots: enroll retries with backoff
# until it answers (within --timeout), then succeeds.
down_port=$port
stop_verifier
# (20 s used to fail: grpc's own reconnect backoff kept the channel from
# connecting for ~20 s after the verifier came up; test_client_retry.sh
# times the recovery.)
enroll "$work/state-retry" --handle 0x81000104 --timeout 20s > "$work/retry.out" 2>&1 &
epid=$!
sleep 2 # the outage itself, not a wait for something
LISTEN_PORT=$down_port start_verifier --ek-ca "$RATTEST_EK_CA_BUNDLE"
t0=$SECONDS
set +e; wait "$epid"; rc=$?; set -e
echo "enrolled $((SECONDS - t0)) s after the verifier came up"
if [ "$rc" -eq 0 ] && grep -q 'retrying in' "$work/retry.out" && grep -q 'enrolled identity' "$work/retry.out"; then ok; else
  bad "enroll across a verifier outage: rc=$rc $(cat "$work/retry.out")"; fi
# ... and gives up with a clear error at its deadline.
stop_verifier
set +e
enroll "$work/state-retry2" --handle 0x81000105 --timeout 2s > "$work/out" 2>&1; rc=$?
set -e
if [ "$rc" -eq 1 ] && [ ! -e "$work/state-retry2/state.json" ] &&
  grep -q '^rattest-bootstrap enroll: Begin: could not reach the verifier at localhost:[0-9]* (UNAVAILABLE: .*): check --verifier' "$work/out"; then ok; else
  bad "deadline: rc=$rc $(cat "$work/out")"; fi
check "nothing left loaded at the end" test "$(transients)" = 0

finish "test_enroll.sh ($ekkind, $alg, ${RATTEST_TPM_MODE:-direct})"
