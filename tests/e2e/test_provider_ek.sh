#!/usr/bin/env bash
# The rattest provider with TSS2 key files whose parent is an EK
# (common/tpm/rt_ek_parent.c), on a fresh swtpm whose RSA 2048 EK (0x81010001,
# TCG low range: PolicySecret(endorsement)) and ECC P-384 EK (0x81010016,
# high range: userWithAuth) are persistent. Keys made under each EK with
# tpm2-tools, written as key files by our own writer (tss2key_tool encode):
#   - sign in the provider (pkeyutl of a digest, dgst with PSS) and verify
#     with the public key tpm2-tools prints; `pkey -pubout` agrees;
#   - TPM commands per load counted with the pcap TCTI: the persistent EK is
#     read, one policy session authorizes the Load, the session is flushed,
#     then exactly one Sign; nothing left;
#   - the persistent RSA EK evicted: the provider re-creates it from the TCG
#     template and the key still signs, EK and session flushed at once;
#   - refused with a clear message: a parent handle outside the SRK/EK
#     ranges (an object really persisted there), an EK handle holding no EK
#     and having no template, and an EK handle where a non-EK object is
#     persisted, one object per check (an owner-hierarchy storage key, the EK
#     template made in the owner hierarchy, an unrestricted endorsement
#     primary with the EK policy); an EK handle whose template gives another
#     EK than the key's: the TPM's refusal, named as such;
#   - no transient object left in the TPM.
# Usage (under with-swtpm): test_provider_ek.sh BUILD_DIR
set -uo pipefail
build=${1:?usage: test_provider_ek.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
: "${TPM2TOOLS_TCTI:?run under tests/harness/with-swtpm}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/tpm2tools.sh"
cd "$work" || exit 1
TOOL="$build/tests/tss2key_tool"
export OPENSSL_MODULES="$build/lib"
# Under ASan the uninstrumented openssl needs the runtime preloaded.
OSSL=(openssl)
[ -n "${RATTEST_PRELOAD:-}" ] && OSSL=(env LD_PRELOAD="$RATTEST_PRELOAD" ASAN_OPTIONS=detect_leaks=0 openssl)

ATTRS="fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign|decrypt"
# An RSA signing key (sign|decrypt, as delivered keys are) under each EK.
ek_cmd tpm2_create -C 0x81010001 -P session:ek.sess -G rsa2048:null:null -a "$ATTRS" \
  -u rsa-ek.pub -r rsa-ek.priv || { echo "tpm2_create under the RSA EK failed" >&2; exit 1; }
tpm2_create -C 0x81010016 -G rsa2048:null:null -a "$ATTRS" -u p384-ek.pub -r p384-ek.priv \
  > /dev/null || { echo "tpm2_create under the P-384 EK failed" >&2; exit 1; }
tidy
for k in rsa-ek:0x81010001 p384-ek:0x81010016; do
  check "encode ${k%%:*}" "$TOOL" encode "${k#*:}" "${k%%:*}.pub" "${k%%:*}.priv" "${k%%:*}.pem"
  tpm2_print -t TPM2B_PUBLIC -f pem "${k%%:*}.pub" > "${k%%:*}.pub.pem"
done

echo "signed under the EK" > msg
openssl dgst -sha256 -binary msg > msg.dgst
# signs KEY: pkeyutl of a digest (PKCS#1) and dgst with PSS, both verified
# with tpm2-tools' view of the public key.
signs() {
  local k=$1
  if "${OSSL[@]}" pkeyutl -provider rattest -provider default -sign -inkey "$k.pem" \
      -pkeyopt digest:sha256 -in msg.dgst -out "$k.sig" > out 2>&1 &&
     openssl pkeyutl -verify -pubin -inkey "$k.pub.pem" -pkeyopt digest:sha256 -in msg.dgst \
      -sigfile "$k.sig" > /dev/null 2>&1; then ok
  else bad "$k: pkeyutl -sign: $(head -c 600 out)"; fi
  if "${OSSL[@]}" dgst -provider default -provider rattest -sha256 -sigopt rsa_padding_mode:pss \
      -sigopt rsa_pss_saltlen:32 -sign "$k.pem" -out "$k.sig" msg > out 2>&1 &&
     openssl dgst -sha256 -verify "$k.pub.pem" -sigopt rsa_padding_mode:pss \
      -sigopt rsa_pss_saltlen:32 -signature "$k.sig" msg > /dev/null 2>&1; then ok
  else bad "$k: dgst -sign PSS: $(head -c 600 out)"; fi
}
for k in rsa-ek p384-ek; do
  signs "$k"
  if "${OSSL[@]}" pkey -provider rattest -provider default -in "$k.pem" -pubout > pub.pem 2> out &&
     cmp -s pub.pem "$k.pub.pem"; then ok
  else bad "$k: pkey -pubout: $(head -c 600 out)"; fi
done

# TPM commands of one pkeyutl -sign, counted with the pcap TCTI.
# pcap_all NAME KEY: the "all:" line of the capture in NAME.count.
pcap_all() {
  rm -f "$1.pcap"
  RATTEST_TCTI="pcap:$RATTEST_TCTI" TCTI_PCAP_FILE="$work/$1.pcap" "${OSSL[@]}" pkeyutl \
    -provider rattest -provider default -sign -inkey "$2.pem" -pkeyopt digest:sha256 \
    -in msg.dgst -out "$1.sig" > "$1.out" 2>&1
  python3 "$src/tests/tools/tpm_pcap_count.py" "$1.pcap" > "$1.count" 2>&1
  sed -n 's/^all: //p' "$1.count"
}
expect_cmds() { # WHAT NAME KEY EXPECTED
  local got
  got=$(pcap_all "$2" "$3")
  if [ "$got" = "$4" ] && grep -q "^objects-left: 0$" "$2.count"; then ok
  else bad "$1: TPM commands \"$got\", want \"$4\"; $(grep objects-left "$2.count") $(head -c 300 "$2.out")"; fi
}
expect_cmds "persistent low-range EK" pcap_rsa rsa-ek \
  "ReadPublic ReadPublic StartAuthSession PolicySecret Load FlushContext Sign FlushContext"
# userWithAuth: the empty password, no session.
expect_cmds "persistent high-range EK" pcap_p384 p384-ek "ReadPublic ReadPublic Load Sign FlushContext"

# --- refusals ------------------------------------------------------------
# with_parent KEY HANDLE OUT: KEY's file with the parent handle replaced
# (same INTEGER length: both have the top bit set).
with_parent() {
  python3 - "$1.pem" "$2" "$3" << 'PY'
import base64, sys
lines = open(sys.argv[1]).read().split("\n")
der = bytearray(base64.b64decode("".join(l for l in lines if l and not l.startswith("-----"))))
old = bytes.fromhex("81010001")
i = der.find(old)
assert i > 3 and (der[i - 3:i] == b"\x02\x05\x00" or der[i - 2:i] == b"\x02\x04"), "no parent"
der[i:i + 4] = int(sys.argv[2], 16).to_bytes(4, "big")
b = base64.b64encode(bytes(der)).decode()
open(sys.argv[3], "w").write("-----BEGIN TSS2 PRIVATE KEY-----\n" + "\n".join(b[j:j + 64] for j in range(0, len(b), 64)) + "\n-----END TSS2 PRIVATE KEY-----\n")
PY
}
# refused WHAT PATTERN KEYFILE: pkey fails (no crash) and says PATTERN.
refused() {
  "${OSSL[@]}" pkey -provider rattest -provider default -in "$3" -noout > out 2>&1
  local rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && grep -qE "$2" out; then ok
  else bad "$1: rc=$rc $(head -c 800 out)"; fi
}
# A persistent parent outside the SRK and EK ranges, with an object there.
tpm2_createprimary -C o -c srk.ctx > /dev/null && tpm2_evictcontrol -C o -c srk.ctx 0x81000100 > /dev/null ||
  bad "persisting a storage key at 0x81000100"
tidy
with_parent rsa-ek 0x81000100 other.pem
refused "parent 0x81000100" \
  "parent 0x81000100: only 0x40000001 \(the standard SRK\) or an EK \(0x81010000-0x810100ff\)" other.pem
# An EK handle with nothing there and no TCG template for it.
with_parent rsa-ek 0x81010003 none.pem
refused "empty EK handle without template" \
  "EK parent 0x81010003: no persistent EK, and no TCG default template" none.pem
# 0x81010002 is empty: the ECC P-256 EK is made from its template, and the
# key (wrapped under the RSA EK) does not load under it: the TPM says no.
with_parent rsa-ek 0x81010002 p256.pem
refused "key of another EK" "EK parent 0x81010002: loading the key under the EK" p256.pem
# Non-EK objects persisted at 0x81010002, each failing one check.
python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' \
  837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa > policyA.bin
not_ek() { # WHAT PATTERN CREATEPRIMARY-ARGS...
  local what=$1 pattern=$2
  shift 2
  if tpm2_createprimary "$@" -c obj.ctx > /dev/null 2> out &&
     tpm2_evictcontrol -C o -c obj.ctx 0x81010002 > /dev/null 2>> out; then
    refused "$what at an EK handle" "EK parent 0x81010002: the persistent object there is not an EK: $pattern" p256.pem
    tpm2_evictcontrol -C o -c 0x81010002 > /dev/null 2>&1 || bad "evicting $what"
  else bad "making $what: $(head -c 300 out)"; fi
  tidy
}
not_ek "an owner storage key" "not fixedTPM, fixedParent and adminWithPolicy like a TCG EK" -C o
not_ek "an owner storage key with adminWithPolicy" "its authPolicy is not the TCG EK policy" \
  -C o -a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|adminwithpolicy|restricted|decrypt"
not_ek "the EK template in the owner hierarchy" "not a primary key of the endorsement hierarchy" \
  -C o -G rsa2048:aes128cfb -g sha256 -L policyA.bin \
  -a "fixedtpm|fixedparent|sensitivedataorigin|adminwithpolicy|restricted|decrypt"
not_ek "an unrestricted endorsement key with the EK policy" "not a restricted decryption key" \
  -C e -G rsa2048:null:null -g sha256 -L policyA.bin \
  -a "fixedtpm|fixedparent|sensitivedataorigin|adminwithpolicy|sign|decrypt"

# --- no persistent EK: re-created from the TCG template -----------------
tpm2_evictcontrol -C o -c 0x81010001 > /dev/null 2>&1 || bad "evicting the RSA EK"
signs rsa-ek
expect_cmds "EK from the template" pcap_tmpl rsa-ek \
  "ReadPublic CreatePrimary StartAuthSession PolicySecret Load FlushContext FlushContext Sign FlushContext"

# Nothing left behind (direct mode: behind tpm2-abrmd transients belong to
# the connection that made them, and the captures' balance is the check).
if [ "${RATTEST_TPM_MODE:-direct}" = direct ]; then
  n=$(tpm2_getcap handles-transient 2> /dev/null | grep -c 0x || true)
  [ "$n" = 0 ] && ok || bad "$n transient objects left"
fi
finish "test_provider_ek.sh (${RATTEST_TPM_MODE:-direct})"
