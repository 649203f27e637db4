#!/usr/bin/env bash
# Forged event logs end to end on swtpm. The attacker is root on a machine
# with a genuine TPM whose boot was NOT the approved one: the TPM's PCRs hold
# the real (honest) boot, made real by rt_log_extend, and root controls every
# byte the bootstrap sends except what the TPM signs. rt_forge rewrites the
# log the way root can (relabelled event types, digests of banks the quote
# does not cover, GRUB prefixes, events appended and extended into the TPM
# after boot with --extend) and rattest-bootstrap enroll sends it to a
# verifier whose policy the real boot violates. Each case asserts:
#   - the honest log is refused by the same policy (else the case tests
#     nothing), with the code and the rule;
#   - the forged log is refused: enroll exits non-zero, its message and the
#     verifier's reject audit line carry the expected code, the reason names
#     the rule (not its exact wording), no Finish was accepted;
#   - no certificate or identity in the state directory and no secret
#     delivered (the policy carries a PCR-bound sealed secret "disk": the
#     state has no secret, `unseal disk` has nothing to unseal, the secret's
#     bytes are nowhere in the state directory).
# Each case runs in its own swtpm (PCRs 0-15 cannot be reset), started by
# this script through with-swtpm.
#
# Usage: test_forged_logs.sh BUILD_DIR [CASE...]     (all cases by default)
#        test_forged_logs.sh BUILD_DIR --case CASE   (one case, under with-swtpm)
set -euo pipefail
build=${1:?usage: test_forged_logs.sh BUILD_DIR [CASE...]}
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
CASES=(unknown_bank unquoted_bank relabelled_app secure_boot cmdline_relabelled
  cmdline_prefix dbx_required authorities)

