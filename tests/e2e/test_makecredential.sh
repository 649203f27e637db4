#!/usr/bin/env bash
# Software MakeCredential (common/rt_makecred) judged by the TPM, through
# tests/rt_makecred_tool: for swtpm's RSA-2048 and ECC P-384 EKs and an ECC
# P-256 EK made from the TCG template, a credential our code makes for an AK
# must come back from tpm2_activatecredential as exactly the secret; one with
# a flipped byte, or made for another AK's name, must not. tpm2-tools' own
# credentials (offline and by the TPM) activate too, which checks the test
# itself. Also: our names equal the TPM's, the EK public areas match their
# certificates, and quotes by the AKs verify with rt_tpm_sig_verify.
# Run under tests/harness/with-swtpm [--abrmd].
# Usage: test_makecredential.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: test_makecredential.sh BUILD_DIR}
tool=$build/tests/rt_makecred_tool
: "${TPM2TOOLS_TCTI:?run under tests/harness/with-swtpm}"
work=$(mktemp -d "${TMPDIR:-/tmp}/test_makecredential.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"
cd "$work"
# Commands and checks write to ./out; failures show it.
RT_TEST_OUT=out

# Without a resource manager (direct mode) tpm2-tools leave their objects
# and sessions loaded, and swtpm has three object slots.
tidy() {
  tpm2_flushcontext -t > /dev/null 2>&1 || true
  tpm2_flushcontext -s > /dev/null 2>&1 || true
}

# PolicyC (PolicyAuthorizeNV) of the EK Credential Profile's high-range
# templates: swtpm's P-384 EK authPolicy is PolicyOR(PolicyA, PolicyC) with
# PolicyA = PolicySecret(endorsement), SHA-384.
polc_sha384=d6032ce61f2fb3c240eb3cf6a33237ef2b6a16f4293c22b455e261cffd217ad5b4947c2d73e63005eed2dc2b3593d165

# activate EK HALG KIND AK_CTX CRED OUT: tpm2_activatecredential with a policy
# session satisfying the EK's policy (KIND: std or high); stderr in act.err.
activate() {
  local ek=$1 halg=$2 kind=$3 ak=$4 cred=$5 res=$6 rc=0
  rm -f "$res"
  tpm2_startauthsession --policy-session -g "$halg" -S session.ctx > /dev/null 2> act.err || return 1
  tpm2_policysecret -S session.ctx -c e -L polA.bin > /dev/null 2>> act.err || rc=1
  if [ "$rc" -eq 0 ] && [ "$kind" = high ]; then
    echo "$polc_sha384" | xxd -r -p > polC.bin
    tpm2_policyor -S session.ctx -l "$halg:polA.bin,polC.bin" > /dev/null 2>> act.err || rc=1
  fi
  if [ "$rc" -eq 0 ]; then
    tpm2_activatecredential -c "$ak" -C "$ek" -i "$cred" -o "$res" -P session:session.ctx \
      > /dev/null 2>> act.err || rc=$?
  fi
  tpm2_flushcontext session.ctx > /dev/null 2>&1 || true
  tidy
  return "$rc"
}

# activates_to WHAT EK HALG KIND AK CRED SECRET: activation returns SECRET.
activates_to() {
  local what=$1
  shift
  if activate "$1" "$2" "$3" "$4" "$5" res.bin && cmp -s res.bin "$6"; then ok; else
    cp act.err out
    bad "$what: activation did not return the secret"
  fi
}

# refused_integrity WHAT EK HALG KIND AK CRED: the TPM refuses the credential
# with an integrity error (what a wrong HMAC, encIdentity or name gives).
refused_integrity() {
  local what=$1
  shift
  if activate "$1" "$2" "$3" "$4" "$5" res.bin; then
    bad "$what: activated"
  elif grep -q 'integrity check failed' act.err; then ok; else
    cp act.err out
    bad "$what: refused, but not for integrity"
  fi
}

# flip IN OFFSET OUT: copy IN with the byte at OFFSET (negative: from the end)
# inverted.
flip() {
  python3 - "$1" "$2" "$3" << 'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[int(sys.argv[2])] ^= 0xFF
open(sys.argv[3], "wb").write(data)
PY
}

hexname() { xxd -p -c 256 "$1"; }

tpm2_nvread 0x01c00002 -o cert-rsa.der > /dev/null 2>&1
tpm2_nvread 0x01c00016 -o cert-ecc.der > /dev/null 2>&1
tidy

# The P-256 EK from the TCG default template (L-2), made persistent.
p256_ek=0x81010002
if tpm2_createek -G ecc256 -c "$p256_ek" > out 2>&1; then ok; else
  bad "tpm2_createek -G ecc256"
  p256_ek=
fi
tidy

# run_ek LABEL EK HALG KIND CERT AK_ALG AK_SCHEME AK_HASH
#   HALG: the EK's nameAlg (its digest size bounds the secret); KIND: std or
#   high (EK policy); CERT: the EK's certificate, or none.
run_ek() {
  local label=$1 ek=$2 halg=$3 kind=$4 cert=$5 ak_alg=$6 ak_scheme=$7 ak_hash=$8
  local dsize
  case $halg in
  sha256) dsize=32 ;;
  sha384) dsize=48 ;;
  esac
  echo "== $label EK $ek, AK $ak_alg/$ak_scheme/$ak_hash" >&2
  rm -f ./*.ctx ./*.pub ./*.name ./*.cred ./*.bin

  tpm2_readpublic -c "$ek" -o ek.pub -n ek.name > /dev/null
  tidy
  # Our name of the EK is the TPM's; the public area is the certificate's key.
  if [ "$("$tool" --name ek.pub 2> out)" = "$(hexname ek.name)" ]; then ok; else
    bad "$label: EK name differs from tpm2_readpublic's"
  fi
  for c in cert-rsa.der cert-ecc.der; do
    if [ "$c" = "$cert" ]; then
      check "$label: EK public does not match $c" "$tool" --matches ek.pub "$c"
    else
      refuse "$label: EK public matches $c" "$tool" --matches ek.pub "$c"
    fi
  done

  tpm2_createak -C "$ek" -c ak.ctx -G "$ak_alg" -g "$ak_hash" -s "$ak_scheme" -u ak.pub \
    -n ak.name > /dev/null
  tidy
  tpm2_createak -C "$ek" -c ak2.ctx -G ecc -g sha256 -s ecdsa -u ak2.pub -n ak2.name > /dev/null
  tidy
  if [ "$("$tool" --name ak.pub 2> out)" = "$(hexname ak.name)" ]; then ok; else
    bad "$label: AK name differs from tpm2_createak's"
  fi

  head -c "$dsize" /dev/urandom > secret.bin
  head -c 16 /dev/urandom > short.bin

  # Ours activates, with a secret of the maximum and of a small size.
  check "$label: rt_makecred_tool" "$tool" ek.pub ak.name secret.bin ours.cred
  activates_to "$label: our credential" "$ek" "$halg" "$kind" ak.ctx ours.cred secret.bin
  check "$label: rt_makecred_tool (16 bytes)" "$tool" ek.pub ak.name short.bin short.cred
  activates_to "$label: our 16-byte credential" "$ek" "$halg" "$kind" ak.ctx short.cred short.bin

  # tpm2-tools' credentials activate the same way (the test itself is
  # sound), and their file has our layout: header, then the same ID object
  # size. (Total sizes may differ: tpm2-tools writes ECC point coordinates
  # without leading zero bytes, we pad them to the curve size as the TPM does;
  # comparing them failed about one run in a hundred.)
  check "$label: tpm2_makecredential -T none" tpm2_makecredential -T none -u ek.pub \
    -s secret.bin -n "$(hexname ak.name)" -o tools.cred
  activates_to "$label: tpm2-tools offline credential" "$ek" "$halg" "$kind" ak.ctx tools.cred \
    secret.bin
  check "$label: tpm2_makecredential on the TPM" tpm2_makecredential -u ek.pub -s secret.bin \
    -n "$(hexname ak.name)" -o tpm.cred
  tidy
  activates_to "$label: TPM-made credential" "$ek" "$halg" "$kind" ak.ctx tpm.cred secret.bin
  if [ -s ours.cred ] && [ "$(head -c 8 ours.cred | xxd -p)" = badcc0de00000001 ] &&
    [ "$(head -c 10 ours.cred | xxd -p)" = "$(head -c 10 tools.cred | xxd -p)" ]; then ok; else
    bad "$label: credential file layout differs from tpm2_makecredential's"
  fi

  # Tampering: header 8 bytes, TPM2B_ID_OBJECT size 2, TPM2B_DIGEST size 2,
  # integrity HMAC (dsize), encIdentity; then TPM2B_ENCRYPTED_SECRET.
  flip ours.cred 15 bad-hmac.cred
  refused_integrity "$label: flipped integrity HMAC byte" "$ek" "$halg" "$kind" ak.ctx bad-hmac.cred
  flip ours.cred $((8 + 2 + 2 + dsize + 1)) bad-enc.cred
  refused_integrity "$label: flipped encIdentity byte" "$ek" "$halg" "$kind" ak.ctx bad-enc.cred
  flip ours.cred -1 bad-seed.cred
  if activate "$ek" "$halg" "$kind" ak.ctx bad-seed.cred res.bin; then
    bad "$label: flipped encrypted seed activated"
  else ok; fi

  # Made for another AK's name: refused for this AK, activates for that one.
  check "$label: rt_makecred_tool (AK2)" "$tool" ek.pub ak2.name secret.bin other.cred
  refused_integrity "$label: credential for another AK name" "$ek" "$halg" "$kind" ak.ctx other.cred
  activates_to "$label: credential for AK2 with AK2" "$ek" "$halg" "$kind" ak2.ctx other.cred \
    secret.bin

  # A secret longer than the EK nameAlg digest is refused.
  head -c $((dsize + 1)) /dev/urandom > long.bin
  refuse "$label: secret of $((dsize + 1)) bytes" "$tool" ek.pub ak.name long.bin long.cred
  if grep -q "secret of $((dsize + 1)) bytes" out; then ok; else bad "$label: long secret message"; fi

  # The AK's quote verifies with our code, and not when changed or with AK2.
  tpm2_quote -c ak.ctx -l sha256:0,1,2 -q 0011223344556677 -g "$ak_hash" --scheme "$ak_scheme" \
    -m quote.msg -s quote.sig > /dev/null
  tidy
  local want_hash
  case $ak_hash in
  sha256) want_hash=0x000b ;;
  sha384) want_hash=0x000c ;;
  esac
  if [ "$("$tool" --verify ak.pub quote.msg quote.sig 2> out)" = "quote $want_hash" ]; then ok; else
    bad "$label: TPM quote ($ak_scheme/$ak_hash) does not verify"
  fi
  flip quote.msg -3 quote-bad.msg
  refuse "$label: changed quote verifies" "$tool" --verify ak.pub quote-bad.msg quote.sig
  if grep -q 'signature does not verify' out; then ok; else bad "$label: changed quote message"; fi
  refuse "$label: quote verifies with AK2" "$tool" --verify ak2.pub quote.msg quote.sig
}

run_ek RSA-2048 0x81010001 sha256 std cert-rsa.der rsa rsassa sha256
run_ek P-384 0x81010016 sha384 high cert-ecc.der ecc ecdsa sha384
if [ -n "$p256_ek" ]; then
  run_ek P-256 "$p256_ek" sha256 std none rsa rsapss sha256
fi

finish test_makecredential.sh
