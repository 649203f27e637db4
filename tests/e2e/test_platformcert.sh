#!/usr/bin/env bash
# TCG platform certificates through the verifier's own check
# (`rattest-verifier platform-cert`, the code Begin runs):
#   - swtpm's real one (NV 0x01c08000: an X.509 certificate of the RSA EK's
#     key with EKU 2.23.133.8.2, signed by swtpm's local CA), then copies
#     re-signed by platform_cert_tool with exactly one thing changed;
#   - TCG-profile attribute certificates made by platform_cert_tool with the
#     verifier's ASN.1 templates, holding swtpm's EK certificate, signed with
#     swtpm's CA key, and their bad twins;
#   - a third-party attribute certificate (RFC 7468's example) that must
#     parse; garbage, truncated, trailing bytes.
# Every refusal asserts its code and message. Usage (under with-swtpm):
# test_platformcert.sh BUILD_DIR
set -uo pipefail
build=${1:?usage: test_platformcert.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
V="$build/bin/rattest-verifier"
T="$build/tests/platform_cert_tool"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"

same() { # WHAT GOT WANT
  if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi
}
# json EXPR: a Python expression over the last JSON result `r`, printed;
# status 1 (and the traceback on stderr) when it fails. One python answers
# every call (a coprocess: json runs ~70 times, python starts slowly),
# each answer its status digit and text ended by a NUL.
coproc JSON { python3 -c '
import json, sys, traceback
for line in sys.stdin:
    path, expr = line.rstrip("\n").split("\t", 1)
    try:
        r = json.load(open(path))
        out = "0" + str(eval(expr)) + "\n"
    except Exception:
        traceback.print_exc()
        out = "1"
    sys.stdout.write(out + "\0")
    sys.stdout.flush()'; }
# Copies: bash closes a coprocess's own descriptors in subshells (pipelines).
exec {json_in}>&"${JSON[1]}" {json_out}<&"${JSON[0]}"
json() {
  local reply=""
  printf '%s\t%s\n' "$work/out.json" "$1" >&"$json_in"
  IFS= read -r -d '' reply <&"$json_out"
  printf '%s' "${reply:1}"
  [ "${reply:0:1}" = 0 ]
}
verified() { # WHAT CERT EK [CA]: exit 0, verified
  if "$V" platform-cert "$2" --ek-cert "$3" --platform-ca "${4:-$CA}" --json > "$work/out.json" 2> "$work/err" &&
      [ "$(json 'r["verified"]')" = True ]; then ok
  else bad "$1: $(head -c 600 "$work/out.json" "$work/err")"; fi
}
refused() { # WHAT CODE PATTERN CERT EK [CA]: exit 1, the code and the message
  local what=$1 code=$2 pattern=$3 rc
  "$V" platform-cert "$4" --ek-cert "$5" --platform-ca "${6:-$CA}" --json > "$work/out.json" 2> "$work/err"
  rc=$?
  if [ "$rc" = 1 ] && [ "$(json 'r["code"]')" = "$code" ] && json 'r["error"]' | grep -q -- "$pattern"; then ok
  else bad "$what: exit $rc, want $code '$pattern': $(head -c 600 "$work/out.json" "$work/err")"; fi
}

# swtpm's certificates, read from the TPM, and its CA.
tpm2_nvread 0x01c08000 -o "$work/plat.der" 2> /dev/null
tpm2_nvread 0x01c00002 -o "$work/ek-rsa.der" 2> /dev/null
tpm2_nvread 0x01c00016 -o "$work/ek-ecc.der" 2> /dev/null
CA=$RATTEST_EK_CA_BUNDLE
CAKEY=$RATTEST_TPM_DIR/ca/signkey.pem
INTER=$RATTEST_EK_CA_INTERMEDIATE
if [ -s "$work/plat.der" ] && [ -s "$work/ek-rsa.der" ] && [ -s "$CAKEY" ]; then ok; else
  bad "swtpm has no platform certificate, EK certificate or CA key"; fi
# Another CA, and an impostor with the name of swtpm's issuing CA.
mkca() { # DIR CN
  mkdir -p "$1"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1/ca.key" \
    -subj "/CN=$2" -days 3650 -addext basicConstraints=critical,CA:true \
    -addext keyUsage=critical,keyCertSign -out "$1/ca.pem" 2> /dev/null
}
mkca "$work/other" "other platform CA"
mkca "$work/impostor" "swtpm-localca"
ek_spki=$(openssl x509 -inform der -in "$work/ek-rsa.der" -noout -pubkey | openssl pkey -pubin -outform der | sha256sum | cut -c1-64)
ek_serial=$(openssl x509 -inform der -in "$work/ek-rsa.der" -noout -serial | cut -d= -f2)

# --- swtpm's X.509 form -----------------------------------------------------
verified "swtpm's platform certificate" "$work/plat.der" "$work/ek-rsa.der"
same "form, platform fields" "$(json '(r["form"], r["platform"]["manufacturer"], r["platform"]["model"], r["platform"]["version"], r["platform"]["serial"])')" \
  "('x509', 'rattest', 'swtpm', '2.1', '')"
same "holder: the EK's key" "$(json 'r["holder"]["key_sha256"]')" "$ek_spki"
same "issuer" "$(json 'r["issuer"]')" "CN=swtpm-localca"
if "$V" platform-cert "$work/plat.der" --ek-cert "$work/ek-rsa.der" --platform-ca "$CA" > "$work/out" 2>&1 &&
    grep -q 'verified' "$work/out" && grep -q 'manufacturer "rattest" model "swtpm" version "2.1"' "$work/out"; then ok
else bad "text output: $(cat "$work/out")"; fi
refused "swtpm's, another EK certificate" PLATFORM_CERT_HOLDER "certifies another key" \
  "$work/plat.der" "$work/ek-ecc.der"
refused "swtpm's, another CA trusted" PLATFORM_CERT_CHAIN 'unknown issuer: no configured platform CA is named "CN=swtpm-localca"' \
  "$work/plat.der" "$work/ek-rsa.der" "$work/other/ca.pem"
refused "swtpm's, only the intermediate trusted" PLATFORM_CERT_CHAIN "unable to get local issuer certificate" \
  "$work/plat.der" "$work/ek-rsa.der" "$INTER"
refused "swtpm's, an impostor CA of the same name" PLATFORM_CERT_CHAIN "bad signature" \
  "$work/plat.der" "$work/ek-rsa.der" "$work/impostor/ca.pem"
# Re-signed copies: the unchanged one verifies, so each refusal below is
# the one change's.
resign() { "$T" resign-x509 "$work/plat.der" "$@"; }
resign "$work/p-same.der" --key "$CAKEY"
verified "re-signed by swtpm's CA, unchanged" "$work/p-same.der" "$work/ek-rsa.der"
resign "$work/p-expired.der" --key "$CAKEY" --not-after 20210101000000Z
refused "expired" PLATFORM_CERT_EXPIRED "has expired (at 2021-01-01T00:00:00Z)" "$work/p-expired.der" "$work/ek-rsa.der"
resign "$work/p-future.der" --key "$CAKEY" --not-before 20990101000000Z
refused "not yet valid" PLATFORM_CERT_EXPIRED "not yet valid (from 2099-01-01T00:00:00Z)" "$work/p-future.der" "$work/ek-rsa.der"
resign "$work/p-otherkey.der" --key "$CAKEY" --pubkey-from "$work/ek-ecc.der"
refused "certifying another key" PLATFORM_CERT_HOLDER "certifies another key" "$work/p-otherkey.der" "$work/ek-rsa.der"
resign "$work/p-badsig.der" --key "$work/other/ca.key"
refused "signed with another key under swtpm's CA name" PLATFORM_CERT_CHAIN "bad signature" \
  "$work/p-badsig.der" "$work/ek-rsa.der"
resign "$work/p-other.der" --key "$work/other/ca.key" --issuer-cert "$work/other/ca.pem"
refused "signed by another CA" PLATFORM_CERT_CHAIN 'no configured platform CA is named "CN=other platform CA"' \
  "$work/p-other.der" "$work/ek-rsa.der"
verified "... which verifies when that CA is trusted" "$work/p-other.der" "$work/ek-rsa.der" "$work/other/ca.pem"

# --- TCG-profile attribute certificates --------------------------------------
ac() { "$T" make-ac "$@" --issuer-cert "${ISSUER:-$INTER}" --key "${KEY:-$CAKEY}"; }
ac "$work/ac.der" --holder-cert "$work/ek-rsa.der" --manufacturer "Example Corp" --model "Box 9000" \
  --version 1.2 --serial SN-0042 --components 3
verified "attribute certificate" "$work/ac.der" "$work/ek-rsa.der"
same "form, platform fields" "$(json '(r["form"], r["platform"]["manufacturer"], r["platform"]["model"], r["platform"]["version"], r["platform"]["serial"])')" \
  "('attribute', 'Example Corp', 'Box 9000', '1.2', 'SN-0042')"
same "holder: the EK certificate's issuer and serial" "$(json '(r["holder"]["issuer"], r["holder"]["serial"])')" \
  "('CN=swtpm-localca', '$ek_serial')"
same "TCG attributes" "$(json '(r["attributes"], r["platform_spec"]["major"], r["platform_spec"]["revision"], r["platform_spec"]["platform_class"], r["credential_type"], r["platform_configuration"]["oid"], r["platform_configuration"]["components"])')" \
  "(3, 2, 164, '00000001', '2.23.133.8.2', '2.23.133.5.1.7.2', 3)"
{ echo "-----BEGIN ATTRIBUTE CERTIFICATE-----"; openssl base64 -in "$work/ac.der"; echo "-----END ATTRIBUTE CERTIFICATE-----"; } > "$work/ac.pem"
verified "attribute certificate, PEM" "$work/ac.pem" "$work/ek-rsa.der"
refused "holder: another EK certificate" PLATFORM_CERT_HOLDER "holder is serial $ek_serial of \"CN=swtpm-localca\"; the EK certificate is serial" \
  "$work/ac.der" "$work/ek-ecc.der"
ac "$work/ac-serial.der" --holder-cert "$work/ek-rsa.der" --holder-serial 7777
refused "holder: another serial of the same issuer" PLATFORM_CERT_HOLDER "holder is serial 7777 of" \
  "$work/ac-serial.der" "$work/ek-rsa.der"
ac "$work/ac-expired.der" --holder-cert "$work/ek-rsa.der" --not-before 20190101000000Z --not-after 20210101000000Z
refused "expired" PLATFORM_CERT_EXPIRED "has expired (at 2021-01-01T00:00:00Z)" "$work/ac-expired.der" "$work/ek-rsa.der"
ac "$work/ac-future.der" --holder-cert "$work/ek-rsa.der" --not-before 20990101000000Z
refused "not yet valid" PLATFORM_CERT_EXPIRED "not yet valid (from 2099-01-01T00:00:00Z)" "$work/ac-future.der" "$work/ek-rsa.der"
ISSUER=$work/other/ca.pem KEY=$work/other/ca.key ac "$work/ac-other.der" --holder-cert "$work/ek-rsa.der"
refused "signed by another CA" PLATFORM_CERT_CHAIN 'no configured platform CA is named "CN=other platform CA"' \
  "$work/ac-other.der" "$work/ek-rsa.der"
verified "... which verifies when that CA is trusted" "$work/ac-other.der" "$work/ek-rsa.der" "$work/other/ca.pem"
KEY=$work/other/ca.key ac "$work/ac-badsig.der" --holder-cert "$work/ek-rsa.der"
refused "another key under swtpm's CA name" PLATFORM_CERT_CHAIN "bad signature" "$work/ac-badsig.der" "$work/ek-rsa.der"
refused "CA not trusted (intermediate only)" PLATFORM_CERT_CHAIN "unable to get local issuer certificate" \
  "$work/ac.der" "$work/ek-rsa.der" "$INTER"
ac "$work/ac-nobase.der" --holder-cert "$work/ek-rsa.der" --no-base-cert-id
refused "holder without baseCertificateID" PLATFORM_CERT_MALFORMED "the holder has no baseCertificateID" \
  "$work/ac-nobase.der" "$work/ek-rsa.der"
ac "$work/ac-v1.der" --holder-cert "$work/ek-rsa.der" --ac-version 0
refused "version v1" PLATFORM_CERT_MALFORMED "version 0, v2 (1) required" "$work/ac-v1.der" "$work/ek-rsa.der"
ac "$work/ac-noholder.der" --holder-cert "$work/ek-rsa.der" --omit-holder
refused "no holder at all" PLATFORM_CERT_MALFORMED "Field=holder" "$work/ac-noholder.der" "$work/ek-rsa.der"

# A third party's attribute certificate (RFC 7468, figure 14) parses with
# these templates; its issuer is nobody we trust.
refused "RFC 7468's attribute certificate" PLATFORM_CERT_CHAIN 'unknown issuer' \
  "$src/tests/data/platformcerts/rfc7468-attribute-cert.pem" "$work/ek-rsa.der"
same "... parsed" "$(json '(r["form"], r["serial_number"], r["holder"]["serial"], r["not_after"])')" \
  "('attribute', '0115AB81454A', '0115AB814512', '3911-01-31T05:00:00Z')"

# --- Bytes that are not a platform certificate --------------------------------
head -c 300 /dev/urandom > "$work/garbage.der"
refused "garbage" PLATFORM_CERT_MALFORMED "not a DER platform certificate" "$work/garbage.der" "$work/ek-rsa.der"
for f in plat ac; do
  size=$(stat -c %s "$work/$f.der")
  head -c $((size - 7)) "$work/$f.der" > "$work/$f-trunc.der"
  refused "$f truncated" PLATFORM_CERT_MALFORMED "not a DER platform certificate" "$work/$f-trunc.der" "$work/ek-rsa.der"
  { cat "$work/$f.der"; printf '\0'; } > "$work/$f-trail.der"
  refused "$f with a trailing byte" PLATFORM_CERT_MALFORMED "1 trailing bytes" "$work/$f-trail.der" "$work/ek-rsa.der"
done
refused "an EK certificate" PLATFORM_CERT_MALFORMED "without EKU tcg-kp-PlatformCertificate" \
  "$work/ek-rsa.der" "$work/ek-rsa.der"
: > "$work/empty.der"
refused "empty" PLATFORM_CERT_MALFORMED "empty platform certificate" "$work/empty.der" "$work/ek-rsa.der"

# Usage errors exit 2, --help 0.
"$V" platform-cert "$work/plat.der" --ek-cert "$work/ek-rsa.der" > /dev/null 2>&1
same "no --platform-ca: exit 2" "$?" 2
"$V" platform-cert "$work/plat.der" --platform-ca "$CA" > /dev/null 2>&1
same "no --ek-cert: exit 2" "$?" 2
"$V" platform-cert --ek-cert "$work/ek-rsa.der" --platform-ca "$CA" > /dev/null 2>&1
same "no FILE: exit 2" "$?" 2
"$V" platform-cert --help > "$work/out" 2>&1
same "--help: exit 0" "$?" 0
"$V" help platform-cert | grep -q -- '--platform-ca PATH'
same "help platform-cert" "$?" 0
finish test_platformcert.sh
