#!/usr/bin/env bash
# The installed systemd units pass `systemd-analyze verify` without a word
# (it only warns about unknown keys and bad values, so any output fails),
# their ExecStart naming the binaries installed with them; a broken copy
# (unknown key, missing binary, missing man page) is reported, so the check
# can fail. Then the directives operations.md promises, unit by unit.
# Usage: test_systemd_units.sh PREFIX (an install made by test_install.sh)
set -uo pipefail
P=${1:?usage: test_systemd_units.sh PREFIX}
U="$P/lib/systemd/system"
. "$(dirname "$0")/../lib/assert.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
units=(rattest-enroll.service rattest-renew.service rattest-renew.timer rattest-verifier.service)

# verify_quiet DIR: every unit of DIR verified together (the timer finds
# its service beside it; the man pages of Documentation= in the prefix);
# output and status in $work/verify.out.
verify_quiet() {
  (cd "$1" && MANPATH="$P/share/man" systemd-analyze verify "${units[@]/#/./}") > "$work/verify.out" 2>&1
}
if verify_quiet "$U" && [ ! -s "$work/verify.out" ]; then ok; else
  bad "systemd-analyze verify: $(cat "$work/verify.out")"; fi
mkdir "$work/broken"
cp "$U"/rattest-* "$work/broken/"
sed -i 's#^ExecStart=[^ ]*#ExecStart=/nonexistent/rattest-verifier#; s#^RestartSec=#RestartSecs=#;
  s#man:rattest-verifier(8)#man:rattest-nonexistent(8)#' "$work/broken/rattest-verifier.service"
verify_quiet "$work/broken"
if grep -q "Unknown key 'RestartSecs'" "$work/verify.out" && grep -q '/nonexistent/rattest-verifier' "$work/verify.out" &&
  grep -q "man rattest-nonexistent(8)' failed" "$work/verify.out"; then
  ok; else bad "a broken unit passed: $(cat "$work/verify.out")"; fi

# has UNIT LINE...: UNIT has each line exactly.
has() {
  local unit=$1 line; shift
  for line in "$@"; do
    if grep -qxF -- "$line" "$U/$unit"; then ok; else bad "$unit lacks: $line"; fi
  done
}
has rattest-enroll.service "After=network-online.target dev-tpmrm0.device" \
  "Wants=network-online.target dev-tpmrm0.device" "ConditionPathExists=!/var/lib/rattest/state.json" \
  "Restart=on-failure" "RestartSec=30s" "ExecStart=$P/bin/rattest-bootstrap enroll --verifier \${RATTEST_VERIFIER} --ca \${RATTEST_CA} \$RATTEST_ENROLL_OPTS"
has rattest-renew.service "ExecStart=$P/bin/rattest-bootstrap renew --all --ca \${RATTEST_CA} \$RATTEST_RENEW_OPTS" \
  "ConditionPathExists=/var/lib/rattest/state.json"
# Both name the kernel's resource manager (bootstrap.env may name another:
# systemd lets EnvironmentFile= override Environment=).
has rattest-enroll.service "Environment=RATTEST_TCTI=device:/dev/tpmrm0"
has rattest-renew.service "Environment=RATTEST_TCTI=device:/dev/tpmrm0"
has rattest-renew.timer "OnCalendar=*-*-* 00,06,12,18:00:00" "RandomizedDelaySec=1h" "Persistent=true"
has rattest-verifier.service "ProtectSystem=strict" "NoNewPrivileges=yes" "PrivateTmp=yes" \
  "LimitNOFILE=65536" "StateDirectory=rattest-verifier" 'ExecReload=/bin/kill -HUP $MAINPID' \
  "EnvironmentFile=$P/etc/rattest/verifier.env"
finish test_systemd_units
