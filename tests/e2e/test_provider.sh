#!/usr/bin/env bash
# The rattest OpenSSL provider on swtpm, with real enrolled identities (the
# verifier + rattest-bootstrap enroll, an EC P-256 and an RSA-2048 key):
# `openssl s_server` with the default provider, demanding a client
# certificate from the issuing CA, must answer HTTP 200 to `openssl
# s_client -provider rattest` using rattest:NAME or the TSS2 key file.
# Success is the server's answer, never the client's own report (a TLS 1.3
# client believes it is done before the server checked its certificate).
# rattest as the server side, answering a default-provider s_client, and
# curl when the policy's server_auth gave the certificate serverAuth. TPM
# commands per handshake counted with the pcap TCTI; 40 handshakes in a row.
# Then the refusals: another identity's key with this cert, bad key files
# (PEM and DER, wrong parent, another TPM's key), unknown names, a missing
# state dir, a cert that does not match the key, no TPM configured at all.
# Usage (under with-swtpm): test_provider.sh BUILD_DIR
set -uo pipefail
build=${1:?usage: test_provider.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
V="$build/bin/rattest-verifier"
B="$build/bin/rattest-bootstrap"
LOG="$src/tests/data/eventlogs/arch-linux-workstation/arch-linux-workstation.bin"
work=$(mktemp -d)
vpid="" spid="" rpid=""
cleanup() {
  for p in $rpid $spid $vpid; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/provider.sh"
# openssl with our module; under ASan the uninstrumented binary needs the
# runtime preloaded to load the instrumented provider.
ossl() {
  if [ -n "${RATTEST_PRELOAD:-}" ]; then
    LD_PRELOAD="$RATTEST_PRELOAD" ASAN_OPTIONS=detect_leaks=0 openssl "$@"
  else
    openssl "$@"
  fi
}
PRELOAD=()
[ -n "${RATTEST_PRELOAD:-}" ] && PRELOAD=(env LD_PRELOAD="$RATTEST_PRELOAD" ASAN_OPTIONS=detect_leaks=0)
OSSL=("${PRELOAD[@]}" openssl)
export OPENSSL_MODULES="$build/lib"

"$src/certs/mkpki" "$work/pki" > /dev/null
"$src/certs/mkpki" "$work/other-pki" > /dev/null
"$build/tests/rt_log_extend" "$LOG" > /dev/null

"$V" serve --listen 127.0.0.1:0 --tls-cert "$work/pki/server-chain.pem" \
  --tls-key "$work/pki/server.key" --issuer-cert "$work/pki/issuer-chain.pem" \
  --issuer-key "$work/pki/issuer.key" --port-file "$work/port" --ek-ca "$RATTEST_EK_CA_BUNDLE" \
  > "$work/audit.log" 2> "$work/verifier.log" &
vpid=$!
for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || { cat "$work/verifier.log" >&2; exit 1; }
vport=$(cat "$work/port")
enroll() { # DIR ALG HANDLE
  "$B" enroll --verifier "localhost:$vport" --ca "$work/pki/tls-ca.pem" --state-dir "$1" \
    --key-alg "$2" --handle "$3" --ek rsa --event-log "$LOG" --timeout 30s > "$work/enroll.log" 2>&1 \
    || { cat "$work/enroll.log" >&2; exit 1; }
}
# field DIR KEY [IDENTITY]: a path of the state file's identity ("default").
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/state.json"))["identities"][sys.argv[3]][sys.argv[2]])' "$1" "$2" "${3:-default}"; }
EC="$work/ec" RSA="$work/rsa"
mkdir -p "$EC" "$RSA"
enroll "$EC" ecc-p256 0x81000100
enroll "$RSA" rsa-2048 0x81000101
kill "$vpid"; wait "$vpid" 2>/dev/null; vpid=""
for d in EC RSA; do
  dir=${!d}
  ln -s "$(field "$dir" key_file)" "$dir/default.key.pem"
  ln -s "$(field "$dir" cert_file)" "$dir/default.cert.pem"
done

# The server trusts the issuing CA (intermediate + root).
cat "$work/pki/issuer-chain.pem" "$work/pki/issuer-root.pem" > "$work/clientca.pem"
sport=""
start_server() { # [extra s_server args]
  for p in $spid; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  for _ in $(seq 20); do
    sport=$((20000 + RANDOM % 20000))
    # Emptied here, not by the background redirection, which may run after
    # the grep below and let it read the last server's ACCEPT.
    : > "$work/server.log"
    openssl s_server -accept "127.0.0.1:$sport" -www -Verify 1 -verify_return_error \
      -CAfile "$work/clientca.pem" -cert "$work/pki/server-chain.pem" -key "$work/pki/server.key" \
      "$@" > "$work/server.log" 2>&1 &
    spid=$!
    for _ in $(seq 50); do
      grep -q ACCEPT "$work/server.log" && return 0
      kill -0 "$spid" 2>/dev/null || break
      sleep 0.05
    done
    wait "$spid" 2>/dev/null; spid=""
  done
  echo "s_server did not start" >&2; exit 1
}
# client STATE_DIR TLSVERSION ARGS... : prints the server's answer
client() {
  local dir=$1 ver=$2; shift 2
  printf 'GET / HTTP/1.0\r\n\r\n' | RATTEST_STATE_DIR="$dir" timeout 30 "${OSSL[@]}" s_client -quiet \
    -connect "127.0.0.1:$sport" "$ver" -CAfile "$work/pki/tls-ca.pem" "$@" 2>&1
}
expect_200() { # WHAT DIR TLSVERSION ARGS...
  local what=$1; shift
  if client "$@" > "$work/client.out" && grep -qi '200 ok' "$work/client.out"; then ok; else
    bad "$what: $(grep -v "^depth\|^verify return\|^DONE\|servername" "$work/client.out" | head -c 600) server: $(tail -n 3 "$work/server.log")"; fi
}
expect_refused() { # WHAT PATTERN DIR TLSVERSION ARGS...
  local what=$1 pattern=$2; shift 2
  client "$@" > "$work/client.out"
  if grep -qi '200 ok' "$work/client.out"; then bad "$what: the server accepted";
  elif ! grep -qiE "$pattern" "$work/client.out"; then bad "$what: no '$pattern' in: $(head -c 800 "$work/client.out")";
  else ok; fi
}

start_server
for ver in -tls1_3 -tls1_2; do
  for kind in EC RSA; do
    dir=${!kind}
    expect_200 "$kind $ver rattest:default, rattest first" "$dir" $ver \
      -provider rattest -provider default -key rattest:default -cert rattest:default
    expect_200 "$kind $ver rattest:default, default first" "$dir" $ver \
      -provider default -provider rattest -key rattest:default -cert rattest:default
    expect_200 "$kind $ver TSS2 key file, rattest first" "$dir" $ver \
      -provider rattest -provider default -key "$dir/default.key.pem" -cert "$dir/default.cert.pem"
    expect_200 "$kind $ver TSS2 key file, default first" "$dir" $ver \
      -provider default -provider rattest -key "$dir/default.key.pem" -cert "$dir/default.cert.pem"
    expect_200 "$kind $ver rattest:handle" "$dir" $ver -provider rattest -provider default \
      -key "rattest:handle:$([ $kind = EC ] && echo 0x81000100 || echo 0x81000101)" \
      -cert "$dir/default.cert.pem"
  done
done
# RSA under TLS 1.3 is PSS with salt = digest length; force each PSS and
# PKCS#1 signature scheme the server accepts.
expect_200 "RSA TLS 1.3 rsa_pss_rsae_sha384" "$RSA" -tls1_3 -provider rattest -provider default \
  -key rattest:default -cert rattest:default -client_sigalgs rsa_pss_rsae_sha384
expect_200 "RSA TLS 1.2 rsa_pkcs1_sha256" "$RSA" -tls1_2 -provider rattest -provider default \
  -key rattest:default -cert rattest:default -client_sigalgs rsa_pkcs1_sha256
expect_200 "EC TLS 1.2 ecdsa_secp256r1_sha256" "$EC" -tls1_2 -provider rattest -provider default \
  -key rattest:default -cert rattest:default -client_sigalgs ECDSA+SHA256

# curl (Debian's 7.88) with an openssl.cnf that only activates default and
# rattest (no default_properties), the TSS2 key file and the certificate.
write_provider_cnf "$work/curl.cnf"
# Under ASan, curl with the ASan runtime preloaded hangs in its first
# setlocale() before any TLS code runs (even `curl --version`), so curl is
# exercised in the normal build only.
if [ -z "${RATTEST_PRELOAD:-}" ]; then
  for kind in EC RSA; do
    dir=${!kind}
    for ver in --tlsv1.3 "--tlsv1.2 --tls-max 1.2"; do
      # shellcheck disable=SC2086
      if OPENSSL_CONF="$work/curl.cnf" timeout 30 curl -sS --retry 3 --retry-connrefused --retry-delay 1 $ver --cacert "$work/pki/tls-ca.pem" \
          --cert "$dir/default.cert.pem" --key "$dir/default.key.pem" "https://127.0.0.1:$sport/" \
          > "$work/curl.out" 2>&1 && grep -qi "s_server" "$work/curl.out"; then ok
      else bad "curl $kind $ver: $(head -c 600 "$work/curl.out") server: $(tail -n 3 "$work/server.log")"; fi
    done
  done
fi
# --- rattest as the server side ------------------------------------------
# `s_server -provider rattest` with the TPM key and the enrolled certificate;
# the client is plain `openssl s_client` (default provider only) trusting the
# issuing CA, with -verify_return_error so a certificate that does not chain
# or does not match the key in the TPM ends the handshake. The enrolled
# certificate's profile is the verifier's: EKU clientAuth only, so a client
# checking the purpose (libssl's default, "sslserver") refuses it; the
# success cases pass `-purpose any` and a refusal case proves that the
# purpose check, not something else, is what a default client trips over.
# Success is the HTTP answer of `s_server -www`, i.e. the server signed its
# CertificateVerify in the TPM and the client accepted it.
# The server serves a fixed number of connections (-naccept) and exits on
# its own: killed by a signal it could not flush its loaded key, which
# without a resource manager would stay in the TPM.
rport=""
start_rserver() { # N DIR ARGS...: s_server with rattest on $rport for N connections
  local n=$1 dir=$2; shift 2
  stop_rserver
  for _ in $(seq 20); do
    rport=$((20000 + RANDOM % 20000))
    : > "$work/rserver.log" # not by the background redirection: see start_server
    RATTEST_STATE_DIR="$dir" "${OSSL[@]}" s_server -accept "127.0.0.1:$rport" -www -naccept "$n" \
      -provider rattest -provider default "$@" > "$work/rserver.log" 2>&1 &
    rpid=$!
    for _ in $(seq 100); do
      grep -q ACCEPT "$work/rserver.log" && return 0
      kill -0 "$rpid" 2>/dev/null || break
      sleep 0.05
    done
    kill "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null; rpid=""
    grep -q "in use" "$work/rserver.log" || break
  done
  bad "rattest s_server did not start: $(head -c 600 "$work/rserver.log")"
  return 1
}
# Waits for the server to exit after its connections (it flushes its key
# file then), so the transient check below sees its balance.
stop_rserver() {
  [ -n "$rpid" ] || return 0
  for _ in $(seq 200); do kill -0 "$rpid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$rpid" 2>/dev/null; then
    bad "rattest s_server did not exit after its connections"
    kill "$rpid" 2>/dev/null
  fi
  wait "$rpid" 2>/dev/null
  rpid=""
}
rclient() { # TLSVERSION ARGS...: default-provider s_client, prints the answer
  local ver=$1; shift
  printf 'GET / HTTP/1.0\r\n\r\n' | timeout 30 openssl s_client -quiet -connect "127.0.0.1:$rport" \
    "$ver" -verify_return_error "$@" 2>&1
}
rexpect_200() { # WHAT TLSVERSION ARGS...
  local what=$1; shift
  if rclient "$@" > "$work/rclient.out" && grep -qi '200 ok' "$work/rclient.out"; then ok; else
    bad "server side, $what: $(head -c 600 "$work/rclient.out") server: $(tail -n 3 "$work/rserver.log")"; fi
}
rexpect_refused() { # WHAT PATTERN TLSVERSION ARGS...
  local what=$1 pattern=$2; shift 2
  rclient "$@" > "$work/rclient.out"
  if grep -qi "200 ok" "$work/rclient.out"; then bad "server side, $what: the client accepted: $(head -c 900 "$work/rclient.out")";
  elif ! grep -qiE "$pattern" "$work/rclient.out"; then bad "server side, $what: no '$pattern' in: $(head -c 600 "$work/rclient.out")";
  else ok; fi
}
for kind in EC RSA; do
  dir=${!kind}
  if start_rserver 4 "$dir" -key rattest:default -cert rattest:default; then
    for ver in -tls1_3 -tls1_2; do
      rexpect_200 "$kind $ver rattest:default" $ver -CAfile "$work/clientca.pem" -purpose any
    done
    rexpect_refused "$kind clientAuth-only cert, default purpose" "verify error:num=26:unsuitable certificate purpose" \
      -tls1_3 -CAfile "$work/clientca.pem"
    rexpect_refused "$kind another CA" "verify error:num=20:unable to get local issuer" -tls1_3 \
      -CAfile "$work/other-pki/tls-ca.pem" -purpose any
  fi
  if start_rserver 1 "$dir" -key "$dir/default.key.pem" -cert "$dir/default.cert.pem"; then
    rexpect_200 "$kind TLS 1.3 TSS2 key file" -tls1_3 -CAfile "$work/clientca.pem" -purpose any
  fi
done
# A process that loads a key file twice (s_server's -key, and -key2 for
# SNI -servername) makes the SRK once: the second load loads the context
# saved at the first (provider.md), and everything is flushed at exit.
rm -f "$work/srk2.pcap"
if RATTEST_TCTI="pcap:$RATTEST_TCTI" TCTI_PCAP_FILE="$work/srk2.pcap" start_rserver 1 "$EC" \
  -key "$EC/default.key.pem" -cert "$EC/default.cert.pem" \
  -servername two.test -key2 "$EC/default.key.pem" -cert2 "$EC/default.cert.pem"; then
  rexpect_200 "EC key file loaded twice" -tls1_3 -CAfile "$work/clientca.pem" -purpose any
  stop_rserver
  python3 "$src/tests/tools/tpm_pcap_count.py" "$work/srk2.pcap" > "$work/srk2.count" 2>&1
  all=$(sed -n 's/^all: //p' "$work/srk2.count")
  n() { echo "$all" | tr ' ' '\n' | grep -cx "$1" || true; }
  got="$(n CreatePrimary) $(n ContextSave) $(n ContextLoad) $(n Load)"
  if [ "$got" = "1 1 1 2" ] && grep -qx 'objects-left: 0' "$work/srk2.count"; then ok; else
    bad "two key-file loads: CreatePrimary ContextSave ContextLoad Load = $got, want 1 1 1 2; $(grep objects-left "$work/srk2.count")"; fi
fi
# RSA server under TLS 1.3 = PSS with salt = digest length, forced SHA-384.
if start_rserver 1 "$RSA" -provider default -key rattest:default -cert rattest:default; then
  rexpect_200 "RSA TLS 1.3 rsa_pss_rsae_sha384, default provider twice" -tls1_3 \
    -CAfile "$work/clientca.pem" -purpose any -sigalgs rsa_pss_rsae_sha384
fi
stop_rserver
# With the policy's "server_auth", the certificate serves TLS servers too:
# curl, which checks the purpose and the host name (from the policy's
# dns_sans), gets its answer from `s_server -provider rattest`.
cat > "$work/server-policy.json" <<'JSON'
{"server_auth": true, "dns_sans": ["{name}.rattest.test"]}
JSON
rm -f "$work/port"
"$V" serve --listen 127.0.0.1:0 --tls-cert "$work/pki/server-chain.pem" \
  --tls-key "$work/pki/server.key" --issuer-cert "$work/pki/issuer-chain.pem" \
  --issuer-key "$work/pki/issuer.key" --port-file "$work/port" --ek-ca "$RATTEST_EK_CA_BUNDLE" \
  --policy "$work/server-policy.json" > "$work/audit2.log" 2> "$work/verifier2.log" &
vpid=$!
for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.05; done
vport=$(cat "$work/port")
WEB="$work/web"
mkdir -p "$WEB"
"$B" enroll --verifier "localhost:$vport" --ca "$work/pki/tls-ca.pem" --state-dir "$WEB" --name web \
  --key-alg ecc-p256 --handle 0x81000103 --ek rsa --event-log "$LOG" --timeout 30s \
  > "$work/enroll.log" 2>&1 || { cat "$work/enroll.log" >&2; exit 1; }
kill "$vpid"; wait "$vpid" 2>/dev/null; vpid=""
if start_rserver 1 "$WEB" -key rattest:web -cert rattest:web; then
  # A loaded machine once refused the first connect "after ACCEPT": the
  # ACCEPT was the previous server's, read before the new log was emptied
  # (fixed in start_rserver). curl still retries refused connects only.
  code=$(timeout 30 curl -sS --retry 3 --retry-connrefused --retry-delay 1 -o /dev/null -w '%{http_code}' --resolve "web.rattest.test:$rport:127.0.0.1" \
    --cacert "$work/clientca.pem" "https://web.rattest.test:$rport/" 2>&1 || true)
  if [ "$code" = 200 ]; then ok; else bad "curl to the rattest server: $code $(tail -n 3 "$work/rserver.log")"; fi
fi
stop_rserver

# nginx (Debian's 1.22) with an openssl.cnf activating default and rattest:
# the master loads the TSS2 key file, then forks two workers that sign every
# handshake through the master's TPM connection (provider/tpmconn.c). They
# demand a client certificate from the issuing CA; the client is s_client
# with its own TPM key, so both ends sign in the TPM. Each answer names the
# worker that served it (listen ... reuseport spreads connections over the
# workers), so the check proves forked workers signed.
ngx="$work/nginx"
mkdir -p "$ngx"
# nginx wants the certificate followed by its chain in one file.
cat "$(field "$WEB" cert_file web)" "$(field "$WEB" chain_file web)" > "$ngx/fullchain.pem"
nginx_pid=""
for _ in $(seq 20); do
  nport=$((20000 + RANDOM % 20000))
  cat > "$ngx/nginx.conf" <<NGINX
daemon off;
master_process on;
worker_processes 2;
pid $ngx/nginx.pid;
error_log $ngx/error.log info;
events { worker_connections 64; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$nport ssl reuseport;
    server_name web.rattest.test;
    ssl_certificate $ngx/fullchain.pem;
    ssl_certificate_key $(field "$WEB" key_file web);
    ssl_client_certificate $work/clientca.pem;
    ssl_verify_client on;
    location / { return 200 "worker \$pid client \$ssl_client_verify\n"; }
  }
}
NGINX
  : > "$ngx/error.log" # a port taken in an earlier try is not this run's error
  OPENSSL_CONF="$work/curl.cnf" "${PRELOAD[@]}" nginx -p "$ngx/" -e "$ngx/error.log" \
    -c "$ngx/nginx.conf" > "$ngx/stdout.log" 2>&1 &
  nginx_pid=$!
  for _ in $(seq 100); do
    [ "$(pgrep -c -P "$nginx_pid" 2>/dev/null)" = 2 ] && break
    kill -0 "$nginx_pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$nginx_pid" 2>/dev/null && break
  wait "$nginx_pid" 2>/dev/null; nginx_pid=""
  grep -q "in use" "$ngx/error.log" || break
done
if [ -n "$nginx_pid" ]; then
  : > "$ngx/answers"
  for _ in $(seq 16); do
    printf 'GET / HTTP/1.0\r\nHost: web.rattest.test\r\n\r\n' | timeout 30 "${OSSL[@]}" s_client -quiet \
      -connect "127.0.0.1:$nport" -servername web.rattest.test -verify_return_error \
      -CAfile "$work/clientca.pem" -provider rattest -provider default \
      -key "$EC/default.key.pem" -cert "$EC/default.cert.pem" >> "$ngx/answers" 2>&1
  done
  n200=$(grep -c "client SUCCESS" "$ngx/answers")
  workers=$(sed -n 's/^worker \([0-9]*\) client SUCCESS$/\1/p' "$ngx/answers" | sort -u | wc -l)
  if [ "$n200" = 16 ]; then ok; else bad "nginx answered $n200 of 16 mTLS requests: $(head -c 600 "$ngx/answers") $(tail -n 5 "$ngx/error.log")"; fi
  if [ "$workers" = 2 ]; then ok; else bad "nginx: $workers worker(s) served the 16 requests, expected 2"; fi
  kill -QUIT "$nginx_pid"
  for _ in $(seq 200); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.05; done
  wait "$nginx_pid" 2>/dev/null
  if grep -qE "\[(alert|emerg|crit)\]" "$ngx/error.log"; then bad "nginx: $(grep -E "alert|emerg|crit" "$ngx/error.log" | head -n 3)"; else ok; fi
else
  bad "nginx did not start: $(tail -n 5 "$ngx/error.log" "$ngx/stdout.log" 2>/dev/null)"
fi

# The servers with the key file flushed it on exit (nginx: its master).
if [ "$RATTEST_TPM_MODE" = direct ]; then
  n=$(tpm2_getcap handles-transient 2>/dev/null | grep -c 0x || true)
  if [ "$n" = 0 ]; then ok; else bad "$n transient objects left by the rattest servers"; fi
fi

# 40 handshakes in a row with the key file, one s_client process each:
# every process loads its key and flushes it, so nothing is left in the
# TPM. A process leaving one object would exhaust swtpm's 3 object slots
# by the fourth handshake, so 40 catch it many times over. Behind
# tpm2-abrmd transient objects belong to a connection and tpm2_getcap (its
# own connection) never sees another's, so there the per-process balance
# is checked from the command capture below instead.
n_seq=40
n_ok=0
t0=$(date +%s.%N)
for _ in $(seq $n_seq); do
  if client "$EC" -tls1_3 -provider rattest -provider default -key "$EC/default.key.pem" \
      -cert "$EC/default.cert.pem" | grep -qi '200 ok'; then n_ok=$((n_ok + 1)); fi
done
t1=$(date +%s.%N)
if [ "$n_ok" = $n_seq ]; then ok; else bad "only $n_ok of $n_seq sequential handshakes"; fi
echo "$n_seq sequential handshakes (s_client processes, EC key file): $(python3 -c "import sys; t=float(sys.argv[2])-float(sys.argv[1]); print(f'{t:.1f} s, {1000*t/int(sys.argv[3]):.0f} ms each')" "$t0" "$t1" $n_seq)"
if [ "$RATTEST_TPM_MODE" = direct ]; then
  n=$(tpm2_getcap handles-transient 2>/dev/null | grep -c 0x || true)
  if [ "$n" = 0 ]; then ok; else bad "$n transient objects left after $n_seq handshakes"; fi
fi

# TPM commands counted with tpm2-tss's pcap TCTI wrapped around ours
# (TCTI_PCAP_FILE names the capture; tests/tools/tpm_pcap_count.py reads it).
# After TPM2_Load come the SRK's flush (right after the load, see
# provider.md), then exactly one TPM command per handshake: the signature
# (TPM2_Sign, or TPM2_RSA_Decrypt for PSS), then the key's flush at exit.
# A process that loads the key once and signs N times sends N
# signing commands after the load and nothing else but the flush.
# pcap_run NAME CMD...: runs CMD with the pcap TCTI, leaves the count in
# $work/NAME.count.
pcap_run() {
  local name=$1; shift
  rm -f "$work/$name.pcap"
  RATTEST_TCTI="pcap:$RATTEST_TCTI" TCTI_PCAP_FILE="$work/$name.pcap" "$@" > "$work/$name.out" 2>&1
  python3 "$src/tests/tools/tpm_pcap_count.py" "$work/$name.pcap" > "$work/$name.count" 2>&1
}
# expect_after_load WHAT NAME EXPECTED: the commands after the key's load.
expect_after_load() {
  local got
  got=$(sed -n 's/^after-load: //p' "$work/$2.count")
  if [ "$got" = "$3" ] && grep -qx 'objects-left: 0' "$work/$2.count"; then ok; else
    bad "$1: after the load '$got', expected '$3'; $(grep objects-left "$work/$2.count") $(head -c 300 "$work/$2.out")"; fi
}
hs() { # NAME KIND TLSVERSION [ARGS]: one handshake with the pcap TCTI
  local name=$1 dir=${!2} ver=$3; shift 3
  pcap_run "$name" client "$dir" "$ver" -provider rattest -provider default \
    -key "$dir/default.key.pem" -cert "$dir/default.cert.pem" "$@"
  grep -qi '200 ok' "$work/$name.out" || bad "$name: no HTTP 200: $(head -c 300 "$work/$name.out")"
}
hs hs_ec13 EC -tls1_3
expect_after_load "EC TLS 1.3 handshake" hs_ec13 "FlushContext Sign FlushContext"
hs hs_rsa13 RSA -tls1_3
expect_after_load "RSA TLS 1.3 handshake (PSS)" hs_rsa13 "FlushContext RSA_Decrypt FlushContext"
hs hs_rsa12 RSA -tls1_2 -client_sigalgs rsa_pkcs1_sha256
expect_after_load "RSA TLS 1.2 handshake (PKCS#1)" hs_rsa12 "FlushContext Sign FlushContext"
echo "TPM commands of one s_client handshake with the EC key file: $(sed -n 's/^all: //p' "$work/hs_ec13.count")"
# A persistent key (rattest:default) is opened, not loaded: ESYS reads its
# public area (TPM2_ReadPublic), which also gives the key's public part: one
# ReadPublic per opening of the store (here two: -key and -cert), none
# again; the handshake then signs once; nothing to flush.
pcap_run hs_uri client "$EC" -tls1_3 -provider rattest -provider default -key rattest:default \
  -cert rattest:default
all=$(sed -n 's/^all: //p' "$work/hs_uri.count")
n_rp=$(echo "$all" | tr ' ' '\n' | grep -cx ReadPublic || true)
if grep -qi '200 ok' "$work/hs_uri.out" && [ "${all##*ReadPublic }" = "Sign" ] && [ "$n_rp" = 2 ]; then ok
else bad "rattest:default handshake: TPM commands '$all', expected two ReadPublic, then one Sign"; fi
echo "TPM commands of one s_client handshake with rattest:default: $all"
# 8 threads x 50 signatures on one loaded key: 400 TPM2_Sign after the load.
pcap_run stress_pcap env RATTEST_STATE_DIR="$EC" timeout 120 "$build/tests/test_provider_stress" \
  "$build/lib" "$EC/default.key.pem"
expect_after_load "400 signatures after one load" stress_pcap "FlushContext $(printf 'Sign %.0s' $(seq 400))FlushContext"
echo "TPM commands of test_provider_stress (1 load, 400 signatures): $(sed -n 's/^all: //p' "$work/stress_pcap.count" | tr ' ' '\n' | sort | uniq -c | tr -s ' \n' ' ')"

# A wrong key: another identity's key with this certificate. The client
# refuses to pair them (key values mismatch) or the server refuses.
expect_refused "EC cert with the RSA key" "does not match|mismatch|alert" "$EC" -tls1_3 \
  -provider rattest -provider default -key rattest:handle:0x81000101 -cert "$EC/default.cert.pem"
# Same algorithm, other key: make a second EC identity.
"$V" serve --listen 127.0.0.1:0 --tls-cert "$work/pki/server-chain.pem" \
  --tls-key "$work/pki/server.key" --issuer-cert "$work/pki/issuer-chain.pem" \
  --issuer-key "$work/pki/issuer.key" --port-file "$work/port2" --ek-ca "$RATTEST_EK_CA_BUNDLE" \
  > /dev/null 2>&1 &
vpid=$!
for _ in $(seq 200); do [ -s "$work/port2" ] && break; sleep 0.05; done
vport=$(cat "$work/port2")
EC2="$work/ec2"
mkdir -p "$EC2"
enroll "$EC2" ecc-p256 0x81000102
ln -s "$(field "$EC2" key_file)" "$EC2/default.key.pem"
ln -s "$(field "$EC2" cert_file)" "$EC2/default.cert.pem"
kill "$vpid"; wait "$vpid" 2>/dev/null; vpid=""
expect_refused "EC cert with another EC key" "mismatch|error|alert" "$EC" -tls1_3 \
  -provider rattest -provider default -key rattest:handle:0x81000102 -cert "$EC/default.cert.pem"
expect_refused "EC cert with another identity's key file" "does not match|mismatch|alert" "$EC" -tls1_3 \
  -provider rattest -provider default -key "$EC2/default.key.pem" -cert "$EC/default.cert.pem"
expect_refused "EC cert with another EC key, default first" "mismatch|error|alert" "$EC" -tls1_2 \
  -provider default -provider rattest -key rattest:handle:0x81000102 -cert "$EC/default.cert.pem"
# A certificate from another CA with a valid key pair: the server refuses.
expect_refused "cert of an untrusted CA" "alert|error" "$EC" -tls1_3 \
  -provider default -key "$work/other-pki/server.key" -cert "$work/other-pki/server.pem"

# --- bad inputs: clear errors, no crash ---------------------------------
# pkey_fail WHAT PATTERN DIR ARGS...: `openssl pkey` must fail (not crash)
# with PATTERN in its output.
pkey_fail() {
  local what=$1 pattern=$2 dir=$3; shift 3
  RATTEST_STATE_DIR="$dir" ossl pkey -provider rattest -provider default "$@" -noout \
    > "$work/pkey.out" 2>&1
  local rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && grep -qiE "$pattern" "$work/pkey.out"; then ok; else
    bad "$what: rc=$rc $(head -c 800 "$work/pkey.out")"; fi
}
head -c 200 "$EC/default.key.pem" > "$work/truncated.pem"
pkey_fail "truncated TSS2 PEM" "Could not read|unsupported|decoder|malformed|TSS2" "$EC" -in "$work/truncated.pem"
{ echo '-----BEGIN TSS2 PRIVATE KEY-----'; echo 'AAAAgarbage////'; echo '-----END TSS2 PRIVATE KEY-----'; } > "$work/garbage.pem"
pkey_fail "garbage TSS2 PEM" "malformed|TSS2|Could not read|unsupported" "$EC" -in "$work/garbage.pem"
# A well-formed PEM of garbage DER: our decoder names the field.
python3 - "$EC/default.key.pem" "$work/flipped.pem" <<'PY'
import base64, sys
lines = open(sys.argv[1]).read().split("\n")
der = bytearray(base64.b64decode("".join(l for l in lines if l and not l.startswith("-----"))))
der = der[:len(der) - 10]
b = base64.b64encode(bytes(der)).decode()
open(sys.argv[2], "w").write("-----BEGIN TSS2 PRIVATE KEY-----\n" + "\n".join(b[i:i+64] for i in range(0, len(b), 64)) + "\n-----END TSS2 PRIVATE KEY-----\n")
PY
pkey_fail "TSS2 key with a cut DER body" "TSS2 PRIVATE KEY: not a TSS2 private key" "$EC" -in "$work/flipped.pem"
openssl pkey -in "$EC/default.key.pem" -outform der -out "$work/key.der" 2>/dev/null ||
  python3 -c 'import base64,sys; l=open(sys.argv[1]).read().split("\n"); open(sys.argv[2],"wb").write(base64.b64decode("".join(x for x in l if x and not x.startswith("-----"))))' \
    "$EC/default.key.pem" "$work/key.der"
# The raw DER form of the key file loads like the PEM, signs, and serves
# as s_client's -key.
if RATTEST_STATE_DIR="$EC" ossl pkey -provider rattest -provider default -in "$work/key.der" \
    -pubout > "$work/pub.pem" 2> "$work/pkey.out" &&
   [ "$(cat "$work/pub.pem")" = "$(openssl x509 -in "$EC/default.cert.pem" -pubkey -noout)" ]; then ok
else bad "DER key file pkey -pubout: $(cat "$work/pkey.out")"; fi
for order in "-provider rattest -provider default" "-provider default -provider rattest"; do
  # shellcheck disable=SC2086
  expect_200 "DER key file, $order" "$EC" -tls1_3 $order -key "$work/key.der" \
    -cert "$EC/default.cert.pem"
done
expect_200 "DER key file, -keyform DER, TLS 1.2" "$EC" -tls1_2 -provider rattest -provider default \
  -key "$work/key.der" -keyform DER -cert "$EC/default.cert.pem"
head -c 100 "$work/key.der" > "$work/cut.der"
pkey_fail "cut DER key file" "TSS2 PRIVATE KEY: not a TSS2 private key" "$EC" -in "$work/cut.der"
# Wrong parent: the key file names persistent handle 0x81000009 (absent) as
# its parent, written as the draft's sign-extended negative INTEGER (same
# length as 0x40000001's encoding).
python3 - "$work/key.der" "$work/wrong-parent.der" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
i = d.find(bytes([2, 4, 0x40, 0, 0, 1]))
assert i > 0, "no parent 0x40000001 in the key file"
d[i:i + 6] = bytes([2, 4, 0x81, 0, 0, 9])
open(sys.argv[2], "wb").write(d)
PY
pkey_fail "key file with parent 0x81000009" "parent 0x81000009: only 0x40000001" "$EC" -in "$work/wrong-parent.der"
expect_refused "s_client with the wrong-parent key file" "parent 0x81000009" "$EC" -tls1_3 \
  -provider rattest -provider default -key "$work/wrong-parent.der" -cert "$EC/default.cert.pem"
pkey_fail "unknown identity" "no identity of that name" "$EC" -in rattest:nosuch
pkey_fail "invalid identity name" "rattest:bad/name" "$EC" -in rattest:bad/name
# The provider's errors are named: library "rattest", the rt_code as reason
# (its reason strings), and where they were raised.
pkey_fail "provider error with reason string" "error:[0-9A-F]+:rattest:[a-z_]+:invalid:provider/store\.c:" \
  "$EC" -in rattest:bad/name
pkey_fail "missing state dir" "no identity of that name|state directory" "$work/missing" -in rattest:default
pkey_fail "not a persistent handle" "not a persistent handle" "$EC" -in rattest:handle:0x40000001
pkey_fail "absent persistent handle" "persistent key 0x81000123" "$EC" -in rattest:handle:0x81000123
# A state entry whose certificate is another key's.
cp -a "$EC" "$work/mixed"
sed -i "s#\"$EC/#\"$work/mixed/#g" "$work/mixed/state.json"
cp "$EC2/default.cert.pem" "$(field "$work/mixed" cert_file)"
pkey_fail "cert not matching the key" "does not match the TPM key" "$work/mixed" -in rattest:default
# The state's cert file missing.
cp -a "$EC" "$work/nocert"
sed -i "s#\"$EC/#\"$work/nocert/#g" "$work/nocert/state.json"
rm "$(field "$work/nocert" cert_file)"
pkey_fail "missing cert file" "cannot read" "$work/nocert" -in rattest:default

# The public key: the encoder and the certificate agree.
for kind in EC RSA; do
  dir=${!kind}
  if RATTEST_STATE_DIR="$dir" ossl pkey -provider rattest -provider default -in rattest:default \
    -pubout > "$work/pub.pem" 2> "$work/pkey.out" &&
    [ "$(cat "$work/pub.pem")" = "$(openssl x509 -in "$dir/default.cert.pem" -pubkey -noout)" ]; then ok
  else bad "$kind pkey -pubout: $(cat "$work/pkey.out")"; fi
done
# Signatures with dgst/pkeyutl verify against the certificate.
echo "signed by rattest" > "$work/msg"
for kind in EC RSA; do
  dir=${!kind}
  openssl x509 -in "$dir/default.cert.pem" -pubkey -noout > "$work/pub.pem"
  if RATTEST_STATE_DIR="$dir" ossl dgst -provider rattest -provider default -sha256 \
      -sign rattest:default -out "$work/sig" "$work/msg" > "$work/dgst.out" 2>&1 &&
     openssl dgst -sha256 -verify "$work/pub.pem" -signature "$work/sig" "$work/msg" > /dev/null 2>&1; then ok
  else bad "$kind dgst -sign: $(cat "$work/dgst.out")"; fi
done
if RATTEST_STATE_DIR="$RSA" ossl dgst -provider rattest -provider default -sha256 \
    -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -sign rattest:default \
    -out "$work/sig" "$work/msg" > "$work/dgst.out" 2>&1 &&
   openssl x509 -in "$RSA/default.cert.pem" -pubkey -noout > "$work/pub.pem" &&
   openssl dgst -sha256 -verify "$work/pub.pem" -sigopt rsa_padding_mode:pss \
    -sigopt rsa_pss_saltlen:32 -signature "$work/sig" "$work/msg" > /dev/null 2>&1; then ok
else bad "RSA-PSS salt 32: $(cat "$work/dgst.out")"; fi
# Sign a precomputed digest (EVP_PKEY_sign, no digest_sign path).
openssl dgst -sha256 -binary "$work/msg" > "$work/msg.dgst"
for kind in EC RSA; do
  dir=${!kind}
  openssl x509 -in "$dir/default.cert.pem" -pubkey -noout > "$work/pub.pem"
  if RATTEST_STATE_DIR="$dir" ossl pkeyutl -provider rattest -provider default -sign \
      -inkey rattest:default -pkeyopt digest:sha256 -in "$work/msg.dgst" -out "$work/sig" \
      > "$work/pkeyutl.out" 2>&1 &&
     openssl pkeyutl -verify -pubin -inkey "$work/pub.pem" -pkeyopt digest:sha256 \
      -in "$work/msg.dgst" -sigfile "$work/sig" > /dev/null 2>&1; then ok
  else bad "$kind pkeyutl -sign of a digest: $(cat "$work/pkeyutl.out")"; fi
done
# openssl.cnf: the provider's state_dir and tcti parameters win over the
# environment (which points elsewhere here).
cat > "$work/openssl.cnf" <<CNF
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
rattest = rattest_sect
default = default_sect
[rattest_sect]
activate = 1
state_dir = $EC
tcti = $RATTEST_TCTI
[default_sect]
activate = 1
CNF
if OPENSSL_CONF="$work/openssl.cnf" RATTEST_STATE_DIR="$work/missing" RATTEST_TCTI="swtpm:host=127.0.0.1,port=1" \
    "${OSSL[@]}" pkey -in rattest:default -pubout > "$work/pub.pem" 2> "$work/pkey.out" &&
   [ "$(cat "$work/pub.pem")" = "$(openssl x509 -in "$EC/default.cert.pem" -pubkey -noout)" ]; then ok
else bad "openssl.cnf state_dir/tcti: $(cat "$work/pkey.out")"; fi
# A TCTI that does not answer: an error naming it, no crash.
if RATTEST_STATE_DIR="$EC" RATTEST_TCTI="swtpm:host=127.0.0.1,port=1" ossl pkey -provider rattest \
    -provider default -in rattest:default -pubout > "$work/pkey.out" 2>&1; then
  bad "unreachable TPM accepted"
elif grep -q "swtpm:host=127.0.0.1,port=1" "$work/pkey.out"; then ok
else bad "unreachable TPM: $(cat "$work/pkey.out")"; fi
# No TPM configured (no tcti, no RATTEST_TCTI) and no TPM device: one
# rattest error naming RATTEST_TCTI, and no GLib CRITICAL or tss ERROR lines
# from a default TCTI search. A machine with a TPM device cannot show it.
if [ -e /dev/tpmrm0 ] || [ -e /dev/tpm0 ]; then
  echo "skipped: no-TPM case (this machine has a TPM device)"
elif (unset RATTEST_TCTI; RATTEST_STATE_DIR="$EC" ossl pkey -provider rattest -provider default \
    -in rattest:default -pubout) > /dev/null 2> "$work/notpm.err"; then
  bad "no TPM accepted"
elif [ "$(grep -c ':rattest:' "$work/notpm.err")" = 1 ] &&
     grep -q 'no TPM: no TCTI is configured.*RATTEST_TCTI' "$work/notpm.err" &&
     ! grep -Eq 'CRITICAL|ERROR:|WARNING:' "$work/notpm.err"; then ok
else bad "no TPM: $(cat "$work/notpm.err")"; fi

# Interop: keys made by tpm2-openssl (genpkey -provider tpm2) load and sign
# here; tpm2-openssl's own view of the public key verifies the signature.
export TPM2OPENSSL_TCTI="$RATTEST_TCTI"
for alg in "EC -pkeyopt group:P-256" "RSA -pkeyopt bits:2048"; do
  name=${alg%% *}
  # shellcheck disable=SC2086
  # tpm2-openssl lives in OpenSSL's own modules dir, not in ours.
  if (unset OPENSSL_MODULES
      ossl genpkey -provider tpm2 -provider base -algorithm $alg -out "$work/t2.pem" &&
      ossl pkey -provider tpm2 -provider default -in "$work/t2.pem" -pubout -out "$work/t2pub.pem") \
       > "$work/t2.out" 2>&1 &&
     ossl dgst -provider rattest -provider default -sha256 -sign "$work/t2.pem" -out "$work/sig" \
       "$work/msg" >> "$work/t2.out" 2>&1 &&
     openssl dgst -sha256 -verify "$work/t2pub.pem" -signature "$work/sig" "$work/msg" > /dev/null 2>&1; then ok
  else bad "tpm2-openssl $name key signed by rattest: $(tail -n 5 "$work/t2.out")"; fi
done

# A key file of another TPM: a second swtpm, manufactured in a temp dir
# (in a subshell: the library exports its own TCTI variables), makes an EC
# key with tpm2-openssl. Its SRK has other seeds, so loading under ours
# fails with the TPM's integrity error, reported as such.
if (source "$src/tests/harness/swtpm-lib.sh" &&
    rt_tpm_manufacture "$work/tpm2" && rt_swtpm_start "$work/tpm2" || exit 1
    unset OPENSSL_MODULES
    TPM2OPENSSL_TCTI="$RATTEST_TCTI_DIRECT" ossl genpkey -provider tpm2 -provider base \
      -algorithm EC -pkeyopt group:P-256 -out "$work/other-tpm.pem"
    rc=$?
    rt_swtpm_stop "$work/tpm2"
    exit $rc) > "$work/tpm2.out" 2>&1; then
  pkey_fail "key file of another TPM" "key of another TPM" "$EC" -in "$work/other-tpm.pem"
  expect_refused "s_client with a key file of another TPM" "key of another TPM" "$EC" -tls1_3 \
    -provider rattest -provider default -key "$work/other-tpm.pem" -cert "$EC/default.cert.pem"
else bad "second TPM: $(tail -n 5 "$work/tpm2.out")"; fi

# Concurrency: 8 threads x 50 signatures on one key object, then 4 children
# forked after the load sign alongside the parent (by URI and by key file).
if RATTEST_STATE_DIR="$EC" timeout 120 "$build/tests/test_provider_stress" "$build/lib" rattest:default \
    --fork > "$work/stress.out" 2>&1; then ok
else bad "stress and fork: $(tail -n 5 "$work/stress.out")"; fi
if RATTEST_STATE_DIR="$RSA" timeout 120 "$build/tests/test_provider_stress" "$build/lib" "$RSA/default.key.pem" \
    --fork > "$work/stress.out" 2>&1; then ok
else bad "stress and fork, RSA key file: $(tail -n 5 "$work/stress.out")"; fi
# The shared connection's races: 20 children forked while a thread signs
# all sign; a child killed holding the lock makes every later use refused
# (3 checks, plus the key, its public part and the signing contexts).
if RATTEST_STATE_DIR="$EC" timeout 120 "$build/tests/test_provider_stress" "$build/lib" rattest:default \
    --hazards > "$work/stress.out" 2>&1 && grep -q "6 passed, 0 failed" "$work/stress.out"; then ok
else bad "fork hazards: $(tail -n 5 "$work/stress.out")"; fi

# No transient object left behind by any of the above.
n=$(tpm2_getcap handles-transient 2>/dev/null | grep -c 0x || true)
if [ "$n" = 0 ]; then ok; else bad "$n transient objects left"; fi

finish test_provider.sh
