#!/usr/bin/env bash
# Software TPM2_Import blobs (common/rt_dup, through tests/rt_dup_tool)
# judged by swtpm and tpm2-tools, under the RSA-2048 and the ECC P-256 EK
# (TCG default templates, tpm2_createek -G rsa|ecc):
#   - a sealed secret imports, loads under the EK and unseals to the bytes;
#   - one sealed to PolicyPCR(sha256:0,7) unseals with a PolicyPCR session,
#     not with a password, and not once PCR 7 has moved; our PolicyPCR
#     digest equals tpm2_policypcr -L's;
#   - an RSA key imports, signs (verified by openssl against the PEM), and
#     its public key and name are the PEM's and ours;
#   - blobs for another key, flipped bytes in the duplicate (HMAC, encrypted
#     part), the seed or the public area are refused by the TPM, with the
#     error each deserves.
# Run under tests/harness/with-swtpm [--abrmd].
# Usage: test_dup.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: test_dup.sh BUILD_DIR}
tool=$build/tests/rt_dup_tool
mctool=$build/tests/rt_makecred_tool
: "${TPM2TOOLS_TCTI:?run under tests/harness/with-swtpm}"
work=$(mktemp -d "${TMPDIR:-/tmp}/test_dup.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/tpm2tools.sh"
cd "$work"
# Commands and checks write to ./out; failures show it.
RT_TEST_OUT=out

# import EK PUB DUP SEED PRIV: tpm2_import under the EK.
import() {
  ek_cmd tpm2_import -C "$1" -u "$2" -i "$3" -s "$4" -r "$5" -P session:ek.sess
}

# load EK PUB PRIV CTX: tpm2_load under the EK; the TPM's name in CTX.name.
load() {
  ek_cmd tpm2_load -C "$1" -u "$2" -r "$3" -c "$4" -n "$4.name" -P session:ek.sess
}

# refused WHAT PATTERN EK PUB DUP SEED: tpm2_import fails and its error
# matches PATTERN (egrep).
refused() {
  local what=$1 pattern=$2
  shift 2
  if import "$@" refused.priv 2> out; then
    bad "$what: imported"
  elif grep -Eq "$pattern" out; then ok; else
    bad "$what: refused, but not for /$pattern/"
  fi
}

# flip IN OFFSET OUT [MASK]: copy IN with the byte at OFFSET (negative: from
# the end) XORed with MASK (default 0xff).
flip() {
  python3 - "$1" "$2" "$3" "${4:-0xff}" << 'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[int(sys.argv[2])] ^= int(sys.argv[4], 16)
open(sys.argv[3], "wb").write(data)
PY
}

hex() { xxd -p -c 256 "$1"; }

# The TPM's errors as tpm2-tools prints them. A wrong RSA seed fails OAEP
# decryption: TPM_RC_VALUE, which libtpms before 0.10 (stefanberger/libtpms
# PR #445) reported as TPM_RC_FAILURE (0x101) without entering failure mode.
INTEGRITY='integrity check failed'
RSA_SEED='value is out of range|Esys_[A-Za-z]*\(0x101\)'
ECC_SEED='point is not on the required curve'

# Keys made for a different parent: an owner-hierarchy storage key of each
# type (restricted decryption, AES-128-CFB, like the EKs).
tpm2_createprimary -C o -G rsa2048:aes128cfb -c srk.ctx > /dev/null
tpm2_readpublic -c srk.ctx -o other-rsa.pub > /dev/null
tidy
tpm2_createprimary -C o -G ecc256:aes128cfb -c srk.ctx > /dev/null
tpm2_readpublic -c srk.ctx -o other-ecc.pub > /dev/null
tidy

rsa_ek=0x81010003
ecc_ek=0x81010002
check "tpm2_createek -G rsa" tpm2_createek -G rsa -c "$rsa_ek" -u ek-rsa.pub
tidy
check "tpm2_createek -G ecc" tpm2_createek -G ecc -c "$ecc_ek" -u ek-ecc.pub
tidy

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key.pem 2> /dev/null
openssl pkey -in key.pem -pubout -out key.pub.pem
openssl pkey -in key.pem -pubout -outform DER -out key.pub.der
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out key3072.pem 2> /dev/null
openssl pkey -in key3072.pem -pubout -outform DER -out key3072.pub.der

# The tool refuses what the TPM would: too much data, a parent that is not
# a storage key (the signing key's own public area), a non-RSA key.
head -c 129 /dev/urandom > big129.bin
refuse "129 bytes sealed" "$tool" sealed ek-rsa.pub big129.bin x.pub x.dup x.seed
if grep -q '129 bytes of data (1 to 128)' out; then ok; else bad "129 bytes: message"; fi
check "rt_dup_tool rsa" "$tool" rsa ek-rsa.pub key.pem x.pub x.dup x.seed
head -c 16 /dev/urandom > small.bin
refuse "signing key as parent" "$tool" sealed x.pub small.bin y.pub y.dup y.seed
if grep -q 'parent: not a restricted decryption key' out; then ok; else
  bad "signing key as parent: message"
fi
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem 2> /dev/null
refuse "EC key as RSA" "$tool" rsa ek-rsa.pub ec.pem y.pub y.dup y.seed
if grep -q 'not an RSA key' out; then ok; else bad "EC key as RSA: message"; fi

# run_ek TYPE EK: every case under one EK.
run_ek() {
  local type=$1 ek=$2 other_type seed_err
  local epub=ek-$type.pub
  echo "== $type EK $ek" >&2
  rm -f ./*.ctx ./*.name ./o.* ./p.* ./r.* ./r3.* ./x.* ./bad.* ./*.bin ./*.policy
  case $type in
  rsa) other_type=ecc seed_err=$RSA_SEED ;;
  ecc) other_type=rsa seed_err=$ECC_SEED ;;
  esac

  # Sealed, no policy: import, load, unseal with the empty password.
  head -c 100 /dev/urandom > secret.bin
  check "$type: rt_dup_tool sealed" "$tool" sealed "$epub" secret.bin o.pub o.dup o.seed
  check "$type: tpm2_import (sealed)" import "$ek" o.pub o.dup o.seed o.priv
  check "$type: tpm2_load (sealed)" load "$ek" o.pub o.priv o.ctx
  if [ "$("$mctool" --name o.pub 2> out)" = "$(hex o.ctx.name)" ]; then ok; else
    bad "$type: our name of the sealed object differs from the TPM's"
  fi
  rm -f unsealed.bin
  if tpm2_unseal -c o.ctx -o unsealed.bin > out 2>&1 && cmp -s unsealed.bin secret.bin; then ok; else
    bad "$type: tpm2_unseal did not return the secret"
  fi
  tidy
  # The largest sealed object (128 bytes) too.
  head -c 128 /dev/urandom > big.bin
  check "$type: rt_dup_tool sealed (128 bytes)" "$tool" sealed "$epub" big.bin x.pub x.dup x.seed
  rm -f unsealed.bin
  if import "$ek" x.pub x.dup x.seed x.priv 2> out && load "$ek" x.pub x.priv x.ctx 2> out &&
    tpm2_unseal -c x.ctx -o unsealed.bin > out 2>&1 && cmp -s unsealed.bin big.bin; then ok; else
    bad "$type: 128-byte secret did not come back"
  fi
  tidy

  # Refusals. The duplicate file: TPM2B_PRIVATE size (2), the HMAC's
  # TPM2B_DIGEST size (2) and HMAC (32), then the encrypted TPM2B_SENSITIVE.
  local off
  for off in 4 35 36 40 -1; do
    flip o.dup "$off" bad.dup
    refused "$type: duplicate byte $off flipped" "$INTEGRITY" "$ek" o.pub bad.dup o.seed
  done
  flip o.dup 3 bad.dup
  refuse "$type: HMAC size flipped" import "$ek" o.pub bad.dup o.seed bad.priv
  for off in 10 -1; do
    flip o.seed "$off" bad.seed
    refused "$type: seed byte $off flipped" "$seed_err" "$ek" o.pub o.dup bad.seed
  done
  # The public area is in the HMAC through the name: a changed unique byte
  # or attribute (noDA: TPM2B size 2, type 2, nameAlg 2, attributes 4 big
  # endian) is an integrity failure; fixedTPM is refused as such.
  flip o.pub -1 bad.pub
  refused "$type: public unique byte flipped" "$INTEGRITY" "$ek" bad.pub o.dup o.seed
  flip o.pub 8 bad.pub 0x04
  refused "$type: public noDA flipped" "$INTEGRITY" "$ek" bad.pub o.dup o.seed
  flip o.pub 9 bad.pub 0x02
  refused "$type: public with fixedTPM" "inconsistent attributes" "$ek" bad.pub o.dup o.seed
  # Made for another key: a storage key of the same type (the seed opens
  # to garbage for ECC, not at all for RSA), and the other EK's type.
  check "$type: rt_dup_tool for another $type key" "$tool" sealed "other-$type.pub" secret.bin \
    x.pub x.dup x.seed
  if [ "$type" = ecc ]; then
    refused "$type: blob for another ECC key" "$INTEGRITY" "$ek" x.pub x.dup x.seed
  else
    refused "$type: blob for another RSA key" "$RSA_SEED" "$ek" x.pub x.dup x.seed
  fi
  check "$type: rt_dup_tool for the $other_type EK" "$tool" sealed "ek-$other_type.pub" \
    secret.bin x.pub x.dup x.seed
  refused "$type: blob for the $other_type EK" "wrong size|$seed_err|$INTEGRITY" "$ek" \
    x.pub x.dup x.seed

  # PolicyPCR over sha256:0,7 with the TPM's current values. Our digest is
  # tpm2_policypcr's (trial session), with the TPM's values and with others.
  tpm2_pcrread sha256:0,7 -o pcr.bin > /dev/null
  head -c 64 /dev/urandom > pcr-other.bin
  local vals
  for vals in pcr.bin pcr-other.bin; do
    check "$type: rt_dup_tool policy-pcr $vals" "$tool" policy-pcr sha256:0,7 "$vals" ours.policy
    tpm2_startauthsession -S trial.sess > /dev/null
    tpm2_policypcr -S trial.sess -l sha256:0,7 -f "$vals" -L tools.policy > /dev/null 2> out || true
    tpm2_flushcontext trial.sess > /dev/null 2>&1 || true
    tidy
    if [ -s ours.policy ] && cmp -s ours.policy tools.policy; then ok; else
      bad "$type: PolicyPCR digest ($vals) differs from tpm2_policypcr -L"
    fi
  done
  check "$type: rt_dup_tool sealed --pcr-policy" "$tool" sealed "$epub" secret.bin p.pub p.dup \
    p.seed --pcr-policy sha256:0,7 pcr.bin
  check "$type: tpm2_import (PCR-sealed)" import "$ek" p.pub p.dup p.seed p.priv
  check "$type: tpm2_load (PCR-sealed)" load "$ek" p.pub p.priv p.ctx
  # unseal_pcr: tpm2_unseal of p.ctx with a PolicyPCR(sha256:0,7) session;
  # errors to stderr.
  unseal_pcr() {
    local rc=0
    rm -f unsealed.bin
    tpm2_startauthsession --policy-session -S pcr.sess > /dev/null || return 1
    tpm2_policypcr -S pcr.sess -l sha256:0,7 > /dev/null || rc=1
    if [ "$rc" -eq 0 ]; then
      tpm2_unseal -c p.ctx -p session:pcr.sess -o unsealed.bin > /dev/null || rc=1
    fi
    tpm2_flushcontext pcr.sess > /dev/null 2>&1 || true
    tidy
    return "$rc"
  }
  if unseal_pcr 2> out && cmp -s unsealed.bin secret.bin; then ok; else
    bad "$type: PCR-sealed secret did not unseal with a PolicyPCR session"
  fi
  # userWithAuth is clear: the (empty) password does not open it.
  if tpm2_unseal -c p.ctx -o unsealed.bin > out 2>&1; then
    bad "$type: PCR-sealed secret unsealed with a password"
  elif grep -q 'authValue or authPolicy is not available' out; then ok; else
    bad "$type: password unseal refused, but not for the auth role"
  fi
  tidy
  # The authPolicy is in the name, so in the HMAC.
  flip p.pub 12 bad.pub
  refused "$type: public authPolicy byte flipped" "$INTEGRITY" "$ek" bad.pub p.dup p.seed
  # PCR 7 moves: the policy no longer holds.
  tpm2_pcrextend "7:sha256=$(head -c 32 /dev/urandom | xxd -p -c 64)"
  if unseal_pcr 2> out; then
    bad "$type: PCR-sealed secret unsealed after PCR 7 changed"
  elif grep -q 'a policy check failed' out; then ok; else
    bad "$type: unseal after PCR 7 changed refused, but not for the policy"
  fi

  # The RSA key: import, load, sign a digest, verify with the PEM's key.
  check "$type: rt_dup_tool rsa" "$tool" rsa "$epub" key.pem r.pub r.dup r.seed
  check "$type: tpm2_import (RSA key)" import "$ek" r.pub r.dup r.seed r.priv
  check "$type: tpm2_load (RSA key)" load "$ek" r.pub r.priv r.ctx
  if [ "$("$mctool" --name r.pub 2> out)" = "$(hex r.ctx.name)" ]; then ok; else
    bad "$type: our name of the RSA key differs from the TPM's"
  fi
  tpm2_readpublic -c r.ctx -f pem -o r.tpm.pem > /dev/null
  tidy
  openssl pkey -pubin -in r.tpm.pem -outform DER -out r.tpm.der
  if cmp -s r.tpm.der key.pub.der; then ok; else
    bad "$type: the imported key's public key is not the PEM's"
  fi
  echo "message for $type" > msg.bin
  openssl dgst -sha256 -binary msg.bin > digest.bin
  check "$type: tpm2_sign with the imported key" tpm2_sign -c r.ctx -g sha256 -s rsassa -d \
    -f plain -o sig.bin digest.bin
  tidy
  check "$type: openssl verifies the TPM's signature" openssl pkeyutl -verify -pubin \
    -inkey key.pub.pem -in digest.bin -sigfile sig.bin -pkeyopt digest:sha256
  flip digest.bin 0 digest-bad.bin
  refuse "$type: signature verifies over another digest" openssl pkeyutl -verify -pubin \
    -inkey key.pub.pem -in digest-bad.bin -sigfile sig.bin -pkeyopt digest:sha256
  flip r.dup -1 bad.dup
  refused "$type: RSA duplicate last byte flipped" "$INTEGRITY" "$ek" r.pub bad.dup r.seed
  # A 3072-bit key imports and loads as itself too.
  check "$type: rt_dup_tool rsa (3072)" "$tool" rsa "$epub" key3072.pem r3.pub r3.dup r3.seed
  if import "$ek" r3.pub r3.dup r3.seed r3.priv 2> out && load "$ek" r3.pub r3.priv r3.ctx 2> out &&
    tpm2_readpublic -c r3.ctx -f pem -o r3.tpm.pem > /dev/null 2> out &&
    openssl pkey -pubin -in r3.tpm.pem -outform DER -out r3.tpm.der 2> out &&
    cmp -s r3.tpm.der key3072.pub.der; then ok; else
    bad "$type: 3072-bit RSA key not imported as itself"
  fi
  tidy
}

run_ek rsa "$rsa_ek"
run_ek ecc "$ecc_ek"

# Nothing of ours stays loaded (direct mode: abrmd flushes on disconnect).
tidy
if [ "${RATTEST_TPM_MODE:-}" = direct ]; then
  if [ -z "$(tpm2_getcap handles-transient 2> out)" ]; then ok; else
    bad "transient objects left in the TPM"
  fi
fi

finish test_dup.sh
