#!/bin/bash
#
# test_harness_teardown.sh - checks tests/harness/with-swtpm from the outside:
# CMD's exit status comes back, every daemon is gone and the temp dir removed
# afterwards (also when killed by a signal), --keep keeps the dir, and several
# instances can run at once without fighting over ports or D-Bus names.
#
# Run directly (not under with-swtpm).  WITH_SWTPM overrides the wrapper path.

# The sh -c scripts are expanded by the inner shell, on purpose.
# shellcheck disable=SC2016
set -uo pipefail

prog=test_harness_teardown
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
with_swtpm=${WITH_SWTPM:-$here/../harness/with-swtpm}

if [[ ! -x $with_swtpm ]]; then
	printf '%s: %s is not executable\n' "$prog" "$with_swtpm" >&2
	exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/test_harness_teardown.XXXXXX") || exit 2
trap 'rm -rf -- "$work"' EXIT
# All with-swtpm temp dirs go here, so that a leaked one is noticed (and
# parallel ctest jobs do not see each other's).
export TMPDIR=$work/tmp
mkdir -p -- "$TMPDIR" || exit 2

passed=0
failed=0

fail() {
	printf '    %s\n' "$*" >&2
	return 1
}

check() {
	local name=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
		printf 'ok   - %s\n' "$name"
	else
		failed=$((failed + 1))
		printf 'FAIL - %s\n' "$name" >&2
	fi
}

