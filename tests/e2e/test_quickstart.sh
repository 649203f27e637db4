#!/usr/bin/env bash
# README.md "Quick start by hand", run as written: the ```sh blocks between
# <!-- quickstart:begin --> and <!-- quickstart:end --> run in order in one
# bash (set -eu: a reader would notice a failing command), as a reader pastes
# them into one shell. Only what the README leaves to variables changes: QS
# is a temp dir and the ports are free ones. The working directory is a temp
# dir standing in for the checkout, with `build` linked to the build under
# test and `certs` to the checkout's. Nothing else is run between blocks.
#
# Success is the server's answer: s_server (-Verify 1 -verify_return_error)
# sends HTTP/1.0 200 to s_client with rattest:default, and curl with the TSS2
# key file prints HTTP 200 -- never the client's own report of a handshake.
# Then: the verifier accepted Finish with the platform certificate checked,
# and the README's last block stopped every server it started.
# Usage: test_quickstart.sh BUILD_DIR
set -uo pipefail
build=$(cd "${1:?usage: test_quickstart.sh BUILD_DIR}" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
. "$src/tests/lib/assert.sh"
work=$(mktemp -d)
qs=$work/qs
# The blocks' own EXIT trap (below) stops what they started; this is for a
# run cut short from outside.
cleanup() {
  local f
  for f in "$qs"/*.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2> /dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT

# The README's blocks, fences dropped.
awk '/<!-- quickstart:begin -->/ { on = 1; next }
     /<!-- quickstart:end -->/ { on = 0 }
     on && /^```sh$/ { code = 1; blocks++; next }
     code && /^```$/ { code = 0; next }
     code { print }
     END { print blocks > "/dev/stderr" }' "$src/README.md" > "$work/blocks.sh" 2> "$work/nblocks"
nblocks=$(cat "$work/nblocks")
if [ "${nblocks:-0}" -ge 8 ]; then ok; else bad "README: ${nblocks:-no} quickstart sh blocks found"; fi

# Free ports below the ephemeral range (a port in it may be taken by an
# outgoing connection before the server binds it): N, N+1 for swtpm, N+2
# for the verifier, N+3 for s_server.
read -r eph _ < /proc/sys/net/ipv4/ip_local_port_range
port=""
for _ in $(seq 50); do
  p=$((20000 + (RANDOM * 32768 + RANDOM) % (eph - 20000 - 4)))
  [ -z "$(ss -Htan "( sport = :$p or sport = :$((p + 1)) or sport = :$((p + 2)) or sport = :$((p + 3)) )")" ] &&
    { port=$p; break; }
done
[ -n "$port" ] || { echo "no free ports" >&2; exit 1; }

mkdir -p "$work/checkout"
ln -s "$build" "$work/checkout/build"
ln -s "$src/certs" "$work/checkout/certs"
{
  # Whatever happens, the servers the blocks started are stopped and reaped
  # (after the README's own last block, only reaping is left).
  cat << 'SH'
set -eu
trap 'for f in "$QS"/*.pid; do kill "$(cat "$f")" 2> /dev/null || true; done; wait' EXIT
SH
  cat "$work/blocks.sh"
} > "$work/quickstart.sh"

start=$(date +%s)
(cd "$work/checkout" &&
  env -u RATTEST_TCTI -u TPM2TOOLS_TCTI -u RATTEST_STATE_DIR -u OPENSSL_MODULES -u OPENSSL_CONF \
    QS="$qs" TPM_PORT="$port" VERIFIER_PORT=$((port + 2)) WEB_PORT=$((port + 3)) \
    timeout 240 bash "$work/quickstart.sh") > "$work/out" 2> "$work/err"
rc=$?
echo "the README's quick start ran in $(($(date +%s) - start)) s (exit $rc)"
if [ "$rc" = 0 ]; then ok; else
  bad "the quick start failed (exit $rc); stdout, stderr and the servers' logs:"
  tail -n 30 "$work/out" "$work/err" "$qs"/*.log >&2
fi

# s_client's first line is the server's status line.
if grep -q '^HTTP/1.0 200 ok' "$work/out"; then ok
else bad "s_server did not answer s_client with 200: $(cat "$work/out")"; fi
if grep -qx 'HTTP 200' "$work/out"; then ok
else bad "curl did not get 200 from s_server: $(cat "$work/out")"; fi
if grep -q '"method":"Finish","decision":"accept"' "$qs/audit.jsonl" 2> /dev/null; then ok
else bad "no accepted Finish in the audit log: $(cat "$qs/audit.jsonl" 2> /dev/null)"; fi
if grep -q '"platform":{[^}]*"verified":true' "$qs/audit.jsonl" 2> /dev/null; then ok
else bad "the platform certificate was not checked: $(cat "$qs/audit.jsonl" 2> /dev/null)"; fi
# The blocks' own stop left nothing running.
for f in "$qs"/swtpm.pid "$qs"/verifier.pid "$qs"/s_server.pid; do
  pid=$(cat "$f" 2> /dev/null) || { bad "no pid file $f"; continue; }
  if kill -0 "$pid" 2> /dev/null; then bad "$(basename "$f" .pid) (pid $pid) still runs"; else ok; fi
done

finish quickstart
