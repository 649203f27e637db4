#!/usr/bin/env bash
# serve reloads at SIGHUP, all or nothing, and drains at SIGTERM; no TPM
# (machines from rattest-loadgen):
#   - a policy that accepts (`{}`), then one allowing only RSA keys: after
#     SIGHUP the same machines are refused KEY_ALGORITHM;
#   - a broken policy: SIGHUP logs why, nothing changes (still refused as
#     before, not accepted, not down);
#   - a new TLS certificate and issuer (another PKI, other dates): presented
#     and issued from after SIGHUP (s_client's certificate, the metrics'
#     issuer notAfter);
#   - a TLS key that does not match: nothing reloaded, the old certificate
#     still presented;
#   - SIGTERM: exit 0 and the "stopping" line;
#   - an issuer and TLS certificate with 10 days left: a warning for each at
#     start, in diagnostics written as JSON (--log-format json);
#   - --config: the file's options applied, the command line's --listen
#     over the file's; unknown keys, non-boolean flags, a nested config and
#     bad values refused as bad usage naming the key.
# Usage: test_reload.sh BUILD_DIR
set -euo pipefail
build=${1:?usage}
src=$(cd "$(dirname "$0")/../.." && pwd)
V="$build/bin/rattest-verifier"
L="$build/bin/rattest-loadgen"
work=$(mktemp -d)
vpid=""
trap 'stop_verifier; rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/verifier.sh"

"$src/certs/mkpki" "$work/pki" > /dev/null
"$src/certs/mkpki" --days 100 "$work/pki2" > /dev/null
cp "$work/pki/tls-ca.pem" "$work/client-ca.pem"
"$L" --write-ca "$work/ca" > /dev/null
echo '{}' > "$work/policy.json"
VERIFIER_ARGS=(--ek-ca "$work/ca/ek-ca.pem" --policy "$work/policy.json" --metrics-listen 127.0.0.1:0)
load() { # the exit status and report of 2 enrollments
  "$L" --write-ca "$work/ca" --verifier "127.0.0.1:$port" --ca "$work/client-ca.pem" --count 2 \
    --concurrency 1 --json > "$work/report.json" 2> "$work/load.err"
}
codes() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["accepted"], sorted(r["errors_by_code"].items()))' "$work/report.json"; }
same() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }
# hup PATTERN: SIGHUP, then wait for the log line that answers it.
hup() {
  local before
  before=$(grep -c 'SIGHUP' "$work/verifier.log" || true)
  kill -HUP "$vpid"
  for _ in $(seq 100); do
    [ "$(grep -c 'SIGHUP' "$work/verifier.log" || true)" -gt "$before" ] && break
    sleep 0.05
  done
  tail -n 1 "$work/verifier.log" | grep -q -- "$1" && ok || bad "after SIGHUP, want '$1': $(tail -n 2 "$work/verifier.log")"
}
served_cert_end() {
  openssl s_client -connect "127.0.0.1:$port" -alpn h2 < /dev/null 2> /dev/null |
    openssl x509 -noout -enddate
}
metric() { curl -sf "http://127.0.0.1:$mport/metrics" | sed -n "s/^$1 //p"; }

start_verifier
mport=$(sed -n 's/.*metrics on http:.*(port \([0-9]*\)).*/\1/p' "$work/verifier.log")
check "enroll under the first policy" load
same "both accepted" "$(codes)" "2 []"

# --- 1. A stricter policy: refused from the next call on -----------------
echo '{"key_algorithms": ["rsa-2048"]}' > "$work/policy.json"
hup "SIGHUP: reloaded"
refuse "enroll under the reloaded policy" load
same "refused KEY_ALGORITHM" "$(codes)" "0 [('KEY_ALGORITHM', 2)]"

# --- 2. A broken policy: nothing changes ----------------------------------
echo '{"key_algorithms": ' > "$work/policy.json"
hup "SIGHUP: nothing reloaded, the running configuration stays: .*policy"
check "still serving" kill -0 "$vpid"
refuse "enroll after the failed reload" load
same "still the stricter policy" "$(codes)" "0 [('KEY_ALGORITHM', 2)]"

