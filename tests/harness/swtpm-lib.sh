# shellcheck shell=bash
#
# swtpm-lib.sh - software TPM helpers for the rattest test harness.
#
# Meant to be sourced (by tests/harness/with-swtpm and scripts/demo), never
# executed.  Every public function reports failures through its return status
# and a message on stderr rather than relying on the caller's `set -e`: errexit
# is silently disabled inside functions that are called from `if`, `&&` or
# `||`, so each step checks its own result.  The library itself does not change
# shell options, so it is safe under `set -euo pipefail` and without it.
#
# Files kept in the TPM directory DIR:
#   ca/ state/ ekcerts/        swtpm_setup output (CA keys, NV state, EK certs)
#   ek-ca-{root,intermediate,bundle}.pem   the EK certificate chain
#   port                       swtpm data port N (control port is N+1)
#   swtpm.pid  abrmd.pid  dbus.pid  dbus.address
#   *.log *.out                logs and stdout/stderr of each program, shown
#                              on stderr when something fails
#
# Daemons are started as background children of the calling shell instead of
# letting them daemonize: a daemonized process is re-parented to PID 1, and
# where PID 1 does not reap orphans (minimal container/VM inits do not) it
# would linger as a zombie forever.  As our children they are reaped by us.

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	printf '%s: this is a library; source it from bash instead of running it\n' "$0" >&2
	exit 2
fi

_rt_err() {
	printf 'swtpm-lib: %s\n' "$*" >&2
}

# Dump the tail of a log so that a failure report is self-contained; the temp
# dir is usually deleted right after.
_rt_show_log() {
	local f
	for f in "$@"; do
		[[ -s $f ]] || continue
		printf -- '----- %s (last 40 lines) -----\n' "$f" >&2
		tail -n 40 -- "$f" >&2 || true
	done
}

