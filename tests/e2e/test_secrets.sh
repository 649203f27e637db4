#!/usr/bin/env bash
# Sealed secret delivery end to end on swtpm, with the real binaries:
#   - the verifier's policy delivers a PCR-bound sealed secret, an unbound
#     one and an RSA key with its certificate; rattest-bootstrap enroll
#     imports them under the EK, proves receipt, and the verifier's audit
#     records delivery and confirmation (names only);
#   - `rattest-bootstrap unseal` returns exactly the secret, until PCR 7 is
#     extended: then "PCR policy not satisfied" (the unbound one still opens);
#   - the imported RSA key is an identity: s_server -Verify answers HTTP 200
#     to s_client -key rattest:legacy;
#   - no secret byte appears in the audit, the logs or the state directory;
#   - proofs the machine could not have made are refused (SECRET_PROOF) and
#     a confirm token is single use (TOKEN_REPLAYED).
# Usage (under with-swtpm): test_secrets.sh BUILD_DIR [rsa|ecc]  (the EK the
# bootstrap enrolls with, so blobs are wrapped to it)
set -euo pipefail
build=${1:?usage}
ek=${2:-rsa}
src=$(cd "$(dirname "$0")/../.." && pwd)
V="$build/bin/rattest-verifier"
B="$build/bin/rattest-bootstrap"
TAMPER="$build/tests/rt_enroll_tamper"
LOG="$src/tests/data/eventlogs/arch-linux-workstation/arch-linux-workstation.bin"
export RATTEST_TAMPER_LOG="$LOG"
work=$(mktemp -d)
vpid="" spid=""
stop() {
  for p in $vpid $spid; do kill "$p" 2> /dev/null || true; wait "$p" 2> /dev/null || true; done
  vpid="" spid=""
}
trap 'stop; rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/provider.sh"
. "$(dirname "$0")/../lib/verifier.sh"
VERIFIER_ARGS=(--ek-ca "$RATTEST_EK_CA_BUNDLE")
# The provider under test; under ASan the uninstrumented openssl needs the
# runtime preloaded to load it.
export OPENSSL_MODULES="$build/lib"
PRELOAD=()
[ -n "${RATTEST_PRELOAD:-}" ] && PRELOAD=(env LD_PRELOAD="$RATTEST_PRELOAD" ASAN_OPTIONS=detect_leaks=0)

"$src/certs/mkpki" "$work/pki" > /dev/null
"$build/tests/rt_log_extend" "$LOG" > /dev/null

# The secrets: text, so that grep can look for them.
umask 077
printf 'disk-key-%s' "$(openssl rand -hex 24)" > "$work/disk.secret"
printf 'api-token-%s' "$(openssl rand -hex 24)" > "$work/plain.secret"
# An existing client identity: key + certificate from a CA of its own.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=legacy-ca \
  -keyout "$work/legacy-ca.key" -out "$work/legacy-ca.pem" 2> /dev/null
openssl genrsa -out "$work/legacy.key" 2048 2> /dev/null
openssl req -new -key "$work/legacy.key" -subj /CN=legacy -out "$work/legacy.csr" 2> /dev/null
printf 'extendedKeyUsage=clientAuth\n' > "$work/ext"
openssl x509 -req -in "$work/legacy.csr" -CA "$work/legacy-ca.pem" -CAkey "$work/legacy-ca.key" \
  -CAcreateserial -days 2 -extfile "$work/ext" -out "$work/legacy.pem" 2> /dev/null
# A second one, delivered bound to PCR 7 (it signs only while PCR 7 holds
# the value the enrollment's quote proved).
openssl genrsa -out "$work/bound.key" 2048 2> /dev/null
openssl req -new -key "$work/bound.key" -subj /CN=bound -out "$work/bound.csr" 2> /dev/null
openssl x509 -req -in "$work/bound.csr" -CA "$work/legacy-ca.pem" -CAkey "$work/legacy-ca.key" \
  -CAcreateserial -days 2 -extfile "$work/ext" -out "$work/bound.pem" 2> /dev/null