# --- 3. New TLS certificate and issuer -------------------------------------
echo '{}' > "$work/policy.json"
old_end=$(served_cert_end)
same "the first TLS certificate is served" "$old_end" "$(openssl x509 -in "$work/pki/server.pem" -noout -enddate)"
old_issuer=$(metric rattest_issuer_not_after_timestamp_seconds)
for f in server-chain.pem server.key issuer-chain.pem issuer.key; do cp "$work/pki2/$f" "$work/pki/$f"; done
cp "$work/pki2/tls-ca.pem" "$work/client-ca.pem"
hup "SIGHUP: reloaded"
same "the new TLS certificate is served" "$(served_cert_end)" "$(openssl x509 -in "$work/pki2/server.pem" -noout -enddate)"
new_issuer=$(metric rattest_issuer_not_after_timestamp_seconds)
want=$(date -u -d "$(openssl x509 -in "$work/pki2/issuer.pem" -noout -enddate | cut -d= -f2)" +%s)
same "the new issuer's notAfter" "$new_issuer" "$want"
check "it differs from the old one ($old_issuer)" test "$old_issuer" != "$new_issuer"
check "enroll through the new certificate and issuer" load
same "both accepted again" "$(codes)" "2 []"

# --- 4. A TLS key that does not match: nothing reloaded --------------------
cp "$work/pki/tls-ca.key" "$work/pki/server.key"
hup "SIGHUP: nothing reloaded, the running configuration stays: TLS key"
same "the reloaded certificate is still served" "$(served_cert_end)" "$(openssl x509 -in "$work/pki2/server.pem" -noout -enddate)"

# --- 5. SIGTERM --------------------------------------------------------------
kill -TERM "$vpid"
rc=0
wait "$vpid" || rc=$?
vpid=""
same "exit status after SIGTERM" "$rc" 0
check "the stopping line" grep -q "signal 15: stopping (calls in flight get 10 s)" "$work/verifier.log"

# --- 6. Certificates near expiry, diagnostics as JSON ----------------------
"$src/certs/mkpki" --days 10 "$work/pki" --force > /dev/null
start_verifier --log-format json
check "every diagnostic line is a JSON object" python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert lines and all(set(l) == {"time", "level", "program", "message"} for l in lines), lines
assert all(l["program"] == "rattest-verifier" for l in lines)
' "$work/verifier.log"
for what in "issuer certificate" "TLS certificate"; do
  check "warned: the $what expires in under 30 days" python3 -c '
import json, sys
import re
assert any(l["level"] == "warn" and sys.argv[2] in l["message"] and
           re.search(r"expires in (9|10) day\(s\)", l["message"])
           for l in map(json.loads, open(sys.argv[1]))), open(sys.argv[1]).read()
' "$work/verifier.log" "$what"
done
stop_verifier
set +e
"$V" serve --tls-cert x --tls-key x --ek-ca x --issuer-cert x --issuer-key x --log-format xml > "$work/out" 2>&1
rc=$?
set -e
if [ "$rc" = 2 ] && grep -q -- '--log-format must be text or json' "$work/out"; then ok; else bad "--log-format xml: rc=$rc $(cat "$work/out")"; fi

# --- 7. serve --config: the file's options, the command line's over them ---
"$src/certs/mkpki" "$work/pki" --force > /dev/null
cp "$work/pki/tls-ca.pem" "$work/client-ca.pem"
cat > "$work/serve.json" << EOF
{"listen": "127.0.0.1:1", "ek-ca": "$work/ca/ek-ca.pem", "policy": "$work/policy.json",
 "max-connections": 50, "log-format": "json", "ek-aia-fetch": false}
EOF
VERIFIER_ARGS=()
start_verifier --config "$work/serve.json"
check "the file's options applied (max-connections, JSON diagnostics)" python3 -c '
import json, sys
assert any("at most 50 connections" in json.loads(l)["message"] for l in open(sys.argv[1]))
' "$work/verifier.log"
check "the command line's --listen over the file's" test "$port" != 1
check "enroll through a verifier configured by file" load
same "accepted" "$(codes)" "2 []"
stop_verifier
config_refused() { # WHAT JSON PATTERN
  printf '%s\n' "$2" > "$work/bad.json"
  set +e
  "$V" serve --config "$work/bad.json" --tls-cert x > "$work/out" 2>&1
  local rc=$?
  set -e
  if [ "$rc" = 2 ] && grep -q -- "$3" "$work/out"; then ok; else bad "$1: rc=$rc $(cat "$work/out")"; fi
}
config_refused "an unknown key" '{"lsiten": "127.0.0.1:0"}' 'unknown key "lsiten"'
config_refused "a flag's value not a boolean" '{"ek-aia-fetch": "yes"}' '"ek-aia-fetch" must be true or false'
config_refused "a config naming a config" '{"config": "x"}' 'unknown key "config"'
config_refused "not an object" '[1]' 'not a JSON object'
config_refused "a bad value, checked as the flag is" '{"threads": 0}' '--threads'

finish test_reload