# True when PID is a live process.  kill -0 is not enough: it also succeeds
# for zombies, and an unreaped zombie must count as "gone".
_rt_alive() {
	local pid=$1 stat
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	# comm (field 2) may contain spaces and parentheses; state follows the last ')'.
	stat=${stat##*) }
	[[ ${stat:0:1} != [ZX] ]]
}

# True when PID is alive and runs program COMM.  Guards every kill against a
# stale pid file whose pid has been reused by an unrelated process.
_rt_is() {
	local pid=$1 comm=$2 actual
	_rt_alive "$pid" || return 1
	actual=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	[[ $actual == "$comm" ]]
}

# Read a pid file; prints nothing and fails when absent or garbage.
_rt_read_pid() {
	local pid
	[[ -r $1 ]] || return 1
	pid=$(head -n 1 -- "$1" 2>/dev/null) || return 1
	pid=${pid//[[:space:]]/}
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	printf '%s\n' "$pid"
}

# Terminate PID (only if it still runs COMM), escalating to SIGKILL after ~5 s,
# and reap it if it is our child.
_rt_kill_wait() {
	local pid=$1 comm=$2 i
	if _rt_is "$pid" "$comm"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			_rt_is "$pid" "$comm" || break
			sleep 0.1
		done
		if _rt_is "$pid" "$comm"; then
			_rt_err "$comm (pid $pid) ignored SIGTERM, sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			for ((i = 0; i < 50; i++)); do
				_rt_is "$pid" "$comm" || break
				sleep 0.1
			done
		fi
	fi
	# Collect the exit status so no zombie is left behind; `wait` also keeps
	# bash from printing a "Terminated" job notice.  Fails harmlessly (127)
	# when the process is not a child of this shell.
	wait "$pid" 2>/dev/null || true
	! _rt_is "$pid" "$comm"
}

# Absolute path of an existing directory.
_rt_abs_dir() {
	[[ -d $1 ]] || { _rt_err "not a directory: $1"; return 1; }
	(cd -- "$1" && pwd -P)
}

# Picks ports below the kernel's ephemeral range when that leaves enough room:
# a port in that range can be grabbed as the local end of some unrelated
# outgoing connection between our "is it free?" check and swtpm's bind().
_rt_port_range() {
	local lo=20000 hi=60000 eph_lo
	if read -r eph_lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null &&
		[[ $eph_lo =~ ^[0-9]+$ ]] && ((eph_lo - 2 - lo >= 2000)); then
		((hi = eph_lo < hi ? eph_lo - 2 : hi))
	fi
	printf '%s %s\n' "$lo" "$hi"
}

# True when any socket (listening or connected) uses one of the given local
# ports.  Without ss the check is skipped: a failed bind is retried anyway.
_rt_ports_busy() {
	local filter="" p out
	command -v ss >/dev/null 2>&1 || return 1
	for p in "$@"; do
		filter+="${filter:+ or }sport = :$p"
	done
	out=$(ss -Htan "( $filter )" 2>/dev/null) || return 0
	[[ -n $out ]]
}

# True when PID owns a listening TCP socket on PORT.  Identifying the owner
# matters: a parallel harness may own the port we just failed to bind, and
# probing it would make us believe our own swtpm came up.
_rt_pid_listens() {
	local pid=$1 port=$2 out
	out=$(ss -Hltnp "sport = :$port" 2>/dev/null) || return 1
	[[ $out == *"pid=$pid,"* ]]
}

# True when a TPM answers on swtpm data port PORT.  The timeout matters: a
# wedged swtpm (or a foreign server on the port) would otherwise hang us.
_rt_swtpm_probe() {
	TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$1" \
		timeout 10 tpm2_getrandom 8 --hex >/dev/null
}

# With RT_SWTPM_SHOW=1 (scripts/demo shows every command it runs), the files
# and commands that make and start the TPM are printed on stdout as a shell
# would take them, before they run; their own output still goes to the logs.
_rt_showing() {
	[[ ${RT_SWTPM_SHOW:-0} == 1 ]]
}

# rt_cmdline WORDS...: the words as one command line a shell reads back as
# the same words (scripts/demo shows its own commands with it). Words of
# only plain characters stay bare, others are single-quoted: easier to read
# than printf %q, which escapes every comma.
rt_cmdline() {
	local a line=""
	for a in "$@"; do
		if [[ -n $a && $a =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then
			line+="${line:+ }$a"
		else
			line+="${line:+ }'${a//\'/\'\\\'\'}'"
		fi
	done
	printf '%s' "$line"
}

_rt_show_cmd() {
	_rt_showing || return 0
	printf '$ %s\n' "$(rt_cmdline "$@")"
}

_rt_show_file() {
	_rt_showing || return 0
	printf '$ cat > %s << EOF\n' "$(rt_cmdline "$1")"
	cat -- "$1"
	printf 'EOF\n'
}

# ---------------------------------------------------------------------------

# rt_tpm_manufacture DIR
# Create a fresh TPM 2.0 state in DIR/state with RSA and ECC EKs, EK and
# platform certificates from a private CA in DIR/ca, and export the CA chain.
rt_tpm_manufacture() {
	local dir=${1:-}
	[[ -n $dir ]] || { _rt_err "usage: rt_tpm_manufacture DIR"; return 2; }
	mkdir -p -- "$dir/ca" "$dir/state" "$dir/ekcerts" || return 1
	dir=$(_rt_abs_dir "$dir") || return 1

	# Private copies of the configs: the system ones point swtpm_localca at
	# /var/lib/swtpm-localca, which would share (and lock) one CA across all
	# parallel harnesses and leave state behind.
	cat >"$dir/swtpm-localca.conf" <<-EOF || return 1
		statedir = $dir/ca
		signingkey = $dir/ca/signkey.pem
		issuercert = $dir/ca/issuercert.pem
		certserial = $dir/ca/certserial
	EOF
	cat >"$dir/swtpm-localca.options" <<-EOF || return 1
		--platform-manufacturer rattest
		--platform-version 2.1
		--platform-model swtpm
	EOF
	cat >"$dir/swtpm_setup.conf" <<-EOF || return 1
		create_certs_tool = /usr/bin/swtpm_localca
		create_certs_tool_config = $dir/swtpm-localca.conf
		create_certs_tool_options = $dir/swtpm-localca.options
		active_pcr_banks = sha1,sha256
	EOF
	_rt_show_file "$dir/swtpm-localca.conf"
	_rt_show_file "$dir/swtpm-localca.options"
	_rt_show_file "$dir/swtpm_setup.conf"

	# swtpm_setup prints "TPM is listening on Unix socket." on stdout even
	# with --logfile, and some errors go to stderr only; keep both.  Its
	# scratch dir (swtpm_setup.certs.*) is left behind when it is interrupted,
	# so it goes inside DIR to be removed along with it.
	# shellcheck disable=SC2054 # the commas are inside arguments
	local setup=(swtpm_setup --tpm2
		--tpmstate "$dir/state"
		--config "$dir/swtpm_setup.conf"
		--create-ek-cert --create-platform-cert --lock-nvram
		--pcr-banks sha1,sha256
		--write-ek-cert-files "$dir/ekcerts"
		--logfile "$dir/swtpm_setup.log")
	_rt_show_cmd TMPDIR="$dir" "${setup[@]}"
	if ! TMPDIR=$dir "${setup[@]}" </dev/null >"$dir/swtpm_setup.out" 2>&1; then
		_rt_err "swtpm_setup failed in $dir"
		cat -- "$dir/swtpm_setup.log" "$dir/swtpm_setup.out" >&2 2>/dev/null || true
		return 1
	fi

	local root=$dir/ca/swtpm-localca-rootca-cert.pem inter=$dir/ca/issuercert.pem
	if [[ ! -s $root || ! -s $inter ]]; then
		_rt_err "swtpm_setup succeeded but the CA certificates are missing in $dir/ca"
		cat -- "$dir/swtpm_setup.log" "$dir/swtpm_setup.out" >&2 2>/dev/null || true
		return 1
	fi
	_rt_show_cmd cp -- "$root" "$dir/ek-ca-root.pem"
	cp -- "$root" "$dir/ek-ca-root.pem" || return 1
	_rt_show_cmd cp -- "$inter" "$dir/ek-ca-intermediate.pem"
	cp -- "$inter" "$dir/ek-ca-intermediate.pem" || return 1
	! _rt_showing || printf '$ %s > %s\n' "$(rt_cmdline cat -- "$inter" "$root")" "$(rt_cmdline "$dir/ek-ca-bundle.pem")"
	cat -- "$inter" "$root" >"$dir/ek-ca-bundle.pem" || return 1
}

# rt_tpm_from_template CACHE DIR
# Make DIR a TPM as rt_tpm_manufacture makes it, by copying one that was
# manufactured once under CACHE: manufacturing (CA keys, EKs, certificates)
# costs seconds, a copy milliseconds. Each copy is still a TPM no command
# has reached since manufacture, but all copies share the template's seeds,
# EKs and CA: a test that needs a TPM with other seeds manufactures its own.
# The template is keyed by this library's text and swtpm's version, so a
# change to either makes a new one; it is made under a lock, in a scratch
# dir renamed into place, so parallel callers wait for one manufacture and
# an interrupted one leaves nothing that looks finished.
rt_tpm_from_template() {
	local cache=${1:-} dir=${2:-} key tpl new
	[[ -n $cache && -n $dir ]] || { _rt_err "usage: rt_tpm_from_template CACHE DIR"; return 2; }
	command -v flock >/dev/null 2>&1 || { _rt_err "flock not found in PATH"; return 1; }
	mkdir -p -- "$cache" "$dir" || return 1
	# swtpm_setup 0.7 exits 1 after printing its version: only the text counts.
	key=$( { cat -- "${BASH_SOURCE[0]}"; swtpm_setup --version; swtpm --version; } 2>/dev/null |
		sha256sum) || true
	[[ $key =~ ^[0-9a-f]{64} ]] || { _rt_err "could not key the TPM template"; return 1; }
	tpl=$cache/tpm-${key:0:16}
	(
		flock 9 || exit 1
		[[ -f $tpl/.complete ]] && exit 0
		# Only a holder of the lock makes templates: what is left here
		# was interrupted.
		rm -rf -- "$cache"/new.* "$tpl"
		new=$(mktemp -d "$cache/new.XXXXXX") || exit 1
		rt_tpm_manufacture "$new" && : >"$new/.complete" && mv -T -- "$new" "$tpl"
	) 9>"$cache/lock" || { _rt_err "could not make the TPM template in $cache"; return 1; }
	_rt_show_cmd cp -a -- "$tpl/." "$dir/"
	cp -a -- "$tpl/." "$dir/" && rm -f -- "$dir/.complete"
}

# rt_swtpm_start DIR
# Start swtpm on a random free loopback port pair N (data), N+1 (control).
rt_swtpm_start() {
	local dir=${1:-}
	[[ -n $dir ]] || { _rt_err "usage: rt_swtpm_start DIR"; return 2; }
	dir=$(_rt_abs_dir "$dir") || return 1
	[[ -d $dir/state ]] || { _rt_err "$dir/state missing; run rt_tpm_manufacture first"; return 1; }
	command -v swtpm >/dev/null 2>&1 || { _rt_err "swtpm not found in PATH"; return 1; }

	local range lo hi port pid try i ready swtpm
	: >"$dir/swtpm.out" || return 1
	range=$(_rt_port_range) || return 1
	read -r lo hi <<<"$range"

	for ((try = 1; try <= 20; try++)); do
		# RANDOM is only 15 bits; two draws cover the whole range.
		port=$((lo + ((RANDOM << 15) | RANDOM) % (hi - lo)))
		_rt_ports_busy "$port" "$((port + 1))" && continue

		rm -f -- "$dir/swtpm.pid"
		printf 'rattest: attempt %d, ports %d/%d\n' "$try" "$port" "$((port + 1))" >>"$dir/swtpm.out"
		# shellcheck disable=SC2054 # the commas are inside arguments
		swtpm=(swtpm socket --tpm2
			--tpmstate "dir=$dir/state"
			--server "type=tcp,port=$port,bindaddr=127.0.0.1"
			--ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1"
			--flags not-need-init,startup-clear
			--pid "file=$dir/swtpm.pid"
			--log "file=$dir/swtpm.log,level=1")
		! _rt_showing || printf '$ %s &\n' "$(rt_cmdline "${swtpm[@]}")"
		"${swtpm[@]}" </dev/null >>"$dir/swtpm.out" 2>&1 &
		pid=$!
		# Written by us as well as by swtpm (same pid) so that a caller
		# interrupted from here on still finds something to stop.
		printf '%s\n' "$pid" >"$dir/swtpm.pid" || return 1

		# swtpm exits at once when a bind fails (typically lost a race with
		# a parallel harness); otherwise wait until it listens on both ports.
		# Without ss, fall back to probing until the TPM answers.
		ready=0
		for ((i = 0; i < 50; i++)); do
			_rt_alive "$pid" || break
			if command -v ss >/dev/null 2>&1; then
				if _rt_pid_listens "$pid" "$port" && _rt_pid_listens "$pid" "$((port + 1))"; then
					ready=1
					break
				fi
			elif _rt_swtpm_probe "$port" 2>>"$dir/swtpm.out"; then
				ready=1
				break
			fi
			sleep 0.1
		done
		# End-to-end check through the TCTI the tests will use.
		if ((ready)) && ! _rt_swtpm_probe "$port" 2>>"$dir/swtpm.out"; then
			ready=0
		fi
		if ((ready)) && _rt_alive "$pid"; then
			printf '%s\n' "$port" >"$dir/port" || return 1
			export RATTEST_SWTPM_PORT=$port
			export RATTEST_TCTI_DIRECT="swtpm:host=127.0.0.1,port=$port"
			return 0
		fi
		_rt_kill_wait "$pid" swtpm >/dev/null 2>&1 || true
		rm -f -- "$dir/swtpm.pid"
	done

	_rt_err "could not start swtpm after $((try - 1)) attempts"
	_rt_show_log "$dir/swtpm.out" "$dir/swtpm.log"
	return 1
}

# rt_swtpm_stop DIR
rt_swtpm_stop() {
	local dir=${1:-} pid
	[[ -n $dir ]] || { _rt_err "usage: rt_swtpm_stop DIR"; return 2; }
	pid=$(_rt_read_pid "$dir/swtpm.pid") || return 0
	if ! _rt_kill_wait "$pid" swtpm; then
		_rt_err "swtpm (pid $pid) did not exit"
		return 1
	fi
	rm -f -- "$dir/swtpm.pid"
}

# rt_abrmd_start DIR
# Start a private D-Bus session bus plus tpm2-abrmd connected to the swtpm
# started by rt_swtpm_start.  A private bus keeps parallel harnesses (and the
# system's own tpm2-abrmd, if any) from seeing each other's broker.
rt_abrmd_start() {
	local dir=${1:-}
	[[ -n $dir ]] || { _rt_err "usage: rt_abrmd_start DIR"; return 2; }
	dir=$(_rt_abs_dir "$dir") || return 1

	local port addr dbus_pid abrmd_pid i ok
	port=$(head -n 1 -- "$dir/port" 2>/dev/null) || port=""
	[[ $port =~ ^[0-9]+$ ]] || { _rt_err "no swtpm port in $dir/port; run rt_swtpm_start first"; return 1; }
	command -v dbus-daemon >/dev/null 2>&1 || { _rt_err "dbus-daemon not found in PATH"; return 1; }
	command -v tpm2-abrmd >/dev/null 2>&1 || { _rt_err "tpm2-abrmd not found in PATH"; return 1; }

	# --nofork keeps the bus our child (see the note at the top); the address
	# is only known once the daemon has bound its socket, so it is written to
	# a file and polled for.
	: >"$dir/dbus.address" || return 1
	dbus-daemon --session --nofork --nopidfile --print-address=3 \
		3>"$dir/dbus.address" </dev/null >>"$dir/dbus.log" 2>&1 &
	dbus_pid=$!
	printf '%s\n' "$dbus_pid" >"$dir/dbus.pid" || return 1
	addr=""
	for ((i = 0; i < 100; i++)); do
		addr=$(head -n 1 -- "$dir/dbus.address" 2>/dev/null) || addr=""
		[[ -n $addr ]] && break
		_rt_alive "$dbus_pid" || break
		sleep 0.05
	done
	if [[ -z $addr ]] || ! _rt_alive "$dbus_pid"; then
		_rt_err "private dbus-daemon did not come up"
		_rt_show_log "$dir/dbus.log"
		rt_abrmd_stop "$dir" || true
		return 1
	fi
	export DBUS_SESSION_BUS_ADDRESS=$addr

	tpm2-abrmd --session --allow-root \
		--tcti="swtpm:host=127.0.0.1,port=$port" \
		</dev/null >>"$dir/abrmd.log" 2>&1 &
	abrmd_pid=$!
	printf '%s\n' "$abrmd_pid" >"$dir/abrmd.pid" || return 1

	# abrmd claims its bus name only after talking to the TPM, so a working
	# tpm2_getrandom through it means the whole chain is up.
	ok=0
	for ((i = 0; i < 100; i++)); do
		_rt_alive "$abrmd_pid" || break
		if TPM2TOOLS_TCTI=tabrmd:bus_type=session \
			timeout 10 tpm2_getrandom 8 --hex >/dev/null 2>&1; then
			ok=1
			break
		fi
		sleep 0.1
	done
	if ((!ok)); then
		_rt_err "tpm2-abrmd did not become ready (swtpm port $port)"
		_rt_show_log "$dir/abrmd.log" "$dir/dbus.log"
		rt_abrmd_stop "$dir" || true
		return 1
	fi
}

# rt_abrmd_stop DIR
# Broker first: it would log errors if the bus vanished under it.
rt_abrmd_stop() {
	local dir=${1:-} pid rc=0
	[[ -n $dir ]] || { _rt_err "usage: rt_abrmd_stop DIR"; return 2; }
	if pid=$(_rt_read_pid "$dir/abrmd.pid"); then
		if _rt_kill_wait "$pid" tpm2-abrmd; then
			rm -f -- "$dir/abrmd.pid"
		else
			_rt_err "tpm2-abrmd (pid $pid) did not exit"
			rc=1
		fi
	fi
	if pid=$(_rt_read_pid "$dir/dbus.pid"); then
		if _rt_kill_wait "$pid" dbus-daemon; then
			rm -f -- "$dir/dbus.pid"
		else
			_rt_err "dbus-daemon (pid $pid) did not exit"
			rc=1
		fi
	fi
	return "$rc"
}

# rt_tpm_env DIR [abrmd]
# Export the variables through which tests find the TPM.  Works from any
# shell that can read DIR, not only the one that started the daemons.
rt_tpm_env() {
	local dir=${1:-} mode=${2:-direct} port addr
	[[ -n $dir ]] || { _rt_err "usage: rt_tpm_env DIR [abrmd]"; return 2; }
	dir=$(_rt_abs_dir "$dir") || return 1
	case $mode in
	direct | abrmd) ;;
	*) _rt_err "rt_tpm_env: unknown mode '$mode' (expected 'abrmd' or nothing)"; return 2 ;;
	esac
	port=$(head -n 1 -- "$dir/port" 2>/dev/null) || port=""
	[[ $port =~ ^[0-9]+$ ]] || { _rt_err "no swtpm port in $dir/port; run rt_swtpm_start first"; return 1; }

	export RATTEST_TPM_DIR=$dir
	export RATTEST_TPM_MODE=$mode
	export RATTEST_SWTPM_PORT=$port
	export RATTEST_TCTI_DIRECT="swtpm:host=127.0.0.1,port=$port"
	export RATTEST_EK_CA_ROOT=$dir/ek-ca-root.pem
	export RATTEST_EK_CA_INTERMEDIATE=$dir/ek-ca-intermediate.pem
	export RATTEST_EK_CA_BUNDLE=$dir/ek-ca-bundle.pem
	if [[ $mode == abrmd ]]; then
		addr=$(head -n 1 -- "$dir/dbus.address" 2>/dev/null) || addr=""
		[[ -n $addr ]] || { _rt_err "no D-Bus address in $dir/dbus.address; run rt_abrmd_start first"; return 1; }
		export DBUS_SESSION_BUS_ADDRESS=$addr
		export RATTEST_TCTI=tabrmd:bus_type=session
	else
		export RATTEST_TCTI=$RATTEST_TCTI_DIRECT
	fi
	export TPM2TOOLS_TCTI=$RATTEST_TCTI
}
