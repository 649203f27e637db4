#!/usr/bin/env bash
# EK issuers fetched from AIA caIssuers URLs (`--ek-aia-fetch`), through
# `rattest-verifier ek-cert` (the service's own check) against a local
# "manufacturer" HTTP server the test starts (tests/tools/aia_server.py):
#   - an EK-like certificate made here, whose issuer is not in --ek-ca and
#     whose AIA names the server: refused without --ek-aia-fetch, accepted
#     with it (DER and PEM answers), cached 0600 under the SHA-256 of the
#     URL, and served from the cache once the server is down;
#   - a wrong answer (not a certificate, not a CA, a CA off the root's path),
#     an oversized one, a slow one, a 404, a redirect to https, no AIA: each
#     refused naming the URL and why.
# Usage: test_ek_aia.sh BUILD_DIR
set -euo pipefail
build=${1:?usage}
src=$(cd "$(dirname "$0")/../.." && pwd)
V="$build/bin/rattest-verifier"
work=$(mktemp -d)
spid=""
stop_server() { if [ -n "$spid" ]; then kill "$spid" 2> /dev/null || true; wait "$spid" 2> /dev/null || true; fi; spid=""; }
trap 'stop_server; rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"
export RT_TEST_OUT="$work/out"
cd "$work"
mkdir www cache

# --- The server and the certificates -----------------------------------------
python3 "$src/tests/tools/aia_server.py" "$work/www" "$work/port" &
spid=$!
for _ in $(seq 100); do [ -s port ] && break; sleep 0.05; done
url="http://127.0.0.1:$(cat port)"

ca() { # NAME SUBJECT [ISSUER]: a CA certificate NAME.pem, key NAME.key
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
    -subj "$2" -out "$1.csr" 2> /dev/null
  printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' > ca.ext
  if [ $# -eq 2 ]; then
    openssl x509 -req -in "$1.csr" -signkey "$1.key" -days 30 -extfile ca.ext -out "$1.pem" 2> /dev/null
  else
    openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -set_serial 0x$RANDOM -days 30 \
      -extfile ca.ext -out "$1.pem" 2> /dev/null
  fi
}
leaf() { # NAME AIA-URL|-: an EK-like certificate signed by the intermediate
  openssl req -new -newkey rsa:2048 -nodes -keyout "$1.key" -subj "/CN=$1" -out "$1.csr" 2> /dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyEncipherment\n' > leaf.ext
  [ "$2" = - ] || echo "authorityInfoAccess=caIssuers;URI:$2" >> leaf.ext
  openssl x509 -req -in "$1.csr" -CA inter.pem -CAkey inter.key -set_serial 0x$RANDOM -days 30 \
    -extfile leaf.ext -out "$1.pem" 2> /dev/null
}
ca root "/CN=Test EK Root"
ca inter "/CN=Test EK Intermediate" root
ca other-root "/CN=Other Root"
ca impostor "/CN=Test EK Intermediate" other-root # the right name, off the path
openssl x509 -in inter.pem -outform der -out www/inter.der
cp inter.pem www/inter.pem
openssl crl2pkcs7 -nocrl -certfile inter.pem -outform der -out www/inter.p7c
openssl x509 -in impostor.pem -outform der -out www/impostor.der
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout nca.key \
  -subj "/CN=Test EK Intermediate" -addext basicConstraints=CA:FALSE -days 1 -outform der \
  -out www/notca.der 2> /dev/null
head -c 500 /dev/urandom > www/garbage
for n in inter.der inter.pem inter.p7c impostor.der notca.der garbage big slow missing to-https; do
  leaf "ek-${n%.*}-${n#*.}" "$url/$n"
done
leaf ek-none -

ekcert() { "$V" ek-cert --ek-ca root.pem "$@"; }
refused() { # WHAT REGEX CMD...: CMD fails and its output matches REGEX
  local what=$1 re=$2
  shift 2
  if "$@" > out 2>&1; then bad "$what: accepted"; elif grep -Eq -- "$re" out; then ok; else
    bad "$what: $(cat out)"; fi
}

# --- 1. Off by default ---------------------------------------------------------
refused "no --ek-aia-fetch" 'unable to get local issuer certificate' ekcert ek-inter-der.pem
refused "--ek-aia-cache alone" 'needs --ek-aia-fetch' ekcert --ek-aia-cache cache ek-inter-der.pem
refused "a cache that is not a directory" 'not a directory' \
  ekcert --ek-aia-fetch --ek-aia-cache www/garbage ek-inter-der.pem

# --- 2. Fetched, DER and PEM, and cached --------------------------------------
check "fetched (DER)" ekcert --ek-aia-fetch --ek-aia-cache cache ek-inter-der.pem
check "fetched (PEM)" ekcert --ek-aia-fetch ek-inter-pem.pem
check "fetched (PKCS#7 certs-only, .p7c)" ekcert --ek-aia-fetch ek-inter-p7c.pem
key=$(printf '%s' "$url/inter.der" | sha256sum | cut -d' ' -f1)
check "cached under the SHA-256 of the URL" cmp cache/"$key".der www/inter.der
check "cache file 0600" test "$(stat -c %a cache/"$key".der)" = 600
check "nothing else cached" test "$(ls cache | wc -l)" = 1

# --- 3. Refusals, each naming the URL and why ----------------------------------
f() { ekcert --ek-aia-fetch --ek-aia-cache cache "$@"; }
refused "not a CA" "AIA $url/notca.der: not a CA certificate" f ek-notca-der.pem
refused "not a certificate" "AIA $url/garbage: not a DER, PEM or PKCS#7 certificate" f ek-garbage-garbage.pem
refused "oversized" "AIA $url/big: too large \\(over 65536 bytes\\)" f ek-big-big.pem
refused "a CA off the root's path" "AIA $url/impostor.der: no path to a root" f ek-impostor-der.pem
refused "404" "AIA $url/missing: HTTP status 404" f ek-missing-missing.pem
refused "redirect to https" "AIA $url/to-https: .*(nsupported|isabled)" f ek-to-https-to-https.pem
refused "no AIA" "names no http:// AIA caIssuers URL" f ek-none.pem
start=$(date +%s)
refused "slow" "AIA $url/slow: timed out after 5000 ms" f ek-slow-slow.pem
check "the slow answer was given up in time" test $(($(date +%s) - start)) -lt 9
check "no refused answer was cached" test "$(ls cache | wc -l)" = 1

# --- 4. Server down: the cache answers ----------------------------------------
stop_server
check "from the cache with the server down" f ek-inter-der.pem
refused "not cached, server down" "AIA $url/inter.pem: " f ek-inter-pem.pem

# --- 5. serve takes the same options ------------------------------------------
set +e
"$V" serve --tls-cert x --tls-key x --ek-ca x --issuer-cert x --issuer-key x --ek-aia-cache cache > out 2>&1
rc=$?
set -e
if [ "$rc" = 2 ] && grep -q 'needs --ek-aia-fetch' out; then ok; else bad "serve --ek-aia-cache alone: rc=$rc $(cat out)"; fi

finish test_ek_aia
