#!/usr/bin/env bash
# The binaries as a user meets them: help, bad arguments, a real verifier
# answering the bootstrap over TLS, clean shutdown, the provider loading.
# Usage: test_cli.sh BUILD_DIR PKI_DIR OTHER_PKI_DIR
set -euo pipefail
build=${1:?usage} pki=${2:?usage} other=${3:?usage}
V="$build/bin/rattest-verifier"
B="$build/bin/rattest-bootstrap"
work=$(mktemp -d)
vpid="" v6pid=""
cleanup() {
  for p in $vpid $v6pid; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/../lib/assert.sh"
# expect STATUS PATTERN CMD...: exit status and a pattern in stdout+stderr.
expect() {
  local want=$1 pat=$2; shift 2
  set +e; "$@" > "$work/out" 2>&1; local rc=$?; set -e
  if [ "$rc" -eq "$want" ] && grep -qE -- "$pat" "$work/out"; then ok; else
    bad "$* -> rc=$rc (want $want), output: $(head -c 400 "$work/out")"; fi
}

expect 0 'serve +run the rattest.v1.Attestation' "$V" --help
expect 0 'ping +check that the verifier answers' "$B" --help
expect 0 'tpm-info' "$B" help
expect 0 'enroll +prove this TPM' "$B" --help
expect 0 '--state-dir DIR' "$B" enroll --help
expect 2 '--verifier and --ca are required' "$B" enroll
expect 2 '--key-alg must be ecc-p256 or rsa-2048' "$B" enroll --key-alg dsa
expect 2 '--handle: 0x81800000 is out of range' "$B" enroll --handle 0x81800000
expect 2 'PCR selection "sha999:0": unknown bank' "$B" enroll --pcrs sha999:0
expect 2 'name' "$B" enroll --verifier x:1 --ca y --name "../etc"
expect 3 'no identity enrolled' "$B" status --state-dir "$work/empty-state"
expect 0 '--tls-cert FILE' "$V" serve --help
expect 0 '--verifier HOST:PORT' "$B" ping --help
expect 0 "rattest-verifier [0-9]+\.[0-9]+\.[0-9]+" "$V" --version
expect 2 'unknown command "frobnicate"' "$V" frobnicate
expect 2 'unknown command "frobnicate"' "$B" frobnicate
expect 2 '--tls-cert and --tls-key are required' "$V" serve
expect 2 '--threads: "many" is not a number' "$V" serve --threads many
expect 2 '--threads: 0 is out of range' "$V" serve --threads 0
expect 2 '--decisions-keep: 36501 is out of range' "$V" serve --decisions-keep 36501
expect 2 '--decisions-keep: "-1" is not a number' "$V" serve --decisions-keep -1
expect 2 '--max-message-size: unknown size unit' "$V" serve --max-message-size 4TB
expect 2 '--verifier and --ca are required' "$B" ping
expect 2 '--timeout: unknown duration unit' "$B" ping --verifier x:1 --ca y --timeout 5d
ENROLL=(--ek-ca "$pki/tls-ca.pem" --issuer-cert "$pki/issuer-chain.pem" --issuer-key "$pki/issuer.key")
expect 1 'does not match certificate' "$V" serve --listen 127.0.0.1:0 \
  --tls-cert "$pki/server-chain.pem" --tls-key "$other/server.key" "${ENROLL[@]}"
expect 2 '--ek-ca, --issuer-cert and --issuer-key are required' "$V" serve \
  --tls-cert "$pki/server-chain.pem" --tls-key "$pki/server.key"
expect 1 'no certificate' "$V" serve --listen 127.0.0.1:0 --tls-cert "$pki/server-chain.pem" \
  --tls-key "$pki/server.key" --ek-ca "$pki/server.key" --issuer-cert "$pki/issuer-chain.pem" \
  --issuer-key "$pki/issuer.key"
expect 2 '--session-ttl must be between' "$V" serve --session-ttl 2h

# Help: `help COMMAND` of an unknown command is an error like running it
# (exit 2, stderr only); every command's help, by `help COMMAND` or
# `COMMAND --help` alike, ends with the exit statuses it uses.
expect 2 '^rattest-verifier: unknown command "nosuch"' "$V" help nosuch
expect 2 '^rattest-bootstrap: unknown command "nosuch"' "$B" help nosuch
if [ -z "$("$V" help nosuch 2> /dev/null)$("$B" help nosuch 2> /dev/null)" ]; then ok; else
  bad "help nosuch wrote to stdout"; fi
commands() { "$1" --help | awk '/^Commands:/ {f = 1; next} /^$/ {f = 0} f && /^  [a-z]/ {print $1}'; }
for bin in "$V" "$B"; do
  for c in $(commands "$bin"); do
    case $c in help | version) continue ;; esac
    "$bin" help "$c" > "$work/help" 2>&1 || bad "$bin help $c: exit $?"
    "$bin" "$c" --help > "$work/help2" 2>&1 || bad "$bin $c --help: exit $?"
    cmp -s "$work/help" "$work/help2" || bad "$(basename "$bin") help $c differs from $c --help"
    # The last paragraph: "Exit status: 0 ..., 1 ..., 2 ..."
    last=$(awk 'BEGIN {RS = ""} {p = $0} END {print p}' "$work/help" | tr '\n' ' ')
    case $last in
      "Exit status: 0 "*", 1 "*", 2 "*) ok ;;
      *) bad "$(basename "$bin") help $c does not end with its exit statuses: $last" ;;
    esac
  done
