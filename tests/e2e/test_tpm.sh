#!/usr/bin/env bash
# TPM session module and `rattest-bootstrap tpm-info` against swtpm, judged by
# tpm2-tools. Run under tests/harness/with-swtpm [--abrmd].
# Usage: test_tpm.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: test_tpm.sh BUILD_DIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"

tpm2_nvread 0x01c00002 -o "$work/ek-rsa.der" 2>/dev/null
tpm2_nvread 0x01c00016 -o "$work/ek-ecc.der" 2>/dev/null
tpm2_nvread 0x01c08000 -o "$work/platform.der" 2>/dev/null

# The C unit test compares our NV read with tpm2_nvread's.
if "$build/tests/test_tpm" "$work/ek-rsa.der"; then ok; else bad "test_tpm"; fi

# tpm-info: what it reports must agree with what tpm2-tools read.
if "$build/bin/rattest-bootstrap" tpm-info > "$work/info.json" 2> "$work/info.err"; then ok; else bad "tpm-info failed"; fi
# Absent NV indexes are expected: no TSS error lines for them on stderr.
if [ ! -s "$work/info.err" ]; then ok; else bad "tpm-info wrote to stderr: $(head -c 300 "$work/info.err")"; fi
if /usr/bin/python3 - "$work" <<'PY'
import json, os, sys
w = sys.argv[1]
info = json.load(open(os.path.join(w, "info.json")))
size = lambda f: os.path.getsize(os.path.join(w, f))
errors = []
if info["tcti"] != os.environ["RATTEST_TCTI"]:
    errors.append("tcti %r" % info["tcti"])
if info["manufacturer"] != "IBM":
    errors.append("manufacturer %r" % info["manufacturer"])
if sorted(info["pcr_banks"]) != ["sha1", "sha256"]:
    errors.append("banks %r" % info["pcr_banks"])
certs = {c["nv_index"]: c for c in info["ek_certificates"]}
if set(certs) != {"0x01c00002", "0x01c00016"}:
    errors.append("ek certs %r" % sorted(certs))
else:
    if certs["0x01c00002"]["size"] != size("ek-rsa.der"):
        errors.append("rsa size")
    if certs["0x01c00016"]["size"] != size("ek-ecc.der"):
        errors.append("ecc size")
    if "swtpm-localca" not in certs["0x01c00002"].get("issuer", ""):
        errors.append("issuer %r" % certs["0x01c00002"].get("issuer"))
pc = info["platform_certificate"]
if not pc or pc["size"] != size("platform.der"):
    errors.append("platform cert %r" % pc)
if errors:
    print("tpm-info disagrees with tpm2-tools: " + "; ".join(errors), file=sys.stderr)
    sys.exit(1)
PY
then ok; else bad "tpm-info content"; fi

# An unreachable TPM is a clear error naming the TCTI, exit status 1.
set +e
"$build/bin/rattest-bootstrap" tpm-info --tcti swtpm:host=127.0.0.1,port=1 > /dev/null 2> "$work/err"
rc=$?
set -e
if [ "$rc" -eq 1 ] && grep -q 'swtpm:host=127.0.0.1,port=1' "$work/err"; then ok; else
  bad "unreachable TPM: rc=$rc $(cat "$work/err")"; fi

finish test_tpm.sh
