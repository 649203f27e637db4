#!/usr/bin/env bash
# A TPM that keeps no EK certificate in NV (Intel PTT on many platforms),
# whose certificate its manufacturer's service hands out by a hash of the EK
# public key (`enroll --ek-cert-url`), on swtpm with its RSA EK certificate
# index removed and a local "manufacturer service" (tests/tools/aia_server.py):
#   - without --ek-cert-url: refused before Begin, the message names the flag;
#   - the path asked for is Intel's name for the EK (base64url of
#     SHA-256(modulus || 01 00 01), padding %3D), computed here from the
#     certificate by Python and asked for by tpm2_getekcertificate too;
#   - Intel's JSON answer: enrollment accepted by a verifier with the EK CAs;
#   - a certificate of another key, a 404, a non-certificate, an unreachable
#     service and a non-http URL: each refused with its reason, nothing sent;
#   - the EK certificate re-issued with an AIA caIssuers URL at the service:
#     a root-only verifier refuses EK_CHAIN, with serve --ek-aia-fetch it
#     fetches the intermediate and enrollment is accepted.
# Usage (under with-swtpm): test_ek_cert_url.sh BUILD_DIR
set -euo pipefail
build=${1:?usage}
src=$(cd "$(dirname "$0")/../.." && pwd)
V="$build/bin/rattest-verifier"
B="$build/bin/rattest-bootstrap"
LOG="$src/tests/data/eventlogs/arch-linux-workstation/arch-linux-workstation.bin"
work=$(mktemp -d)
vpid=""
spid=""
trap 'stop_verifier; [ -z "$spid" ] || kill "$spid" 2> /dev/null; rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/verifier.sh"
VERIFIER_ARGS=(--ek-ca "$RATTEST_EK_CA_BUNDLE")
RT_TEST_OUT=$work/out

"$src/certs/mkpki" "$work/pki" > /dev/null
"$build/tests/rt_log_extend" "$LOG" > /dev/null
enroll() { # STATE_DIR [args...]
  local dir=$1; shift
  "$B" enroll --verifier "localhost:$port" --ca "$work/pki/tls-ca.pem" --state-dir "$dir" \
    --key-alg ecc-p256 --ek rsa --event-log "$LOG" --timeout 30s "$@"
}
# refused_with WHAT PATTERN CMD...: CMD fails and its output matches PATTERN.
refused_with() {
  local what=$1 pattern=$2 rc=0
  shift 2
  "$@" > "$work/out" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ] && grep -q -- "$pattern" "$work/out"; then ok
  else bad "$what: rc=$rc, want '$pattern': $(head -c 600 "$work/out")"; fi
}

# --- The TPM loses its RSA EK certificate; the service gets it --------------
tpm2_nvread 0x01c00002 -o "$work/ek-rsa.der" 2> /dev/null
tpm2_nvread 0x01c00016 -o "$work/ek-ecc.der" 2> /dev/null
for idx in 0x01c00002 0x01c0000a; do tpm2_nvundefine -C p "$idx" > /dev/null 2>&1 || true; done
check "the RSA EK certificate index is gone" sh -c '! tpm2_getcap handles-nv-index | grep -qi 0x1c00002'
key=$(python3 - "$work/ek-rsa.der" <<'PY'
import base64, hashlib, subprocess, sys
modulus = subprocess.run(["openssl", "x509", "-inform", "der", "-in", sys.argv[1], "-noout",
                          "-modulus"], capture_output=True, text=True, check=True).stdout
n = bytes.fromhex(modulus.strip().split("=", 1)[1])
digest = hashlib.sha256(n + b"\x01\x00\x01").digest()
print(base64.urlsafe_b64encode(digest).decode().replace("=", "%3D"))
PY
)
mkdir "$work/svc"
python3 "$src/tests/tools/aia_server.py" "$work/svc" "$work/svc-port" "$work/svc.log" &
spid=$!
for _ in $(seq 100); do [ -s "$work/svc-port" ] && break; sleep 0.05; done
url="http://127.0.0.1:$(cat "$work/svc-port")/ekcertservice"
# Intel's answer: JSON, the DER certificate in base64url, padding %3D.
serve_intel_json() { # DER
  python3 - "$1" "$work/svc/$key" <<'PY'
import base64, json, sys
der = open(sys.argv[1], "rb").read()
cert = base64.urlsafe_b64encode(der).decode().replace("=", "%3D")
json.dump({"pubhash": "unused", "certificate": cert}, open(sys.argv[2], "w"))
PY
}
start_verifier

# --- 1. No certificate anywhere: the flag is named, nothing sent ------------
refused_with "no EK certificate" "(--ek-cert-url fetches it from the manufacturer)" enroll "$work/s0"
check "nothing reached the verifier" test ! -s "$work/audit.log"