# --- driver: one with-swtpm per case ----------------------------------------
if [ "${1:-}" != --case ]; then
  [ $# -gt 0 ] && CASES=("$@")
  top=$(mktemp -d)
  trap 'rm -rf "$top"' EXIT
  "$src/certs/mkpki" "$top/pki" > /dev/null
  total_pass=0 total_fail=0
  for c in "${CASES[@]}"; do
    set +e
    FORGED_PKI="$top/pki" "$here/../harness/with-swtpm" -- "$here/test_forged_logs.sh" "$build" --case "$c" \
      > "$top/$c.out" 2>&1
    rc=$?
    set -e
    grep -v '^with-swtpm: TCTI ' "$top/$c.out" || true
    line=$(grep -E "^case $c: [0-9]+ passed, [0-9]+ failed$" "$top/$c.out" | tail -n 1 || true)
    if [ -z "$line" ]; then
      echo "FAIL: case $c: ended without its result line (exit $rc)" >&2
      total_fail=$((total_fail + 1))
      continue
    fi
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1/')
    f=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\2/')
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
      echo "FAIL: case $c: exit $rc" >&2
      total_fail=$((total_fail + 1))
    fi
  done
  echo "test_forged_logs.sh (direct): $total_pass passed, $total_fail failed"
  [ "$total_fail" -eq 0 ] && [ "$total_pass" -gt 0 ]
  exit
fi

# --- one case, against the swtpm of $RATTEST_TCTI ---------------------------
case_name=${2:?--case CASE}
: "${RATTEST_TCTI:?run under tests/harness/with-swtpm}"
V="$build/bin/rattest-verifier"
B="$build/bin/rattest-bootstrap"
F="$build/tests/rt_forge"
ARCH="$src/tests/data/eventlogs/arch-linux-workstation/arch-linux-workstation.bin"
RHEL="$src/tests/data/eventlogs/rhel8-gce-vtpm/rhel8-uefi.bin"
GUID_GLOBAL=8be4df61-93ca-11d2-aa0d-00e098032b8c
GUID_IMAGE_DB=d719b2cb-3d3a-4596-a3bc-dad00e67656f
OWNER_MS=77fa9abd-0359-4d32-bd60-28f4e78f784b
work=$(mktemp -d)
# FORGED_KEEP=1 keeps the case's files (logs, policy, audit) for a look.
trap 'stop_verifier; if [ -n "${FORGED_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi' EXIT
# shellcheck source=lib/assert.sh
. "$here/../lib/assert.sh"
# shellcheck source=lib/verifier.sh
. "$here/../lib/verifier.sh"
VERIFIER_ARGS=(--ek-ca "$RATTEST_EK_CA_BUNDLE")
if [ -n "${FORGED_PKI:-}" ]; then
  cp -r "$FORGED_PKI" "$work/pki"
else
  "$src/certs/mkpki" "$work/pki" > /dev/null
fi
umask 077
printf 'disk-key-%s' "$(openssl rand -hex 24)" > "$work/disk.secret"
umask 022

# Facts about the fixture logs, from `rattest-verifier eventlog --json`, in
# one python run per case (python starts slowly): facts LOG EXPR... sets
# FACT[k] to the value of the k-th python EXPR, over e (the events) and s
# (the derived state).
declare -a FACT
facts() {
  local log=$1
  shift
  "$V" eventlog "$log" --json > "$work/log.json"
  mapfile -t FACT < <(python3 -c 'import json,sys
j = json.load(open(sys.argv[1])); e = j["events"]; s = j["state"]
for x in sys.argv[2:]:
    v = eval(x)
    print(" ".join(v) if isinstance(v, list) else v)' "$work/log.json" "$@")
  [ "${#FACT[@]}" = $# ] || { echo "case $case_name: facts of $log: ${FACT[*]}" >&2; exit 1; }
}
# The events a case forges must be what the case says (the fixtures are
# fixed, but a wrong index would make the case prove nothing): sure WHAT
# FACT-INDEX VALUE.
sure() {
  [ "${FACT[$2]}" = "$3" ] || { echo "case $case_name: $1 is ${FACT[$2]}, not $3" >&2; exit 1; }
}

# make_policy LOG PYTHON: `policy from-log LOG`, then the PCRs the rules read
# (4, 7, 8) and those a forgery extends made "any" (docs/policy.md: the
# rules judge them), the PCR-bound sealed secret "disk", then PYTHON on the
# dict p. The result goes to $work/policy.json.
make_policy() {
  "$V" policy from-log "$1" > "$work/golden.json"
  python3 -c "
import json
p = json.load(open('$work/golden.json'))
for k in ('4', '7', '8'):
    p['expected']['sha256'][k] = 'any'
p['secrets'] = [{'name': 'disk', 'type': 'sealed', 'file': '$work/disk.secret',
                 'pcrs': {'sha256': [7]}}]
$2
json.dump(p, open('$work/policy.json', 'w'), indent=1)"
}

# attempt LABEL LOG CODE RULE: enroll with LOG into a fresh state directory;
# it must be refused with CODE and a reason containing RULE, and leave no
# certificate, identity or secret behind.
attempt() {
  local label=$1 log=$2 code=$3 rule=$4 st="$work/state-$1" rc
  local what="case $case_name, $label log"
  local before
  before=$(wc -l < "$work/audit.log")
  set +e
  "$B" enroll --verifier "localhost:$port" --ca "$work/pki/tls-ca.pem" --state-dir "$st" \
    --ek rsa --key-alg ecc-p256 --event-log "$log" --timeout 30s > "$work/$label.out" 2>&1
  rc=$?
  set -e
  tail -n +"$((before + 1))" "$work/audit.log" > "$work/$label.audit"
  local certs
  certs=$({ find "$st" -type f \( -name '*.pem' -o -name '*.crt' -o -name '*.der' \) 2> /dev/null || true; } | wc -l)
  if [ "$rc" -eq 0 ]; then
    # The attack worked: say so in one line, with what it obtained.
    local unsealed=no secrets
    secrets=$("$B" status --state-dir "$st" 2> /dev/null | sed -n 's/^secret \([^ ]*\).*/\1/p' | paste -sd, -)
    "$B" unseal disk --state-dir "$st" 2> /dev/null | cmp -s - "$work/disk.secret" && unsealed=yes
    bad "$what: ENROLLED, the attack succeeded (want $code, $rule): $certs certificate files issued, secrets delivered: ${secrets:-none}, 'unseal disk' returns the secret: $unsealed"
    return 0
  fi
  # The refusal: its code in the bootstrap's message and in the audit line,
  # the reason naming the rule.
  if grep -qF "PERMISSION_DENIED $code" "$work/$label.out"; then ok; else
    bad "$what: enroll did not report $code: $(head -c 400 "$work/$label.out")"
  fi
  local line
  line=$(grep '"decision":"reject"' "$work/$label.audit" | tail -n 1 || true)
  if printf '%s' "$line" | grep -qF "\"decision\":\"reject\",\"code\":\"$code\""; then ok; else
    bad "$what: no reject audit line with $code: ${line:-none}"
  fi
  if printf '%s' "$line" | grep -qF "$rule"; then ok; else
    bad "$what: reason does not name '$rule': ${line:-none}"
  fi
  if grep -q '"method":"Finish","decision":"accept"\|"method":"Confirm"' "$work/$label.audit"; then
    bad "$what: a Finish was accepted or a Confirm made: $(cat "$work/$label.audit")"
  else ok; fi
  # Nothing issued, nothing delivered: a refused first enrollment leaves no
  # state directory at all.
  if [ ! -e "$st" ]; then ok; else bad "$what: the state directory was left: $(find "$st")"; fi
  "$B" status --state-dir "$st" --json > "$work/status.json" 2>&1 || true
  if grep -q '^  "identities": \[\],$' "$work/status.json" && grep -q '^  "secrets": \[\]$' "$work/status.json"; then
    ok
  else bad "$what: identities or secrets in the state: $(cat "$work/status.json")"; fi
  if "$B" unseal disk --state-dir "$st" > "$work/unseal.out" 2>&1; then
    bad "$what: 'unseal disk' succeeded"
  else ok; fi
  if [ -d "$st" ] && grep -rqF "$(cat "$work/disk.secret")" "$st"; then
    bad "$what: the secret's bytes are in the state directory"
  else ok; fi
}

# run_case LOG CODE RULE [HONEST_CODE HONEST_RULE] -- FORGE-OPS...: the honest
# log extended into the TPM and refused, then forged with the OPS (--extend:
# appended events extended into the TPM after boot) and refused with CODE.
run_case() {
  local log=$1 code=$2 rule=$3 hcode=POLICY_EVENT hrule=$3
  shift 3
  if [ "$1" != -- ]; then hcode=$1 hrule=$2; shift 2; fi
  shift
  "$build/tests/rt_log_extend" "$log" > /dev/null
  start_verifier --policy "$work/policy.json"
  attempt honest "$log" "$hcode" "$hrule"
  if ! "$F" "$log" "$work/forged.bin" "$@" --extend > "$work/forge.out" 2>&1; then
    bad "case $case_name: rt_forge $*: $(cat "$work/forge.out")"
    return 0
  fi
  attempt forged "$work/forged.bin" "$code" "$rule"
}

case $case_name in
# 1a. An unquoted bank counts as proof: the log declares an unknown
# algorithm 0x0099 (32-byte digests); the unapproved kernel (arch event 23)
# carries the approved systemd-boot's sha256 digest (event 22) in it.
# 1b. The same in a known bank the quote does not cover (sm3_256; the policy
# quotes sha256), the other events' sm3_256 digests measured correctly.
# 2. The event type is trusted but no digest covers it: the unapproved
# kernel's event relabelled EV_EFI_BOOT_SERVICES_DRIVER.
unknown_bank | unquoted_bank | relabelled_app)
  facts "$ARCH" 'e[22]["type"]' 'e[23]["type"]' 'e[22]["digests"]["sha256"]'
  sure "arch event 22" 0 EV_EFI_BOOT_SERVICES_APPLICATION
  sure "arch event 23" 1 EV_EFI_BOOT_SERVICES_APPLICATION
  make_policy "$ARCH" "p['events']['boot_apps'] = {'allow': ['${FACT[2]}']}"
  case $case_name in
  unknown_bank)
    run_case "$ARCH" EVENTLOG_ALGORITHM 0x0099 POLICY_EVENT 'rule events.boot_apps.allow' -- \
      --add-bank 0x0099:32 --copy-digest 23:0x0099:22:sha256 ;;
  unquoted_bank)
    run_case "$ARCH" POLICY_EVENT 'rule events.boot_apps.allow' -- \
      --add-bank sm3_256:32:measured --copy-digest 23:sm3_256:22:sha256 ;;
  relabelled_app)
    # Refused by the first rule reading PCR 4, whichever: the event's label
    # is one the profile never puts there.
    run_case "$ARCH" POLICY_EVENT \
      'PCR 4 event 23 (EV_EFI_BOOT_SERVICES_DRIVER): the TCG PC Client profile does not measure EV_EFI_BOOT_SERVICES_DRIVER into PCR 4' \
      POLICY_EVENT 'rule events.boot_apps.allow' -- --relabel 23:EV_EFI_BOOT_SERVICES_DRIVER ;;
  esac
  ;;