umask 022
cat > "$work/policy.json" << EOF
{"secrets": [
  {"name": "disk", "type": "sealed", "file": "$work/disk.secret", "pcrs": {"sha256": [7]}},
  {"name": "plain", "type": "sealed", "file": "$work/plain.secret"},
  {"name": "legacy", "type": "rsa-key", "key_file": "$work/legacy.key",
   "cert_file": "$work/legacy.pem"},
  {"name": "bound", "type": "rsa-key", "key_file": "$work/bound.key",
   "cert_file": "$work/bound.pem", "pcrs": {"sha256": [7]}}]}
EOF


# --- a secret file others may read is refused at start-up -------------------
chmod 644 "$work/plain.secret"
if "$V" policy check "$work/policy.json" "$LOG" > "$work/out" 2>&1; then bad "0644 secret accepted"; else
  grep -q "secrets\[1\].file: secret .*mode 0644 lets group or others read it" "$work/out" && ok ||
    bad "0644 secret: $(cat "$work/out")"
fi
chmod 600 "$work/plain.secret"
# A PCR the quote does not cover cannot be sealed to; a certificate of
# another key is refused.
refused_policy() { # JSON WANT
  printf '%s' "$1" > "$work/bad.json"
  if "$V" policy check "$work/bad.json" "$LOG" > "$work/out" 2>&1; then bad "accepted: $1"; else
    grep -qF "$2" "$work/out" && ok || bad "$1: $(cat "$work/out")"
  fi
}
refused_policy "{\"secrets\": [{\"name\": \"d\", \"type\": \"sealed\", \"file\": \"$work/disk.secret\", \"pcrs\": {\"sha256\": [9]}}]}" \
  "secrets[0].pcrs.sha256[0]: PCR 9 is not in the policy's pcrs.sha256"
refused_policy "{\"secrets\": [{\"name\": \"k\", \"type\": \"rsa-key\", \"key_file\": \"$work/legacy.key\", \"cert_file\": \"$work/legacy-ca.pem\"}]}" \
  "secrets[0].cert_file: the first certificate of"
refused_policy "{\"secrets\": [{\"name\": \"k\", \"type\": \"rsa-key\", \"key_file\": \"$work/legacy-ca.key\", \"cert_file\": \"$work/legacy-ca.pem\"}]}" \
  "holds no unencrypted PEM RSA key"

# --- enrollment delivers, the bootstrap receives and proves ------------------
start_verifier --policy "$work/policy.json"
state=$work/state
check "enroll with secrets" "$B" enroll --verifier "localhost:$port" --ca "$work/pki/tls-ca.pem" \
  --state-dir "$state" --key-alg ecc-p256 --ek "$ek" --event-log "$LOG" --timeout 60s
grep -q '"method":"Finish","decision":"accept".*"secrets":"disk,plain,legacy,bound"' "$work/audit.log" &&
  ok || bad "Finish audit: $(grep Finish "$work/audit.log")"
grep -q '"method":"Confirm","decision":"accept".*"secrets":"disk,plain,legacy,bound"' "$work/audit.log" &&
  ok || bad "Confirm audit: $(grep Confirm "$work/audit.log" || echo none)"

# The delivered key's name is not one enroll may take over.
if "$B" enroll --verifier "localhost:$port" --ca "$work/pki/tls-ca.pem" --state-dir "$state" \
  --name legacy --event-log "$LOG" --timeout 30s > "$work/out" 2>&1; then bad "enroll --name legacy"; else
  grep -q "legacy: is the name of an RSA key the verifier delivered" "$work/out" && ok ||
    bad "enroll --name legacy: $(cat "$work/out")"
fi

# --- unseal -------------------------------------------------------------------
"$B" unseal disk --state-dir "$state" > "$work/disk.out" && cmp -s "$work/disk.out" "$work/disk.secret" &&
  ok || bad "unseal disk to stdout"
check "unseal --out" "$B" unseal plain --state-dir "$state" --out "$work/plain.out"
cmp -s "$work/plain.out" "$work/plain.secret" && ok || bad "unsealed plain differs"
[ "$(stat -c %a "$work/plain.out")" = 600 ] && ok || bad "unseal --out mode $(stat -c %a "$work/plain.out")"
if "$B" unseal nosuch --state-dir "$state" > "$work/out" 2>&1; then bad "unknown secret unsealed"; else ok; fi
if "$B" unseal legacy --state-dir "$state" > "$work/out" 2>&1; then bad "rsa-key unsealed"; else ok; fi