# pid_gone PIDFILE COMM: the process recorded in PIDFILE no longer exists.  A
# zombie counts as still there: with-swtpm must reap what it started.  The
# comm check guards against the (unlikely) reuse of the pid.
pid_gone() {
	local pidfile=$1 comm=$2 pid actual state
	[[ -s $pidfile ]] || fail "$pidfile was not written by the command" || return 1
	pid=$(tr -d '[:space:]' <"$pidfile")
	[[ $pid =~ ^[0-9]+$ ]] || fail "$pidfile holds '$pid', not a pid" || return 1
	actual=$(cat "/proc/$pid/comm" 2>/dev/null) || return 0
	[[ $actual == "$comm" ]] || return 0
	state=$(sed -n 's/^State:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null)
	fail "$comm (pid $pid) still exists after with-swtpm returned (state: $state)"
}

# dir_removed FILE: the directory named in FILE no longer exists.
dir_removed() {
	local dir
	[[ -s $1 ]] || fail "$1 was not written by the command" || return 1
	dir=$(head -n 1 -- "$1")
	[[ $dir == "$TMPDIR"/* ]] || fail "temp dir '$dir' is not under TMPDIR=$TMPDIR" || return 1
	[[ ! -e $dir ]] || fail "temp dir $dir still exists" || return 1
}

no_leftovers() {
	local left
	left=$(find "$TMPDIR" -mindepth 1 -maxdepth 1 -printf "%f " 2>&1)
	[[ -z $left ]] || fail "left behind in TMPDIR: $left" || return 1
}

# Records the TPM dir and daemon pids, then fails with a distinctive status.
record_and_exit3() {
	local d=$1
	shift
	"$with_swtpm" "$@" -- sh -c '
		echo "$RATTEST_TPM_DIR" >"$1/dir"
		cat "$RATTEST_TPM_DIR/swtpm.pid" >"$1/swtpm.pid"
		if [ "$RATTEST_TPM_MODE" = abrmd ]; then
			cat "$RATTEST_TPM_DIR/abrmd.pid" >"$1/abrmd.pid"
			cat "$RATTEST_TPM_DIR/dbus.pid" >"$1/dbus.pid"
		fi
		exit 3' sh "$d" 2>"$d/stderr"
}

teardown_direct() {
	local d=$work/direct rc=0
	mkdir -p "$d"
	record_and_exit3 "$d" || rc=$?
	[[ $rc == 3 ]] || fail "exit status $rc, expected 3 from CMD; stderr: $(cat "$d/stderr")" || return 1
	pid_gone "$d/swtpm.pid" swtpm || return 1
	dir_removed "$d/dir" || return 1
}

teardown_abrmd() {
	local d=$work/abrmd rc=0
	mkdir -p "$d"
	record_and_exit3 "$d" --abrmd || rc=$?
	[[ $rc == 3 ]] || fail "exit status $rc, expected 3 from CMD; stderr: $(cat "$d/stderr")" || return 1
	pid_gone "$d/swtpm.pid" swtpm || return 1
	pid_gone "$d/abrmd.pid" tpm2-abrmd || return 1
	pid_gone "$d/dbus.pid" dbus-daemon || return 1
	dir_removed "$d/dir" || return 1
}

# SIGTERM to with-swtpm while CMD runs: CMD is stopped, then the daemons.
teardown_sigterm() {
	local d=$work/sigterm pid rc=0 i
	mkdir -p "$d"
	"$with_swtpm" --abrmd -- sh -c '
		echo "$RATTEST_TPM_DIR" >"$1/dir.tmp"
		cat "$RATTEST_TPM_DIR/swtpm.pid" >"$1/swtpm.pid"
		cat "$RATTEST_TPM_DIR/abrmd.pid" >"$1/abrmd.pid"
		cat "$RATTEST_TPM_DIR/dbus.pid" >"$1/dbus.pid"
		mv "$1/dir.tmp" "$1/dir"
		exec sleep 60' sh "$d" 2>"$d/stderr" &
	pid=$!
	for ((i = 0; i < 300; i++)); do
		[[ -s $d/dir ]] && break
		sleep 0.1
	done
	if [[ ! -s $d/dir ]]; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		fail "CMD did not start within 30 s; stderr: $(cat "$d/stderr")" || return 1
	fi
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	[[ $rc == 143 ]] || fail "exit status $rc after SIGTERM, expected 143" || return 1
	pid_gone "$d/swtpm.pid" swtpm || return 1
	pid_gone "$d/abrmd.pid" tpm2-abrmd || return 1
	pid_gone "$d/dbus.pid" dbus-daemon || return 1
	dir_removed "$d/dir" || return 1
}

# Also the path without RATTEST_SWTPM_TEMPLATE (ctest sets it for the
# other instances): the TPM manufactured in the temp dir itself.
keep_option() {
	local d=$work/keep rc=0 dir
	mkdir -p "$d"
	env -u RATTEST_SWTPM_TEMPLATE "$with_swtpm" --keep -- sh -c '
		echo "$RATTEST_TPM_DIR" >"$1/dir"
		cat "$RATTEST_TPM_DIR/swtpm.pid" >"$1/swtpm.pid"' sh "$d" 2>"$d/stderr" || rc=$?
	[[ $rc == 0 ]] || fail "exit status $rc, expected 0; stderr: $(cat "$d/stderr")" || return 1
	dir=$(head -n 1 -- "$d/dir")
	[[ -s $dir/ek-ca-root.pem ]] || fail "--keep: $dir/ek-ca-root.pem is gone" || return 1
	pid_gone "$d/swtpm.pid" swtpm || return 1
	grep -qF "kept $dir" "$d/stderr" || fail "--keep: path not reported on stderr" || return 1
	rm -rf -- "$dir"
}

setup_failure() {
	local d=$work/setupfail rc=0
	mkdir -p "$d/bin"
	# A tpm2-abrmd that never comes up: swtpm is already running by then
	# and must still be stopped.
	printf '#!/bin/sh\necho "fake tpm2-abrmd: refusing to start" >&2\nexit 1\n' >"$d/bin/tpm2-abrmd"
	chmod +x "$d/bin/tpm2-abrmd"
	PATH=$d/bin:$PATH "$with_swtpm" --abrmd -- sh -c 'echo ran >"$1/ran"' sh "$d" \
		>"$d/stdout" 2>"$d/stderr" || rc=$?
	[[ $rc == 125 ]] || fail "exit status $rc, expected 125; stderr: $(cat "$d/stderr")" || return 1
	[[ ! -e $d/ran ]] || fail "CMD ran although setup failed" || return 1
	grep -q 'setup failed' "$d/stderr" || fail "no 'setup failed' message" || return 1
	if pgrep -f -- "--tpmstate dir=$TMPDIR/" >/dev/null; then
		fail "an swtpm for $TMPDIR is still running" || return 1
	fi
	no_leftovers || return 1
}

# A template dir that cannot be made (under a regular file): setup fails.
template_failure() {
	local d=$work/tplfail rc=0
	mkdir -p "$d"
	: >"$d/file"
	RATTEST_SWTPM_TEMPLATE=$d/file/cache "$with_swtpm" -- sh -c 'echo ran >"$1/ran"' sh "$d" \
		>"$d/stdout" 2>"$d/stderr" || rc=$?
	[[ $rc == 125 ]] || fail "exit status $rc, expected 125; stderr: $(cat "$d/stderr")" || return 1
	[[ ! -e $d/ran ]] || fail "CMD ran although setup failed" || return 1
	grep -q 'could not copy the TPM template' "$d/stderr" || fail "no template message" || return 1
	no_leftovers || return 1
}

parallel() {
	local d=$work/parallel i rc bad=0
	local -a pids=()
	mkdir -p "$d"
	for i in 1 2 3 4; do
		"$with_swtpm" -- tpm2_getrandom 8 >"$d/$i.out" 2>"$d/$i.err" &
		pids+=($!)
	done
	for i in 5 6; do
		"$with_swtpm" --abrmd -- tpm2_getrandom 8 >"$d/$i.out" 2>"$d/$i.err" &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		rc=0
		wait "${pids[$i]}" || rc=$?
		if [[ $rc != 0 ]]; then
			bad=1
			fail "instance $((i + 1)) exited $rc: $(cat "$d/$((i + 1)).err")"
		elif [[ $(stat -c %s "$d/$((i + 1)).out") != 8 ]]; then
			bad=1
			fail "instance $((i + 1)) did not print 8 random bytes"
		fi
	done
	((bad == 0)) || return 1
	no_leftovers || return 1
}

check "exit status 3 propagates; swtpm gone; temp dir removed" teardown_direct
check "--abrmd: exit status 3 propagates; swtpm, tpm2-abrmd, dbus-daemon gone; temp dir removed" teardown_abrmd
check "SIGTERM: CMD and all daemons stopped; temp dir removed" teardown_sigterm
check "--keep keeps the temp dir but stops swtpm" keep_option
check "failed setup: status 125, CMD not run, nothing left running" setup_failure
check "template that cannot be made: status 125, CMD not run, nothing left" template_failure
check "4 direct + 2 --abrmd instances in parallel" parallel
check "nothing left in TMPDIR" no_leftovers

printf '%s: %d passed, %d failed\n' "$prog" "$passed" "$failed"
((failed == 0))
