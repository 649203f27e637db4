#!/usr/bin/env bash
# The bootstrap's calls to the verifier (rt_grpc_call_retry, which ping and
# every enroll call go through), against a real verifier:
#   - the verifier comes up 2 s after the client started: the client gets
#     through within one backoff step (at most 5 s) of it listening, not
#     after the channel's own reconnect backoff;
#   - a certificate that does not chain to --ca, or that names another
#     host, fails at once (not retried until --timeout), naming the option;
#   - nothing listening: retried until --timeout, then "could not reach".
# Usage: test_client_retry.sh BUILD_DIR
set -euo pipefail
build=${1:?usage}
src=$(cd "$(dirname "$0")/../.." && pwd)
V="$build/bin/rattest-verifier"
B="$build/bin/rattest-bootstrap"
work=$(mktemp -d)
trap 'stop_verifier; rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/verifier.sh"
VERIFIER_ARGS=(--ek-ca "$work/pki/tls-ca.pem")
"$src/certs/mkpki" "$work/pki" > /dev/null
# A CA the verifier's certificate does not chain to.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other-ca -days 1 \
  -keyout "$work/other-ca.key" -out "$work/other-ca.pem" 2> /dev/null
ms() { echo $(($(date +%s%N) / 1000000)); }
# ping [ARGS...]: ping the verifier at $port, output in $work/out, its
# exit status in $rc and its duration (ms) in $took.
ping() {
  local t0
  t0=$(ms)
  set +e
  "$B" ping --verifier "localhost:$port" "$@" > "$work/out" 2>&1
  rc=$?
  set -e
  took=$(($(ms) - t0))
}
# expect_fail WHAT PATTERN MAX_MS: the last ping failed (1), saying PATTERN,
# within MAX_MS.
expect_fail() {
  if [ "$rc" -eq 1 ] && grep -Eq "$2" "$work/out" && [ "$took" -lt "$3" ]; then ok; else
    bad "$1: rc=$rc in ${took} ms: $(cat "$work/out")"; fi
}

# 1. The verifier is down when the client starts and up 2 s later.
start_verifier
stop_verifier
t0=$(ms)
"$B" ping --verifier "localhost:$port" --ca "$work/pki/tls-ca.pem" --timeout 20s \
  > "$work/retry.out" 2>&1 &
ppid_=$!
sleep 2 # the outage itself, not a wait for something
LISTEN_PORT=$port start_verifier
up=$(ms)
set +e; wait "$ppid_"; rc=$?; set -e
done_=$(ms)
echo "verifier up after $((up - t0)) ms, answered $((done_ - up)) ms later"
# Retries at 0.25, 0.75, 1.75, 3.75, 7.75 s...: the one after the verifier
# came up is at most one step (<= 5 s) later; 2 s of margin for a loaded
# machine. Before each retry got a new channel it took ~20 s.
if [ "$rc" -eq 0 ] && grep -q 'retrying in' "$work/retry.out" && grep -q 'answered' "$work/retry.out" &&
  [ $((done_ - up)) -lt 7000 ]; then ok; else
  bad "recovery: rc=$rc, $((done_ - up)) ms after the verifier came up: $(cat "$work/retry.out")"; fi

# 2. TLS failures are not retried: each ends well before --timeout 20s.
ping --ca "$work/other-ca.pem" --timeout 20s
expect_fail "wrong --ca" '^rattest-bootstrap ping: Ping: TLS with the verifier at localhost:[0-9]+ failed \(UNAVAILABLE: .*certificate verify failed.*\): check --ca' 5000
if grep -q 'retrying' "$work/out"; then bad "wrong --ca was retried: $(cat "$work/out")"; else ok; fi
# 2b. A refusal names the call and its status and code, and is not retried.
ping --ca "$work/pki/tls-ca.pem" --timeout 20s --message "$(printf '%01100d' 0)"
expect_fail "refused ping" '^rattest-bootstrap ping: the verifier refused Ping: INVALID_ARGUMENT PING_TOO_LONG: ' 5000

# 3. A certificate from the right CA for another name (the last verifier
# of this test: its PKI is changed for it).
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=elsewhere \
  -keyout "$work/elsewhere.key" -out "$work/elsewhere.csr" 2> /dev/null
openssl x509 -req -in "$work/elsewhere.csr" -CA "$work/pki/tls-ca.pem" -CAkey "$work/pki/tls-ca.key" \
  -days 1 -extfile <(echo subjectAltName=DNS:elsewhere.example) -out "$work/elsewhere.pem" 2> /dev/null
cat "$work/elsewhere.pem" "$work/pki/tls-ca.pem" > "$work/pki/server-chain.pem"
cp "$work/elsewhere.key" "$work/pki/server.key"
start_verifier
ping --ca "$work/pki/tls-ca.pem" --timeout 20s
expect_fail "certificate for another name" \
  'Ping: the verifier at localhost:[0-9]+ has a certificate for another name \(.*Peer name localhost.*\): check --verifier' 5000

# 4. Nothing listens: retried until --timeout, then "could not reach".
stop_verifier
ping --ca "$work/pki/tls-ca.pem" --timeout 2s
expect_fail "unreachable" \
  '^rattest-bootstrap ping: Ping: could not reach the verifier at localhost:[0-9]+ \(UNAVAILABLE: .*Connection refused\): check --verifier' 4000
if [ "$took" -ge 1500 ] && grep -q 'retrying in' "$work/out"; then ok; else
  bad "unreachable: not retried until --timeout (${took} ms): $(cat "$work/out")"; fi

finish test_client_retry.sh