# s_server demanding a client certificate from the legacy CA, on a free
# port: a port taken meanwhile makes it exit, and another is tried.
start_server() {
  if [ -n "$spid" ]; then kill "$spid" 2> /dev/null || true; wait "$spid" 2> /dev/null || true; fi
  for _ in $(seq 20); do
    spd=$((20000 + RANDOM % 20000))
    # Emptied here, not by the background redirection, which may run after
    # the grep below and let it read the last server's ACCEPT.
    : > "$work/s_server.log"
    openssl s_server -www -accept "127.0.0.1:$spd" -cert "$work/pki/server-chain.pem" \
      -key "$work/pki/server.key" -Verify 1 -verify_return_error -CAfile "$work/legacy-ca.pem" \
      > "$work/s_server.log" 2>&1 &
    spid=$!
    for _ in $(seq 200); do
      grep -q ACCEPT "$work/s_server.log" && return 0
      kill -0 "$spid" 2> /dev/null || break
      sleep 0.05
    done
    wait "$spid" 2> /dev/null || true
    spid=""
  done
  echo "s_server did not start" >&2
  exit 1
}

# --- the imported RSA key is an identity: mTLS judged by s_server -----------
start_server
printf 'GET / HTTP/1.0\r\n\r\n' | RATTEST_STATE_DIR=$state timeout 30 "${PRELOAD[@]}" \
  openssl s_client -provider rattest -provider default -connect "127.0.0.1:$spd" \
  -key rattest:legacy -cert rattest:legacy -CAfile "$work/pki/tls-ca.pem" -quiet \
  > "$work/s_client.out" 2> "$work/s_client.err" || true
grep -q "^HTTP/1.0 200" "$work/s_client.out" && ok || bad "mTLS with rattest:legacy: $(head -c 400 "$work/s_client.err")"

# --- the secrets are nowhere but in the verifier's files -----------------------
for f in disk plain; do
  if grep -rqF "$(cat "$work/$f.secret")" "$state" "$work/audit.log" "$work/verifier.log"; then
    bad "secret $f found in the state or the logs"
  else ok; fi
done
[ -z "$(find "$state/secrets" -type f ! -perm 600)" ] && ok || bad "secret blobs not 0600"

# --- proofs the machine could not make -----------------------------------------
stop
start_verifier --policy "$work/policy.json"
expect() { # MUTATION "STATUS CODE"
  set +e
  "$TAMPER" "localhost:$port" "$work/pki/tls-ca.pem" "$1" > "$work/out" 2> "$work/err"
  local rc=$?
  set -e
  local got
  got=$(grep '^RESULT ' "$work/out" | tail -n 1 | cut -d' ' -f2-)
  if [ "$rc" -eq 0 ] && [ "$got" = "$2" ]; then ok; else bad "$1: got \"$got\" (rc=$rc), want \"$2\" $(head -c 300 "$work/err")"; fi
}
expect confirm-wrong "PERMISSION_DENIED SECRET_PROOF"
tail -n 1 "$work/audit.log" | grep -q '"method":"Confirm","decision":"reject","code":"SECRET_PROOF","reason":"secret disk: the proof of receipt does not match the secret"' &&
  ok || bad "wrong proof audit: $(tail -n 1 "$work/audit.log")"
expect confirm-missing "PERMISSION_DENIED SECRET_PROOF"
expect confirm-replayed "PERMISSION_DENIED TOKEN_REPLAYED"

# --- the PCR-bound key: recorded with its selection, signs while PCR 7 holds ---
# mtls KEY CERT OUT: s_client -key KEY -cert CERT against s_server
# -Verify (started by start_server); output in OUT.out / OUT.err.
mtls() { # KEY CERT OUT
  printf 'GET / HTTP/1.0\r\n\r\n' | RATTEST_STATE_DIR=$state timeout 30 "${PRELOAD[@]}" \
    openssl s_client -provider rattest -provider default -connect "127.0.0.1:$spd" \
    -key "$1" -cert "$2" -CAfile "$work/pki/tls-ca.pem" -quiet > "$3.out" 2> "$3.err" || true
}
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]+"/state.json"))["secrets"]; print(s["bound"]["pcrs"], s["legacy"]["pcrs"] or "-")' "$state" > "$work/pcrs.txt"
[ "$(cat "$work/pcrs.txt")" = "sha256:7 -" ] && ok || bad "state pcrs: $(cat "$work/pcrs.txt")"
bkf=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/state.json"))["identities"]["bound"]["key_file"])' "$state")
# The key file carries the policy: [1] { { [0] 0x17f (TPM2_CC_PolicyPCR), [1] pcrs || digest } }.
openssl asn1parse -in "$bkf" > "$work/bkf.asn1" 2>&1 || true
grep -q "INTEGER *:017F" "$work/bkf.asn1" && grep -q "OCTET STRING *\[HEX DUMP\]:00000001000B03800000" "$work/bkf.asn1" &&
  ok || bad "bound key file policy: $(cat "$work/bkf.asn1")"