# 3. Secure Boot off (arch event 3: SecureBoot zero-length). That event
# relabelled EV_POST_CODE, and a SecureBoot=1 EV_EFI_VARIABLE_DRIVER_CONFIG
# extended into PCR 7 after boot. The sealed secret is bound to PCR 7.
secure_boot)
  facts "$ARCH" 'e[3]["type"]' 'e[3]["data"]["name"]' 'e[3]["data"]["data_len"]'
  sure "arch event 3" 0 EV_EFI_VARIABLE_DRIVER_CONFIG
  sure "arch event 3's variable" 1 SecureBoot
  sure "arch event 3's SecureBoot length" 2 0
  make_policy "$ARCH" "p['events']['secure_boot'] = True"
  "$F" var "$GUID_GLOBAL" SecureBoot 01 > "$work/sb-on.bin"
  run_case "$ARCH" POLICY_EVENT 'rule events.secure_boot' -- \
    --relabel 3:EV_POST_CODE --append "7:EV_EFI_VARIABLE_DRIVER_CONFIG:@$work/sb-on.bin"
  ;;
# 4. The kernel command line (rhel8, Red Hat GRUB: event 78
# "grub_kernel_cmdline ", its `linux` grub_cmd at 75). The policy demands
# module.sig_enforce=1, which the real line lacks; the good line is the
# real one with it.
cmdline_relabelled | cmdline_prefix)
  facts "$RHEL" 'e[78]["type"]' 'e[78]["data"]["grub"]' 'e[75]["data"]["grub"]' \
    'e[78]["data"]["string"]'
  sure "rhel8 event 78" 0 EV_IPL
  sure "rhel8 event 78's GRUB string" 1 kernel_cmdline
  sure "rhel8 event 75's GRUB string" 2 grub_cmd
  good="${FACT[3]} module.sig_enforce=1"
  re='^\\(hd0,gpt2\\)/boot/vmlinuz-[^ ]+ root=UUID=[0-9a-f-]+ ro( [^ ]+)* module\\.sig_enforce=1( [^ ]+)*$'
  make_policy "$RHEL" "p['events']['kernel_cmdline'] = '$re'"
  if [ "$case_name" = cmdline_relabelled ]; then
    # (a) the bad line's event relabelled, a good line extended into PCR 8.
    run_case "$RHEL" POLICY_EVENT 'rule events.kernel_cmdline' -- \
      --relabel 78:EV_POST_CODE --append-cmdline "8:redhat:$good"
  else
    # (b) its GRUB prefix (not covered by the digest) rewritten to
    # "grub_cmd ", the good line appended.
    run_case "$RHEL" POLICY_EVENT 'rule events.kernel_cmdline' -- \
      --grub-prefix '78:grub_cmd ' --append-cmdline "8:redhat:$good"
  fi
  ;;
