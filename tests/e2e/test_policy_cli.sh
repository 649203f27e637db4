#!/usr/bin/env bash
# `rattest-verifier policy` on the real logs: the policy generated from each
# log loads and the log passes it; every event rule fed its bad case (an
# edited policy, or a log whose event data was altered in place so that it
# no longer hashes to its digest) fails with the rule, the PCR and the event
# named; bad usage exits 2.
# Usage: test_policy_cli.sh BUILD_DIR EVENTLOG_DATA_DIR
set -euo pipefail
build=${1:?usage} data=${2:?usage}
V="$build/bin/rattest-verifier"
PY=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"

RHEL8=$data/rhel8-gce-vtpm/rhel8-uefi.bin
LAPTOP=$data/glinux-alex-laptop/glinux-alex.bin
ARCH=$data/arch-linux-workstation/arch-linux-workstation.bin
COS85=$data/gce-cos85/eventlog.bin
WINDOWS=$data/windows-gcp-shielded-vm/eventlog.bin

# expect STATUS PATTERN CMD...: exit status, and a fixed string in the output.
expect() {
  local want=$1 pat=$2
  shift 2
  set +e
  "$@" > "$work/out" 2>&1
  local rc=$?
  set -e
  if [ "$rc" -eq "$want" ] && grep -qF -- "$pat" "$work/out"; then ok; else
    bad "$* -> rc=$rc (want $want, '$pat'): $(head -c 500 "$work/out")"
  fi
}
# edit IN OUT STATEMENT: a copy of policy IN with a Python statement applied
# to its dict p.
edit() {
  "$PY" -c "import json; p=json.load(open('$1')); $3; json.dump(p, open('$2', 'w'))"
}
# jq-like read: value JSON EXPRESSION
value() { "$PY" -c "import json; p=json.load(open('$1')); print($2)"; }

# Every real log: from-log succeeds, its policy loads, the log passes it,
# pinned (PCRs 0-7, the default) and rules-only (--pin none: every PCR
# "any", only the rules judge). No false refusals.
for log in "$RHEL8" "$LAPTOP" "$ARCH" "$COS85" "$WINDOWS"; do
  n=$(basename "$(dirname "$log")")
  expect 0 '"events"' "$V" policy from-log "$log"
  cp "$work/out" "$work/$n.json"
  expect 0 "passes" "$V" policy check "$work/$n.json" "$log"
  expect 0 '"events"' "$V" policy from-log --pin none "$log"
  cp "$work/out" "$work/$n-rules.json"
  [ "$(value "$work/$n-rules.json" "set(v for b in p['expected'].values() for v in b.values())")" = "{'any'}" ] && ok || bad "$n: --pin none pins nothing"
  expect 0 "passes" "$V" policy check "$work/$n-rules.json" "$log"
done

# What the generated policies hold, from what the logs prove.
[ "$(value "$work/rhel8-gce-vtpm.json" "p['pcrs']['sha256']")" = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14]" ] && ok || bad "rhel8 selection"
[ "$(value "$work/rhel8-gce-vtpm.json" "p['expected']['sha256']['8'], p['expected']['sha256']['0'][0][:8]")" = "any 24af52a4" ] && ok || bad "rhel8 pins"
[ "$(value "$work/rhel8-gce-vtpm.json" "p['events']['secure_boot'], len(p['events']['boot_apps']['allow']), len(p['events']['authorities']), p['events']['no_mismatched_events']")" = "True 3 2 True" ] && ok || bad "rhel8 rules"
value "$work/rhel8-gce-vtpm.json" "p['events']['kernel_cmdline']" | grep -qF '^\(hd0,gpt2\)/boot/vmlinuz-4\.18\.0-240\.22\.1\.el8_3\.x86_64 root=UUID=' && ok || bad "rhel8 cmdline expression"
[ "$(value "$work/glinux-alex-laptop.json" "'secure_boot' in p['events']")" = False ] && ok || bad "laptop: secure boot is off, no rule"
[ "$(value "$work/windows-gcp-shielded-vm.json" "list(p['pcrs']), p['allow_sha1']")" = "['sha1'] True" ] && ok || bad "windows: sha1 bank"
# systemd-boot's UTF-16 command line becomes an expression too.
value "$work/arch-linux-workstation.json" "p['events']['kernel_cmdline']" | grep -qF '^initrd=\\intel-ucode\.img initrd=' && ok || bad "arch cmdline expression"
expect 0 '"dbx_required"' "$V" policy from-log --dbx "$RHEL8"
[ "$(value "$work/out" "len(p['events']['dbx_required'])")" = 183 ] && ok || bad "rhel8 --dbx: 183 revocations"
expect 0 '"sha384"' "$V" policy from-log --bank sha384 --pin 0-7,14 "$RHEL8"
[ "$(value "$work/out" "len(p['expected']['sha384']['14'][0])")" = 96 ] && ok || bad "--pin 14 pinned"

