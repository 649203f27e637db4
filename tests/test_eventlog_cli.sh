#!/usr/bin/env bash
# `rattest-verifier eventlog` as a user meets it: --json on real logs gives
# the PCR values their machines quoted, the text listing, bad logs (exit 1
# with a message) and bad usage (exit 2).
# Usage: test_eventlog_cli.sh BUILD_DIR EVENTLOG_DATA_DIR
set -euo pipefail
build=${1:?usage} data=${2:?usage}
V="$build/bin/rattest-verifier"
PY=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib/assert.sh"
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
    assert set(e) >= {"index", "pcr", "type", "type_id", "digests", "data_len"}, e
    assert e["type"].startswith("EV_"), e["type"]
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
expect 2 'an event log FILE is required' "$V" eventlog
expect 2 'unexpected argument "b"' "$V" eventlog a b
expect 2 "Try 'rattest-verifier eventlog --help'" "$V" eventlog --frobnicate x

finish eventlog_cli