# --- 2. The name of the EK: ours, Python's and tpm2_getekcertificate's -------
refused_with "404 from the service" "ekcertservice/$key: HTTP status 404" \
  enroll "$work/s1" --ek-cert-url "$url"
check "the bootstrap asked for Intel's name of the EK" grep -qx "/ekcertservice/$key" "$work/svc.log"
tpm2_createek -c "$work/ek.ctx" -G rsa -u "$work/ekpub.tss" > /dev/null
tpm2_flushcontext -t > /dev/null
: > "$work/svc.log"
tpm2_getekcertificate -x -u "$work/ekpub.tss" "$url/" -o "$work/tools.pem" > /dev/null 2>&1 || true
tpm2_flushcontext -t > /dev/null
check "tpm2_getekcertificate asks for the same path" grep -qx "/ekcertservice/$key" "$work/svc.log"

# --- 3. Intel's JSON answer: enrolled ---------------------------------------
serve_intel_json "$work/ek-rsa.der"
check "enroll with the certificate from the service" enroll "$work/s2" --ek-cert-url "$url"
check "Begin accepted" grep -q '"method":"Begin","decision":"accept"' "$work/audit.log"
check "Finish accepted" grep -q '"method":"Finish","decision":"accept"' "$work/audit.log"
check "nothing left loaded" test "$(tpm2_getcap handles-transient | grep -c 0x)" -eq 0

# --- 4. Bad answers and URLs: refused before Begin ---------------------------
: > "$work/audit.log"
cp "$work/ek-ecc.der" "$work/svc/$key"
refused_with "a certificate of another key" "certifies another key than this TPM's EK" \
  enroll "$work/s4" --handle 0x81000110 --ek-cert-url "$url/"
echo "not a certificate" > "$work/svc/$key"
refused_with "no certificate in the answer" "no DER, PEM or PKCS#7 certificate and no JSON" \
  enroll "$work/s5" --handle 0x81000110 --ek-cert-url "$url"
head -c 70000 /dev/zero > "$work/svc/$key"
refused_with "an answer over 64 KiB" "too large (over 65536 bytes)" \
  enroll "$work/s6" --handle 0x81000110 --ek-cert-url "$url"
refused_with "no service listening" "EK certificate from http://127.0.0.1:1/$key" \
  enroll "$work/s7" --handle 0x81000110 --ek-cert-url "http://127.0.0.1:1"
refused_with "not http" "--ek-cert-url must be an http:// or https:// URL" \
  enroll "$work/s8" --handle 0x81000110 --ek-cert-url "ftp://127.0.0.1/"
check "none of them reached the verifier" test ! -s "$work/audit.log"
check "none left a state directory" sh -c '! ls -d "$1"/s[3-9] 2> /dev/null' - "$work"
check "nothing left loaded" test "$(tpm2_getcap handles-transient | grep -c 0x)" -eq 0

# --- 5. The EK certificate names its issuer by AIA: serve --ek-aia-fetch ----
# The RSA EK certified again by swtpm's intermediate, now with an AIA
# caIssuers URL at the local service, written back to NV; a verifier that
# trusts only the root needs the fetch.
stop_verifier
openssl x509 -in "$RATTEST_EK_CA_INTERMEDIATE" -outform der -out "$work/svc/inter.der"
openssl x509 -inform der -in "$work/ek-rsa.der" -noout -pubkey > "$work/ekpub.pem"
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyEncipherment\nauthorityInfoAccess=caIssuers;URI:%s\n' \
  "http://127.0.0.1:$(cat "$work/svc-port")/inter.der" > "$work/aia.ext"
openssl x509 -new -force_pubkey "$work/ekpub.pem" -subj "/CN=EK naming its issuer by AIA" \
  -CA "$RATTEST_EK_CA_INTERMEDIATE" -CAkey "$RATTEST_TPM_DIR/ca/signkey.pem" -days 30 \
  -extfile "$work/aia.ext" -outform der -out "$work/ek-aia.der" 2> /dev/null
tpm2_nvdefine 0x01c00002 -C o -s "$(stat -c %s "$work/ek-aia.der")" \
  -a "ownerwrite|ownerread|authread|no_da" > /dev/null
tpm2_nvwrite 0x01c00002 -C o -i "$work/ek-aia.der"
VERIFIER_ARGS=(--ek-ca "$RATTEST_EK_CA_ROOT")
start_verifier
refused_with "root-only verifier without --ek-aia-fetch" "EK_CHAIN" \
  enroll "$work/s9" --handle 0x81000111
: > "$work/svc.log"
start_verifier --ek-aia-fetch
check "root-only verifier with --ek-aia-fetch" enroll "$work/s10" --handle 0x81000111
check "the verifier fetched the intermediate" grep -qx "/inter.der" "$work/svc.log"
check "Finish accepted" grep -q '"method":"Finish","decision":"accept"' "$work/audit.log"

finish test_ek_cert_url