# 5. dbx_required: a revocation of the rhel8 dbx that the arch dbx (event 7)
# lacks is required. The dbx event relabelled EV_EFI_VARIABLE_AUTHORITY, and
# a dbx holding the arch entries and the required one extended into PCR 7.
dbx_required)
  facts "$RHEL" 's["dbx_sha256"]'
  rhel_dbx=${FACT[0]}
  facts "$ARCH" 'e[7]["type"]' 'e[7]["data"]["name"]' 's["dbx_sha256"]' 's["dbx"]["event"]'
  sure "arch event 7" 0 EV_EFI_VARIABLE_DRIVER_CONFIG
  sure "arch event 7's variable" 1 dbx
  sure "the arch dbx event" 3 7
  need=""
  for h in $rhel_dbx; do
    case " ${FACT[2]} " in *" $h "*) ;; *) need=$h && break ;; esac
  done
  [ -n "$need" ] || { echo "case $case_name: no rhel8 dbx entry missing from arch's" >&2; exit 1; }
  # shellcheck disable=SC2086
  "$F" sha256-list "$OWNER_MS" ${FACT[2]} "$need" > "$work/dbx.list"
  "$F" var "$GUID_IMAGE_DB" dbx "@$work/dbx.list" > "$work/dbx.bin"
  make_policy "$ARCH" "p['events']['dbx_required'] = ['$need']"
  # Refused by the first rule reading PCR 7: configuration after the
  # separator can only have been extended after boot.
  run_case "$ARCH" POLICY_EVENT \
    "PCR 7 event 25 (EV_EFI_VARIABLE_DRIVER_CONFIG): after PCR 7's separator" \
    POLICY_EVENT 'rule events.dbx_required' -- \
    --relabel 7:EV_EFI_VARIABLE_AUTHORITY --append "7:EV_EFI_VARIABLE_DRIVER_CONFIG:@$work/dbx.bin"
  ;;
# 6. authorities: only the Microsoft UEFI CA (rhel8 event 21) is allowed;
# the Red Hat shim authority (event 27) relabelled
# EV_EFI_VARIABLE_DRIVER_CONFIG to hide it.
authorities)
  facts "$RHEL" 'e[21]["type"]' 'e[27]["type"]' 'e[27]["data"]["name"]' \
    '[a["sha256"] for a in s["authorities"] if a["event"] == 21]'
  sure "rhel8 event 21" 0 EV_EFI_VARIABLE_AUTHORITY
  sure "rhel8 event 27" 1 EV_EFI_VARIABLE_AUTHORITY
  sure "rhel8 event 27's variable" 2 Shim
  make_policy "$RHEL" "p['events']['authorities'] = ['${FACT[3]}']"
  # Refused by the first rule reading PCR 7: the hidden authority is
  # "configuration" after the separator.
  run_case "$RHEL" POLICY_EVENT \
    "PCR 7 event 27 (EV_EFI_VARIABLE_DRIVER_CONFIG): after PCR 7's separator" \
    POLICY_EVENT 'rule events.authorities' -- --relabel 27:EV_EFI_VARIABLE_DRIVER_CONFIG
  ;;
*)
  echo "unknown case $case_name (cases: ${CASES[*]})" >&2
  exit 2
  ;;
esac

finish "case $case_name"
