#!/usr/bin/env bash
# `rattest-verifier eventlog` as a user meets it: --json on real logs gives
# the PCR values their machines quoted, every event checked (none a
# mismatch) and the derived state; a log altered in place shows its
# MISMATCH; the text listing, bad logs (exit 1 with a message) and bad usage
# (exit 2).
# Usage: test_eventlog_cli.sh BUILD_DIR EVENTLOG_DATA_DIR
set -euo pipefail
build=${1:?usage} data=${2:?usage}
V="$build/bin/rattest-verifier"
PY=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"
# expect STATUS PATTERN CMD...: exit status and a pattern in stdout+stderr.
expect() {
  local want=$1 pat=$2; shift 2
  set +e; "$@" > "$work/out" 2>&1; local rc=$?; set -e
  if [ "$rc" -eq "$want" ] && grep -qE -- "$pat" "$work/out"; then ok; else
    bad "$* -> rc=$rc (want $want), output: $(head -c 400 "$work/out")"; fi
}

# The JSON's PCRs equal pcrs.txt, and are exactly the PCRs its events extend.
# Arguments: JSON PCRS_TXT EXPECTED_COMPARISONS
check_json() {
  "$PY" - "$@" <<'PYEOF'
import json, sys
doc = json.load(open(sys.argv[1]))
want = int(sys.argv[3])
quoted = {}
for line in open(sys.argv[2]):
    line = line.strip()
    if line and not line.startswith("#"):
        bank, idx, val = line.split()
        quoted[(bank, int(idx))] = val
quoted_banks = {b for b, _ in quoted}
events = doc["events"]
assert [e["index"] for e in events] == list(range(len(events))), "indexes"
for e in events:
    assert set(e) >= {"index", "pcr", "type", "type_id", "digests", "data_len", "type_name",
                      "check", "data"}, e
    assert e["type"].startswith("EV_"), e["type"]
    assert e["check"] in ("ok", "unchecked"), (e["index"], e["check"])
    assert isinstance(e["data"], dict), e["index"]
state = doc["state"]
assert set(state) >= {"secure_boot", "secure_boot_event", "pk", "kek", "db", "dbx",
                      "dbx_sha256", "authorities", "boot_apps", "kernel_cmdlines",
                      "separators", "separator_errors", "mismatches"}, sorted(state)
assert state["mismatches"] == [] and state["separator_errors"] == [], state["mismatches"]
extended = {e["pcr"] for e in events[0 if doc["format"] == "sha1-legacy" else 1:]
            if e["type"] != "EV_NO_ACTION" and e["pcr"] < 24}
compared = 0
for bank, pcrs in doc["pcrs"].items():
    assert {int(i) for i in pcrs} == extended, (bank, sorted(pcrs), sorted(extended))
    if bank not in quoted_banks:
        continue
    for idx, val in pcrs.items():
        q = quoted[(bank, int(idx))]
        assert val == q, f"{bank} PCR{idx}: {val} != quoted {q}"
        compared += 1
assert compared == want, f"compared {compared} PCR values, expected {want}"
print(compared)
PYEOF
}