done
# The options a command cannot run without say so.
for f in tls-cert tls-key ek-ca issuer-cert issuer-key; do
  expect 0 "^  --$f [A-Z]+ .*\(required\)" "$V" serve --help
done
for f in verifier ca; do
  expect 0 "^  --$f [A-Z:]+ .*\(required\)" "$B" enroll --help
  expect 0 "^  --$f [A-Z:]+ .*\(required\)" "$B" ping --help
done
expect 0 '^  --state-dir DIR ' "$B" status --help
expect 0 '^  --json ' "$B" status --help

# Addresses are HOST:PORT in full, the port 1-65535 (0 too for --listen,
# which then picks a free port): gRPC would take a missing port as 443 and
# localhost:99999 as port 34463. Refused before anything is opened.
expect 2 '^rattest-bootstrap ping: --verifier: "localhost:99999": port 99999 is out of range \[1, 65535\]' \
  "$B" ping --verifier localhost:99999 --ca y
expect 2 '--verifier: "localhost" has no port' "$B" ping --verifier localhost --ca y
expect 2 '--verifier: "127.0.0.1:0": port 0 is out of range' "$B" ping --verifier 127.0.0.1:0 --ca y
expect 2 '--verifier: "::1:50051" is not HOST:PORT \(an IPv6 address goes in brackets' \
  "$B" ping --verifier ::1:50051 --ca y
expect 2 '--verifier: "localhost:99999": port 99999' "$B" enroll --verifier localhost:99999 --ca y \
  --state-dir "$work/never"
expect 2 '--verifier: "verifier.example" has no port' "$B" enroll --verifier verifier.example \
  --ca y --state-dir "$work/never"
if [ ! -e "$work/never" ]; then ok; else bad "a refused enroll created its state directory"; fi
SERVE=(--tls-cert "$pki/server-chain.pem" --tls-key "$pki/server.key" --ek-ca "$pki/tls-ca.pem"
  --issuer-cert "$pki/issuer-chain.pem" --issuer-key "$pki/issuer.key")
# (timeout: a verifier that takes the address serves until stopped)
expect 2 '^rattest-verifier serve: --listen: "127.0.0.1:99999": port 99999 is out of range \[0, 65535\]' \
  timeout 10 "$V" serve --listen 127.0.0.1:99999 "${SERVE[@]}"
expect 2 '--listen: "127.0.0.1" has no port' timeout 10 "$V" serve --listen 127.0.0.1 "${SERVE[@]}"
expect 2 '--listen: ":" has no host' timeout 10 "$V" serve --listen : "${SERVE[@]}"

# A real verifier on a free port.
"$V" serve --listen 127.0.0.1:0 --tls-cert "$pki/server-chain.pem" --tls-key "$pki/server.key" \
  "${ENROLL[@]}" --port-file "$work/port" 2> "$work/verifier.log" &
vpid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")
expect 0 'answered: version [0-9.]+, message "hi there"' \
  "$B" ping --verifier "localhost:$port" --ca "$pki/tls-ca.pem" --message "hi there"
expect 1 'certificate verify failed' \
  "$B" ping --verifier "localhost:$port" --ca "$other/tls-ca.pem" --timeout 5s
expect 1 'UNAVAILABLE' "$B" ping --verifier "localhost:1" --ca "$pki/tls-ca.pem" --timeout 3s
# An IPv6 address in brackets, listening and connecting.
"$V" serve --listen "[::1]:0" "${SERVE[@]}" --port-file "$work/port6" 2> "$work/verifier6.log" &
v6pid=$!
for _ in $(seq 100); do [ -s "$work/port6" ] && break; sleep 0.05; done
expect 0 "verifier \\[::1\\]:$(cat "$work/port6") answered" \
  "$B" ping --verifier "[::1]:$(cat "$work/port6")" --ca "$pki/tls-ca.pem"
kill -TERM "$v6pid"
wait "$v6pid" || bad "IPv6 verifier: $(cat "$work/verifier6.log")"
v6pid=""
# The port is taken: a second verifier must fail, not share it.
expect 1 'cannot listen on 127.0.0.1:'"$port" "$V" serve --listen "127.0.0.1:$port" \
  --tls-cert "$pki/server-chain.pem" --tls-key "$pki/server.key" "${ENROLL[@]}"
# SIGTERM stops the service cleanly (exit 0), logging why.
kill -TERM "$vpid"
set +e; wait "$vpid"; rc=$?; set -e
vpid=""
if [ "$rc" -eq 0 ] && grep -q 'signal 15: stopping' "$work/verifier.log"; then ok; else
  bad "verifier stop: rc=$rc $(cat "$work/verifier.log")"; fi

# The provider module loads into openssl and reports itself active. (Under
# ASan the uninstrumented openssl needs the runtime preloaded, and its own
# leaks are not ours to report.)
openssl_run() {
  if [ -n "${RATTEST_PRELOAD:-}" ]; then
    LD_PRELOAD="$RATTEST_PRELOAD" ASAN_OPTIONS=detect_leaks=0 openssl "$@"
  else
    openssl "$@"
  fi
}
expect 0 'name: rattest TPM 2.0 key provider' \
  openssl_run list -providers -provider-path "$build/lib" -provider rattest
if openssl_run list -providers -provider-path "$build/lib" -provider rattest | grep -q 'status: active'; then ok; else bad "provider not active"; fi

finish test_cli.sh
