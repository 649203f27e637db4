#!/usr/bin/env bash
# TSS2 PRIVATE KEY files between rattest and tpm2-openssl, on a TPM:
#  (a) keys tpm2-openssl generates (ECC P-256, RSA-2048; PEM and DER) decode
#      with rt_tss2key and load with Esys_Load under OUR SRK (rt_srk_create),
#      which can only work if our SRK template gives tpm2-openssl's primary;
#      under the TCG 32-zero-byte-unique variant they must not load;
#  (b) a key we create under our SRK and write with rt_tss2key_write is used
#      by tpm2-openssl: its public key equals ours and tpm2-tools', and its
#      signature verifies with the public key;
#  and our SRK's name equals that of tpm2-tools' primary built from the same
#  template, and no transient object is left behind (direct mode).
# Run under tests/harness/with-swtpm [--abrmd].
# Usage: test_tss2key_interop.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: test_tss2key_interop.sh BUILD_DIR}
tool=$build/tests/tss2key_tool
: "${RATTEST_TCTI:?run under tests/harness/with-swtpm}"
# tpm2-openssl reads its TCTI from here.
export TPM2OPENSSL_TCTI=$RATTEST_TCTI
work=$(mktemp -d "${TMPDIR:-/tmp}/test_tss2key_interop.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"
cd "$work"
# Commands and checks write to ./out; failures show it.
RT_TEST_OUT=out
# openssl CMD with the tpm2 provider (options before the file operands).
tpm2() {
  local cmd=$1
  shift
  openssl "$cmd" -provider tpm2 -provider default "$@"
}
# The DER of a public key, whatever its PEM wrapping.
pubder() { openssl pkey -pubin -in "$1" -outform DER; }
# Transient objects the TPM holds. Behind tpm2-abrmd each connection sees
# only its own, so this is meaningful in direct mode.
transients() { tpm2_getcap handles-transient | grep -c '0x8' || true; }
no_transients() {
  local n
  n=$(transients)
  if [ "$n" -eq 0 ]; then ok; else
    tpm2_getcap handles-transient > out 2>&1 || true
    bad "$n transient object(s) left $1"
  fi
}

no_transients "at the start"

# (a) tpm2-openssl writes, we read and load.
check "tpm2-openssl genpkey EC P-256" \
  openssl genpkey -provider tpm2 -provider base -algorithm EC -pkeyopt group:P-256 -out ec.pem
check "tpm2-openssl genpkey RSA-2048" \
  openssl genpkey -provider tpm2 -provider base -algorithm RSA -pkeyopt bits:2048 -out rsa.pem
for k in ec rsa; do
  if head -n 1 "$k.pem" | grep -qx -- '-----BEGIN TSS2 PRIVATE KEY-----'; then ok; else
    bad "$k.pem is not a TSS2 PRIVATE KEY"; fi
done
no_transients "by tpm2-openssl genpkey"
check "tpm2-openssl EC key loads under our SRK" "$tool" load ec.pem ecc
check "tpm2-openssl RSA key loads under our SRK" "$tool" load rsa.pem rsa
# The same file as DER (the PEM body) takes the DER path of the decoder.
check "PEM to DER" openssl asn1parse -in ec.pem -out ec.der -noout
check "tpm2-openssl EC key as DER loads under our SRK" "$tool" load ec.der ecc
# The judge can fail: a key of the other type is refused by the checks.
refuse "RSA key taken for ECC" "$tool" load rsa.pem ecc
no_transients "after loading tpm2-openssl keys"

# Our SRK is the primary tpm2-tools builds from the same template: same name.
check "our SRK name" "$tool" srk-name
ours=$(cat out)
check "tpm2_createprimary with the SRK template" \
  tpm2_createprimary -C o -g sha256 -G ecc256:null:aes128cfb \
  -a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt' \
  -c srk.ctx
check "tpm2_readpublic of the primary" tpm2_readpublic -c srk.ctx -n srk.name
theirs=$(od -An -v -tx1 srk.name 2> /dev/null | tr -d ' \n')
if [ -n "$ours" ] && [ "$ours" = "$theirs" ]; then ok; else
  bad "SRK name: ours $ours, tpm2-tools' $theirs"; fi
# Without a resource manager tpm2-tools leave their objects loaded (swtpm
# has three slots); srk.ctx stays usable as a saved context.
tidy() { if [ "${RATTEST_TPM_MODE:-direct}" = direct ]; then tpm2_flushcontext -t > /dev/null; fi; }
tidy

# (b) we write, tpm2-openssl (and tpm2-tools) use it.
check "create a key under our SRK and write it" \
  "$tool" create our.pem our-pub.pem our.tpub our.tpriv
st=$(stat -c %a our.pem 2> /dev/null || echo missing)
if [ "$st" = 600 ]; then ok; else bad "our.pem has mode $st"; fi
check "tpm2-openssl reads our key" tpm2 pkey -in our.pem -pubout -out ossl-pub.pem
if cmp -s <(pubder our-pub.pem) <(pubder ossl-pub.pem); then ok; else
  bad "tpm2-openssl's public key differs from ours"; fi
check "tpm2_load of our blobs under tpm2-tools' primary" \
  tpm2_load -C srk.ctx -u our.tpub -r our.tpriv -c our.ctx
check "tpm2_readpublic of our key" tpm2_readpublic -c our.ctx -f pem -o tools-pub.pem
if cmp -s <(pubder our-pub.pem) <(pubder tools-pub.pem); then ok; else
  bad "tpm2-tools' public key differs from ours"; fi
tidy
no_transients "after the tpm2-tools checks (flushed)"

printf 'message signed by a TPM key\n' > msg
# openssl 3.0's dgst -sign otherwise hands the provider key to libcrypto's
# own ECDSA ("missing private key"), with tpm2-openssl's own keys as well:
# ask for the tpm2 provider's implementation.
check "tpm2-openssl signs with our key (dgst)" \
  tpm2 dgst -propquery '?provider=tpm2' -sha256 -sign our.pem -out msg.sig msg
check "the dgst signature verifies with our public key" \
  openssl dgst -sha256 -verify our-pub.pem -signature msg.sig msg
check "tpm2-openssl signs with our key (pkeyutl -rawin)" \
  tpm2 pkeyutl -sign -inkey our.pem -rawin -digest sha256 -in msg -out msg.sig2
check "the pkeyutl signature verifies with our public key" \
  openssl dgst -sha256 -verify our-pub.pem -signature msg.sig2 msg
printf 'another message\n' > msg2
refuse "the signature verifies a different message" \
  openssl dgst -sha256 -verify our-pub.pem -signature msg.sig msg2
check "our key loads under our SRK too" "$tool" load our.pem ecc

# With an owner password set, CreatePrimary fails and the error says why.
check "set an owner password" tpm2_changeauth -c o ownerpw
refuse "SRK created without the owner password" "$tool" srk-name
if grep -q 'the owner hierarchy needs a password: CreatePrimary' out; then ok; else
  bad "owner password error not explained"; fi
check "clear the owner password" tpm2_changeauth -c o -p ownerpw

no_transients "at the end"
finish test_tss2key_interop.sh
