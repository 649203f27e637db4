#!/usr/bin/env bash
# EK certificates as they are in the field, through the verifier's own EK
# check (`rattest-verifier ek-cert`, the code Begin runs): Google vTPM RSA
# and ECC EKs of two CA hierarchies (one with a critical SAN directoryName
# and an empty subject), a Nuvoton RSA EK under an ECC root, all with the
# shipped bundle certs/manufacturers; intermediates from the client instead
# of the bundle; and the refusals: wrong CA, missing intermediate, an
# intermediate as the only anchor, garbage, an expired EK (accepted only as
# advisory), an expired CA (never).
# Usage: test_ekcerts.sh BUILD_DIR
set -uo pipefail
build=${1:?usage: test_ekcerts.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
V="$build/bin/rattest-verifier"
D="$src/tests/data/ekcerts"
G="$D/google-vtpm" N="$D/nuvoton-npct75x-lenovo-sr630"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"

same() { # WHAT GOT WANT
  if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi
}
# json FILE EXPR: evaluates a Python expression over the JSON array `r`.
json() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
verified() { # WHAT ARGS...: exit 0 and every result verified
  local what=$1; shift
  if "$V" ek-cert --json "$@" > "$work/out.json" 2> "$work/err" &&
      [ "$(json "$work/out.json" 'all(x["verified"] for x in r)')" = True ]; then ok
  else bad "$what: $(cat "$work/out.json" "$work/err" | head -c 600)"; fi
}
refused() { # WHAT PATTERN ARGS...: exit 1 and the error matches
  local what=$1 pattern=$2; shift 2
  "$V" ek-cert "$@" > "$work/out" 2>&1
  local rc=$?
  if [ "$rc" = 1 ] && grep -q -- "$pattern" "$work/out"; then ok
  else bad "$what: exit $rc, no '$pattern' in: $(head -c 600 "$work/out")"; fi
}

# Real certificates with the shipped bundle, and with their own CA sets.
verified "Google vTPM x4 and Nuvoton, shipped bundle" "$G"/*.pem "$N/ek_cert_nuvoton_npct75x.pem" \
  --ek-ca "$src/certs/manufacturers"
same "TPM vendor, model, version from the critical SAN" \
  "$(json "$work/out.json" '[(x["vendor"], x["model"], x["version"]) for x in r][2:]')" \
  "[('GOOG', 'vTPM', 'id:20160511'), ('GOOG', 'vTPM', 'id:20160511'), ('NTC', 'NPCT75x', 'id:00070002')]"
same "no expiry flagged" "$(json "$work/out.json" 'any(x["expired"] for x in r)')" False
verified "Google vTPM, its own CA directory" "$G"/*.pem --ek-ca "$G/ca"
verified "Nuvoton RSA EK under the ECC root alone" "$N/ek_cert_nuvoton_npct75x.pem" \
  --ek-ca "$N/Nuvoton_TPM_Root_CA_2111.pem"
# The SPKI hash is the EK identity the issued certificates carry.
want=$(openssl x509 -in "$N/ek_cert_nuvoton_npct75x.pem" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)
same "ek_sha256 = SHA-256 of the SubjectPublicKeyInfo" "$(json "$work/out.json" 'r[0]["ek_sha256"]')" "$want"

# Intermediates from the client: root-only anchor plus --intermediates.
verified "uca EKs, root anchor + client intermediate" "$G"/uca_*.pem --ek-ca "$G/ca/tpm_ek_root_1.cer" \
  --intermediates "$G/ca/tpm_ek_intermediate_3.crt"
refused "uca EK, root anchor without the intermediate" "unable to get local issuer certificate" \
  "$G/uca_tpm_rsa_enc_cert.pem" --ek-ca "$G/ca/tpm_ek_root_1.cer"
refused "uca EK, the intermediate as the only anchor" "unable to get issuer certificate (depth 1)" \
  "$G/uca_tpm_rsa_enc_cert.pem" --ek-ca "$G/ca/tpm_ek_intermediate_3.crt"
refused "Google EK, Nuvoton's root" "does not chain to a trusted manufacturer CA" \
  "$G/uca_tpm_ecc_enc_cert.pem" --ek-ca "$N/Nuvoton_TPM_Root_CA_2111.pem"
head -c 300 /dev/urandom > "$work/garbage.der"
refused "garbage certificate" "not a DER certificate" "$work/garbage.der" --ek-ca "$G/ca"
refused "garbage intermediate" "EK intermediate 0 is not a DER certificate" "$G/uca_tpm_rsa_enc_cert.pem" \
  --ek-ca "$G/ca/tpm_ek_root_1.cer" --intermediates "$work/garbage.der"

# Expiry: a CA and EK certificates with past validity (openssl ca sets the
# dates); the EK's own notAfter is advisory only under the policy switch.
mkca() { # DIR START END: a self-signed CA valid START..END
  mkdir -p "$1/db" && : > "$1/db/index" && echo 01 > "$1/db/serial"
  cat > "$1/ca.cnf" <<CNF
[ca]
default_ca = ca_sect
[ca_sect]
dir = $1
database = \$dir/db/index
serial = \$dir/db/serial
new_certs_dir = \$dir/db
certificate = \$dir/ca.pem
private_key = \$dir/ca.key
default_md = sha256
policy = pol
unique_subject = no
copy_extensions = none
[pol]
commonName = supplied
[v3_ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
[v3_ek]
basicConstraints = critical,CA:false
keyUsage = critical,keyEncipherment
CNF
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1/ca.key" \
    -subj "/CN=test EK CA" -out "$1/ca.csr" 2>/dev/null
  openssl ca -batch -config "$1/ca.cnf" -selfsign -keyfile "$1/ca.key" -in "$1/ca.csr" \
    -startdate "$2" -enddate "$3" -extensions v3_ca -out "$1/ca.pem" 2>/dev/null
}
ek() { # CADIR START END OUT: an EK certificate signed by the CA
  openssl req -new -newkey rsa:2048 -nodes -keyout "$4.key" -subj "/CN=ek" -out "$4.csr" 2>/dev/null
  openssl ca -batch -config "$1/ca.cnf" -in "$4.csr" -startdate "$2" -enddate "$3" \
    -extensions v3_ek -out "$4" 2>/dev/null
}
mkca "$work/ca" 20200101000000Z 20991231235959Z
ek "$work/ca" 20200101000000Z 20210101000000Z "$work/expired-ek.pem"
ek "$work/ca" 20200101000000Z 20991231235959Z "$work/good-ek.pem"
mkca "$work/oldca" 20100101000000Z 20200101000000Z
ek "$work/oldca" 20100101000000Z 20991231235959Z "$work/ek-of-old-ca.pem"
if [ -s "$work/expired-ek.pem" ] && [ -s "$work/ek-of-old-ca.pem" ]; then ok; else bad "openssl ca made no test certificates"; fi
verified "a valid EK of the test CA" "$work/good-ek.pem" --ek-ca "$work/ca/ca.pem"
refused "expired EK, default" "certificate has expired (depth 0)" "$work/expired-ek.pem" --ek-ca "$work/ca/ca.pem"
verified "expired EK, --expiry-advisory" "$work/expired-ek.pem" --ek-ca "$work/ca/ca.pem" --expiry-advisory
same "expired EK reported" "$(json "$work/out.json" '(r[0]["expired"], r[0]["not_after"])')" \
  "(True, '2021-01-01T00:00:00Z')"
refused "expired CA, even with --expiry-advisory" "certificate has expired (depth 1)" \
  "$work/ek-of-old-ca.pem" --ek-ca "$work/oldca/ca.pem" --expiry-advisory

# Usage errors exit 2.
"$V" ek-cert "$work/good-ek.pem" > /dev/null 2>&1
same "no --ek-ca: exit 2" "$?" 2
"$V" ek-cert --ek-ca "$work/ca/ca.pem" > /dev/null 2>&1
same "no CERT: exit 2" "$?" 2
finish test_ekcerts.sh