# Each rule fed its bad case, named with rule, PCR and event.
P=$work/rhel8-gce-vtpm.json
edit "$P" "$work/p.json" "p['expected']['sha256']['0']=['00'*32]"
expect 1 "PCR sha256:0 value 24af52a4" "$V" policy check "$work/p.json" "$RHEL8"
edit "$P" "$work/p.json" "p['events']['kernel_cmdline']='^nomatch\$'"
expect 1 'rule events.kernel_cmdline: PCR 8 event 78 (EV_IPL): kernel command line "(hd0,gpt2)/boot/vmlinuz' "$V" policy check "$work/p.json" "$RHEL8"
edit "$P" "$work/p.json" "p['events']['kernel_cmdline']=' ro '"
expect 0 "passes" "$V" policy check "$work/p.json" "$RHEL8"
edit "$P" "$work/p.json" "p['events']['boot_apps']['forbid']=[p['events']['boot_apps']['allow'][1]]"
expect 1 "rule events.boot_apps.forbid: PCR 4 event 26 (EV_EFI_BOOT_SERVICES_APPLICATION)" "$V" policy check "$work/p.json" "$RHEL8"
edit "$P" "$work/p.json" "p['events']['boot_apps']['allow'].pop()"
expect 1 "rule events.boot_apps.allow: PCR 4 event 77 (EV_EFI_BOOT_SERVICES_APPLICATION)" "$V" policy check "$work/p.json" "$RHEL8"
# A sha1 digest on the list allows the image as well as its sha256, when
# the policy demands PCR 4 in the sha1 bank; else the quote would not prove
# it, and the policy does not load.
sha1_app=$("$V" eventlog --json "$RHEL8" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['events'][77]['digests']['sha1'])")
edit "$P" "$work/p.json" "p['events']['boot_apps']['allow'][-1]='$sha1_app'"
expect 1 "events.boot_apps.allow[2]: a sha1 digest, but pcrs does not demand PCR 4 in the sha1 bank" "$V" policy check "$work/p.json" "$RHEL8"
edit "$P" "$work/p.json" "p['events']['boot_apps']['allow'][-1]='$sha1_app'; p['allow_sha1']=True; p['pcrs']['sha1']=[4]"
expect 0 "passes" "$V" policy check "$work/p.json" "$RHEL8"
edit "$P" "$work/p.json" "p['events']['authorities'].pop(0)"
expect 1 "rule events.authorities: PCR 7 event 21 (EV_EFI_VARIABLE_AUTHORITY) db \"CN=Microsoft Corporation UEFI CA 2011" "$V" policy check "$work/p.json" "$RHEL8"
edit "$P" "$work/p.json" "p['events']['dbx_required']=['ab'*32]"
expect 1 "rule events.dbx_required: PCR 7 event 7 (EV_EFI_VARIABLE_DRIVER_CONFIG) dbx: revocation abababab" "$V" policy check "$work/p.json" "$RHEL8"
edit "$work/glinux-alex-laptop.json" "$work/p.json" "p['events']['secure_boot']=True"
expect 1 "rule events.secure_boot: PCR 7 event 7 (EV_EFI_VARIABLE_DRIVER_CONFIG) SecureBoot: secure boot is off" "$V" policy check "$work/p.json" "$LAPTOP"
printf '{"allow_sha1": true, "pcrs": {"sha1": [0, 7]}, "events": {"separators": [0, 7]}}' > "$work/p.json"
expect 1 "rule events.separators: PCR 0: no verified EV_SEPARATOR" "$V" policy check "$work/p.json" "$WINDOWS"
printf '{"allow_sha1": true, "pcrs": {"sha1": [7]}, "events": {"separators": [7]}}' > "$work/p.json"
expect 0 "passes" "$V" policy check "$work/p.json" "$WINDOWS"

# A log whose SecureBoot variable (rhel8 event 3) was altered in place: the
# PCRs replay the same (digests unchanged), but the data now lies.
"$V" eventlog --json "$RHEL8" > "$work/rhel8.json"
"$PY" - "$RHEL8" "$work/rhel8.json" "$work/altered.bin" <<'PYEOF'
import json, sys
log = bytearray(open(sys.argv[1], 'rb').read())
ev = json.load(open(sys.argv[2]))['events']
start = ev[4]['offset'] - ev[3]['data_len']  # event 3's data ends where event 4 begins
assert log[start + 52] == 1                  # the SecureBoot byte, on
log[start + 52] = 0
open(sys.argv[3], 'wb').write(log)
PYEOF
expect 1 "rule events.no_mismatched_events: PCR 7 event 3 (EV_EFI_VARIABLE_DRIVER_CONFIG): the event's data does not hash to its digest" "$V" policy check "$P" "$work/altered.bin"
edit "$P" "$work/p.json" "del p['events']['no_mismatched_events']"
expect 1 "rule events.secure_boot: PCR 7 event 3 (EV_EFI_VARIABLE_DRIVER_CONFIG): its data does not hash to its digest" "$V" policy check "$work/p.json" "$work/altered.bin"
expect 0 "warning: 1 flawed event(s)" "$V" policy from-log "$work/altered.bin"

# Usage and unreadable input.
expect 2 "missing subcommand" "$V" policy
expect 2 "unknown subcommand" "$V" policy make "$RHEL8"
expect 2 "--bank" "$V" policy from-log --bank md5 "$RHEL8"
expect 2 "--pin" "$V" policy from-log --pin 0-99 "$RHEL8"
expect 2 "exactly one LOG" "$V" policy from-log
expect 2 "check takes POLICY and LOG" "$V" policy check "$P"
expect 1 "No such file" "$V" policy from-log "$work/none.bin"
expect 1 "sha384 bank" "$V" policy from-log --bank sha384 "$LAPTOP"
expect 1 "unknown key" "$V" policy check <(echo '{"event": {}}') "$RHEL8"
expect 0 "from-log LOG" "$V" policy --help
expect 0 "from-log LOG" "$V" help policy

finish "test_policy_cli.sh"