start_server
mtls rattest:bound rattest:bound "$work/bound"
grep -q "^HTTP/1.0 200" "$work/bound.out" && grep -q "Subject: CN *= *bound" "$work/bound.out" &&
  ok || bad "mTLS with rattest:bound: $(head -c 400 "$work/bound.err")"
mtls "$bkf" rattest:bound "$work/boundf"
grep -q "^HTTP/1.0 200" "$work/boundf.out" && ok || bad "mTLS with the bound key file: $(head -c 400 "$work/boundf.err")"

# --- a PCR change seals the secret away ----------------------------------------
tpm2_pcrextend 7:sha256=0000000000000000000000000000000000000000000000000000000000000000 > /dev/null
if "$B" unseal disk --state-dir "$state" > "$work/out" 2> "$work/err"; then bad "unsealed after PCR 7 changed"; else
  grep -q "PCR policy not satisfied" "$work/err" && ok || bad "PCR change message: $(cat "$work/err")"
fi
"$B" unseal plain --state-dir "$state" | cmp -s - "$work/plain.secret" && ok || bad "unbound secret after PCR change"
# ... and the bound key away: the handshake fails with the provider's
# message (by URI and by key file), the unbound key still works, and no
# session or object is left behind.
start_server
mtls rattest:bound rattest:bound "$work/bound2"
if grep -q "^HTTP/1.0 200" "$work/bound2.out"; then bad "rattest:bound answered 200 after PCR 7 changed"; else
  grep -q "PCR policy not satisfied: a PCR in sha256:7 changed since the key was delivered" "$work/bound2.err" &&
    ok || bad "rattest:bound after PCR change: $(head -c 600 "$work/bound2.err")"
fi
mtls "$bkf" rattest:bound "$work/boundf2"
if grep -q "^HTTP/1.0 200" "$work/boundf2.out"; then bad "bound key file answered 200 after PCR 7 changed"; else
  grep -q "PCR policy not satisfied" "$work/boundf2.err" && ok || bad "bound key file after PCR change: $(head -c 600 "$work/boundf2.err")"
fi
start_server
mtls rattest:legacy rattest:legacy "$work/legacy2"
grep -q "^HTTP/1.0 200" "$work/legacy2.out" && ok || bad "rattest:legacy after PCR change: $(head -c 400 "$work/legacy2.err")"
if [ "${RATTEST_TPM_MODE:-direct}" = direct ]; then
  n=$(tpm2_getcap handles-loaded-session 2> /dev/null | grep -c 0x || true)
  m=$(tpm2_getcap handles-transient 2> /dev/null | grep -c 0x || true)
  [ "$n$m" = 00 ] && ok || bad "$n sessions, $m transient objects left after the refused signatures"
fi

# --- the delivered key by its key FILE (parent: the EK) -------------------------
# The identity's key_file is a TSS2 key naming the EK as parent (0x81010001
# for the RSA EK; swtpm's ECC EK is the high-range P-384 one, 0x81010016);
# the provider loads it under that EK (a PolicySecret(endorsement) session
# for the RSA one, userWithAuth for P-384). curl and s_client with the file:
# success is s_server -Verify's answer (HTTP 200 and the client certificate
# it verified), never the client's own report.
ekh=$([ "$ek" = rsa ] && echo 0x81010001 || echo 0x81010016)
idf() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/state.json"))["identities"]["legacy"][sys.argv[2]])' "$state" "$1"; }
kf=$(idf key_file) cf=$(idf cert_file)
openssl asn1parse -in "$kf" > "$work/kf.asn1" 2>&1 || true
grep -q "INTEGER *:${ekh#0x}$" "$work/kf.asn1" && ok || bad "key file parent: $(grep INTEGER "$work/kf.asn1")"
start_server
printf 'GET / HTTP/1.0\r\n\r\n' | timeout 30 "${PRELOAD[@]}" openssl s_client -provider rattest \
  -provider default -connect "127.0.0.1:$spd" -key "$kf" -cert "$cf" -CAfile "$work/pki/tls-ca.pem" \
  -quiet > "$work/s_client.out" 2> "$work/s_client.err" || true