# dir/file, PCR values compared (PCRs with events x banks in pcrs.txt).
for spec in glinux-alex-laptop/glinux-alex.bin:16 arch-linux-workstation/arch-linux-workstation.bin:18 \
  rhel8-gce-vtpm/rhel8-uefi.bin:22 windows-gcp-shielded-vm/eventlog.bin:8 gce-cos85/eventlog.bin:30; do
  log=${spec%:*} n=${spec##*:} dir=${log%%/*}
  set +e; "$V" eventlog "$data/$log" --json > "$work/$dir.json" 2> "$work/err"; rc=$?; set -e
  if [ "$rc" -ne 0 ]; then bad "$dir: --json exit $rc: $(head -c 400 "$work/err")"; continue; fi
  if check_json "$work/$dir.json" "$data/$dir/pcrs.txt" "$n" > "$work/py" 2>&1; then ok; else
    bad "$dir: $(tail -n 3 "$work/py")"; fi
done
if "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["startup_locality"] == 3' \
  "$work/glinux-alex-laptop.json" 2>/dev/null; then ok; else bad "laptop: startup_locality"; fi
if "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["format"] == "sha1-legacy"; assert list(d["pcrs"]) == ["sha1"]' \
  "$work/windows-gcp-shielded-vm.json" 2>/dev/null; then ok; else bad "windows: legacy format"; fi

# The derived state of the RHEL 8 log: secure boot on, shim and GRUB from
# the disk, its kernel command line; Windows' SIPA events decoded.
if "$PY" - "$work/rhel8-gce-vtpm.json" "$work/windows-gcp-shielded-vm.json" <<'PYEOF' > "$work/py" 2>&1; then ok; else bad "rhel8 state: $(tail -n 3 "$work/py")"; fi
import json, sys
st = json.load(open(sys.argv[1]))["state"]
assert st["secure_boot"] == "on" and st["secure_boot_event"] == 3, st["secure_boot"]
assert st["kernel_cmdlines"] == [{"event": 78, "cmdline":
    "(hd0,gpt2)/boot/vmlinuz-4.18.0-240.22.1.el8_3.x86_64 "
    "root=UUID=f3948fb4-cce7-4193-940a-c50052e93bf3 ro net.ifnames=0 biosdevname=0 "
    "scsi_mod.use_blk_mq=Y crashkernel=auto console=ttyS0,38400n8"}], st["kernel_cmdlines"]
assert [a["event"] for a in st["boot_apps"]] == [23, 26, 77], st["boot_apps"]
assert st["boot_apps"][0]["path"].endswith("\\EFI\\redhat\\shimx64.efi"), st["boot_apps"][0]
assert set(st["boot_apps"][0]["digests"]) == {"sha1", "sha256", "sha384"}
assert [a["variable"] for a in st["authorities"]] == ["db", "Shim"], st["authorities"]
assert st["authorities"][0]["subject"].startswith("CN=Microsoft Corporation UEFI CA 2011,")
assert st["pk"]["sha256"].startswith("03f8844e4692b98c") and st["pk"]["event"] == 4
assert len(st["dbx_sha256"]) == 183 and st["separators"] == list(range(8))
win = json.load(open(sys.argv[2]))
tag = win["events"][11]["data"]["tagged_events"][0]
assert tag["name"] == "SIPAEVENT_TRUSTBOUNDARY" and tag["events"][0]["value"] == 4, tag
assert win["state"]["secure_boot"] == "on" and win["state"]["separators"] == [7, 14]
PYEOF

# The RHEL 8 log with SecureBoot's value changed from 1 to 0 in place: the
# PCRs replay the same, but event 3 is a MISMATCH and secure boot unknown.
"$PY" - "$data/rhel8-gce-vtpm/rhel8-uefi.bin" "$work/rhel8-gce-vtpm.json" "$work/altered.bin" <<'PYEOF'
import json, sys
log = bytearray(open(sys.argv[1], "rb").read())
ev = json.load(open(sys.argv[2]))["events"][3]
# TCG_PCR_EVENT2: pcr, type, count, (alg id + digest) per bank, size, data.
data_at = ev["offset"] + 12 + sum(2 + len(h) // 2 for h in ev["digests"].values()) + 4
assert log[data_at + 52] == 1
log[data_at + 52] = 0
open(sys.argv[3], "wb").write(log)
PYEOF
expect 0 'event 3: PCR 7, EV_EFI_VARIABLE_DRIVER_CONFIG \(0x80000001\), 53 bytes of data \[MISMATCH' \
  "$V" eventlog "$work/altered.bin"
expect 0 'secure boot +unknown' "$V" eventlog "$work/altered.bin"
expect 0 'mismatches +events 3$' "$V" eventlog "$work/altered.bin"
expect 0 'mismatches +none$' "$V" eventlog "$data/rhel8-gce-vtpm/rhel8-uefi.bin"
"$V" eventlog --json "$work/altered.bin" > "$work/altered.json"
if "$PY" - "$work/altered.json" "$work/rhel8-gce-vtpm.json" <<'PYEOF'; then ok; else bad "altered log JSON"; fi
import json, sys
d, orig = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert d["state"]["mismatches"] == [3] and d["events"][3]["check"] == "mismatch"
assert d["state"]["secure_boot"] == "unknown" and d["state"]["secure_boot_event"] is None
assert d["events"][3]["data"]["value"] == 0  # what the altered log claims
assert d["pcrs"] == orig["pcrs"]
PYEOF

# Text listing.
expect 0 'crypto-agile event log, 29 events, algorithms sha1 sha256, StartupLocality 3' \
  "$V" eventlog "$data/glinux-alex-laptop/glinux-alex.bin"
expect 0 'sha256    7 9d1be46302bc4f5055c90a0376d9142e397ca8744f387c9824170f1bc855fde5' \
  "$V" eventlog "$data/glinux-alex-laptop/glinux-alex.bin"
expect 0 'SHA1-only \(legacy\) event log, 21 events' \
  "$V" eventlog "$data/windows-gcp-shielded-vm/eventlog.bin"
expect 0 'data     "Exit Boot Services Invocation"' "$V" eventlog "$data/gce-cos85/eventlog.bin"

# Bad logs: exit 1 and a message naming the file.
printf 'this is not a TCG event log, only some text in a file\n' > "$work/garbage.bin"
expect 1 "^rattest-verifier eventlog: $work/garbage.bin: event 0 at offset 0: " \
  "$V" eventlog "$work/garbage.bin"
head -c 1000 "$data/gce-cos85/eventlog.bin" > "$work/cut.bin"
expect 1 "^rattest-verifier eventlog: $work/cut.bin: event [0-9]+ at offset [0-9]+: .*runs past the end" \
  "$V" eventlog --json "$work/cut.bin"
: > "$work/empty.bin"
expect 1 "^rattest-verifier eventlog: $work/empty.bin: event log is empty" \
  "$V" eventlog "$work/empty.bin"
expect 1 "^rattest-verifier eventlog: cannot open $work/missing.bin" \
  "$V" eventlog "$work/missing.bin"
# Nothing on stdout when the log is bad.
set +e; "$V" eventlog --json "$work/garbage.bin" > "$work/stdout" 2>/dev/null; set -e
if [ ! -s "$work/stdout" ]; then ok; else bad "output on a bad log: $(head -c 200 "$work/stdout")"; fi

# Usage.
expect 0 'Usage: rattest-verifier eventlog FILE' "$V" eventlog --help
expect 0 'MISMATCH' "$V" eventlog --help
expect 2 'an event log FILE is required' "$V" eventlog
expect 2 'unexpected argument "b"' "$V" eventlog a b
expect 2 "Try 'rattest-verifier eventlog --help'" "$V" eventlog --frobnicate x

finish eventlog_cli
