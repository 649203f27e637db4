#!/usr/bin/env bash
# The EK chain the TPM carries in NV (TCG EK Credential Profile 2.3+,
# indices 0x01c00100-0x01c001ff), on swtpm with the real binaries:
#   - a verifier whose --ek-ca holds only the EK CA root refuses EK_CHAIN
#     while the TPM carries no chain;
#   - with swtpm's EK CA intermediate written to 0x01c00100 (followed by a
#     second certificate and padding, as an index may hold several),
#     `tpm-info` lists both and enrollment is accepted;
#   - an index holding garbage is skipped with a warning.
# Usage (under with-swtpm): test_ek_chain.sh BUILD_DIR
set -euo pipefail
build=${1:?usage}
src=$(cd "$(dirname "$0")/../.." && pwd)
V="$build/bin/rattest-verifier"
B="$build/bin/rattest-bootstrap"
LOG="$src/tests/data/eventlogs/arch-linux-workstation/arch-linux-workstation.bin"
work=$(mktemp -d)
vpid=""
trap 'stop_verifier; rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/verifier.sh"
VERIFIER_ARGS=(--ek-ca "$RATTEST_EK_CA_ROOT")

"$src/certs/mkpki" "$work/pki" > /dev/null
"$build/tests/rt_log_extend" "$LOG" > /dev/null

enroll() { # STATE_DIR [args...]
  local dir=$1; shift
  "$B" enroll --verifier "localhost:$port" --ca "$work/pki/tls-ca.pem" --state-dir "$dir" \
    --key-alg ecc-p256 --ek rsa --event-log "$LOG" --timeout 30s "$@"
}
# nv_put INDEX FILE: defines INDEX the size of FILE, owner-written and
# readable with its empty auth like a manufacturer's, and writes FILE.
nv_put() {
  tpm2_nvdefine "$1" -C o -s "$(stat -c %s "$2")" -a "ownerwrite|ownerread|authread|no_da" > /dev/null
  tpm2_nvwrite "$1" -C o -i "$2"
}

# --- 1. No chain in NV: the root alone does not do -------------------------
"$B" tpm-info > "$work/info.json"
check "tpm-info lists an empty ek_chain" python3 -c "import json,sys; assert json.load(open(sys.argv[1]))['ek_chain'] == []" "$work/info.json"
start_verifier
set +e
enroll "$work/s0" > "$work/out" 2>&1; rc=$?
set -e
if [ "$rc" -ne 0 ] && grep -q 'EK_CHAIN' "$work/out"; then ok; else bad "no chain: rc=$rc $(cat "$work/out")"; fi

# --- 2. The intermediate, another certificate and padding in 0x01c00100 ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/x.key" \
  -subj "/CN=second in the index" -days 1 -outform der -out "$work/x.der" 2> /dev/null
openssl x509 -in "$RATTEST_EK_CA_INTERMEDIATE" -outform der -out "$work/inter.der"
{ cat "$work/inter.der" "$work/x.der"; head -c 64 /dev/zero | tr '\0' '\377'; } > "$work/chain.bin"
nv_put 0x01c00100 "$work/chain.bin"
head -c 100 /dev/urandom | tr '\060' '\061' > "$work/garbage.bin"
nv_put 0x01c00180 "$work/garbage.bin"
"$B" tpm-info > "$work/info.json" 2> "$work/info.err"
inter_subject=$(openssl x509 -in "$RATTEST_EK_CA_INTERMEDIATE" -noout -subject -nameopt compat | sed 's/^subject=//')
check "tpm-info lists the two certificates of 0x01c00100" python3 - "$work/info.json" "$inter_subject" <<'PY'
import json, sys
chain = json.load(open(sys.argv[1]))["ek_chain"]
assert [c["nv_index"] for c in chain] == ["0x01c00100", "0x01c00100"], chain
assert chain[0]["subject"] == sys.argv[2], (chain[0]["subject"], sys.argv[2])
assert chain[1]["subject"] == "/CN=second in the index", chain
PY
check "the garbage index is skipped with a warning" grep -q '0x01c00180 holds no DER certificate' "$work/info.err"
check "enroll with the root-only verifier" enroll "$work/s1"
check "Begin accepted" grep -q '"method":"Begin","decision":"accept"' "$work/audit.log"

finish test_ek_chain