grep -q "^HTTP/1.0 200" "$work/s_client.out" && grep -q "Subject: CN *= *legacy" "$work/s_client.out" &&
  ok || bad "mTLS with the key file: $(head -c 400 "$work/s_client.err")"
write_provider_cnf "$work/curl.cnf"
# Under ASan, curl with the runtime preloaded hangs in setlocale() before any
# TLS code (see test_provider.sh): curl runs in the normal build only.
if [ -z "${RATTEST_PRELOAD:-}" ]; then
  for ver in --tlsv1.3 "--tlsv1.2 --tls-max 1.2"; do
    # shellcheck disable=SC2086
    OPENSSL_CONF="$work/curl.cnf" timeout 30 curl -sS --retry 3 --retry-connrefused --retry-delay 1 -i $ver --cacert "$work/pki/tls-ca.pem" \
      --key "$kf" --cert "$cf" "https://127.0.0.1:$spd/" > "$work/curl.out" 2>&1 || true
    grep -q "^HTTP/1.0 200" "$work/curl.out" && grep -q "Subject: CN *= *legacy" "$work/curl.out" &&
      ok || bad "curl $ver --key FILE: $(head -c 600 "$work/curl.out") server: $(tail -n 3 "$work/s_server.log")"
  done
fi
# Signatures with the file verify with the certificate's key.
openssl x509 -in "$cf" -pubkey -noout > "$work/legacy.pub"
echo "signed by the delivered key" > "$work/msg"
openssl dgst -sha256 -binary "$work/msg" > "$work/msg.dgst"
# sign_file: pkeyutl -sign of a digest with the key file; output in $work/out
sign_file() {
  "${PRELOAD[@]}" openssl pkeyutl -provider rattest -provider default -sign -inkey "$kf" \
    -pkeyopt digest:sha256 -in "$work/msg.dgst" -out "$work/sig" > "$work/out" 2>&1 &&
    openssl pkeyutl -verify -pubin -inkey "$work/legacy.pub" -pkeyopt digest:sha256 \
      -in "$work/msg.dgst" -sigfile "$work/sig" > /dev/null 2>&1
}
sign_file && ok || bad "pkeyutl -sign with the key file: $(head -c 600 "$work/out")"
if "${PRELOAD[@]}" openssl dgst -provider rattest -provider default -sha256 -sigopt rsa_padding_mode:pss \
    -sigopt rsa_pss_saltlen:32 -sign "$kf" -out "$work/sig" "$work/msg" > "$work/out" 2>&1 &&
   openssl dgst -sha256 -verify "$work/legacy.pub" -sigopt rsa_padding_mode:pss \
    -sigopt rsa_pss_saltlen:32 -signature "$work/sig" "$work/msg" > /dev/null 2>&1; then ok
else bad "dgst -sign PSS with the key file: $(head -c 600 "$work/out")"; fi
# Without the persistent EK: the RSA EK is re-created from its TCG template
# (same seed, same key) and the file still loads; the P-384 EK has no
# default template, so the file is refused with a message saying so.
tpm2_evictcontrol -C o -c "$ekh" > /dev/null 2>&1 && ok || bad "evicting the EK $ekh"
if [ "$ek" = rsa ]; then
  sign_file && ok || bad "pkeyutl -sign, EK from the template: $(head -c 600 "$work/out")"
elif sign_file; then bad "key file loaded without its P-384 EK"
else
  grep -q "EK parent 0x81010016: no persistent EK, and no TCG default template" "$work/out" &&
    ok || bad "no P-384 EK: $(head -c 600 "$work/out")"
fi
if [ "${RATTEST_TPM_MODE:-direct}" = direct ]; then
  n=$(tpm2_getcap handles-transient 2> /dev/null | grep -c 0x || true)
  [ "$n" = 0 ] && ok || bad "$n transient objects left"
fi

finish "test_secrets.sh ($ek EK, ${RATTEST_TPM_MODE:-direct})"
