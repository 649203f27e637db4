#!/usr/bin/env bash
# The issuing CA's CRL (issue 14), judged by real servers, no TPM: machines
# of rattest-loadgen enroll against `serve --db --crl-file --crl-url` and
# keep their verifier-issued certificate and software key
# (--write-certs); their certificates carry the distribution point. One
# machine is revoked by `revoke` (another process): the serving verifier
# rewrites the CRL (waited for, not slept for) with its serial, the
# keyCompromise reason and a larger crlNumber, and `crl` prints the same
# list; SIGHUP rewrites it. A registry that cannot record a certificate
# refuses the Finish REGISTRY_FAILED (nothing sent) and the loadgen begins
# again from Begin (triggers on identities). Then `openssl s_server -Verify 1 -CRL_check` answers the other
# machine's mTLS request with 200 and refuses the revoked one (its log says
# why), and nginx with `ssl_crl` answers 200 and 400. Bad options are bad
# usage.
# Usage: test_crl.sh BUILD_DIR [PKI_DIR] (certs/mkpki output, read only;
# made in the test's directory without it)
set -euo pipefail
build=${1:?usage} pki=${2:-}
src=$(cd "$(dirname "$0")/../.." && pwd)
V="$build/bin/rattest-verifier"
L="$build/bin/rattest-loadgen"
work=$(mktemp -d)
vpid="" spid="" npid=""
stop_pid() { if [ -n "$1" ]; then kill "$1" 2> /dev/null || true; wait "$1" 2> /dev/null || true; fi; }
cleanup() { stop_verifier; stop_pid "$spid"; stop_pid "$npid"; rm -rf "$work"; }
trap cleanup EXIT
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/verifier.sh"
export RT_TEST_OUT="$work/out"

P="$work/pki" # where start_verifier looks
if [ -n "$pki" ]; then ln -s "$(cd "$pki" && pwd)" "$P"; else "$src/certs/mkpki" "$P" > /dev/null; fi
"$L" --write-ca "$work/ca" > /dev/null
CRL="$work/crl.pem" URL="http://crl.rattest.test/issuing.crl"
VERIFIER_ARGS=(--ek-ca "$work/ca/ek-ca.pem" --db "$work/reg.db")

# Bad usage (exit 2) before anything is served.
usage() {
  local what=$1 rc=0
  shift
  "$V" serve --tls-cert "$P/server-chain.pem" --tls-key "$P/server.key" --ek-ca "$work/ca/ek-ca.pem" \
    --issuer-cert "$P/issuer-chain.pem" --issuer-key "$P/issuer.key" "$@" > "$work/usage" 2>&1 || rc=$?
  [ "$rc" = 2 ] && grep -q -- "$what" "$work/usage" && ok || bad "$*: exit $rc $(head -c 300 "$work/usage")"
}
usage "--crl-file needs --db" --crl-file "$CRL"
usage "--crl-url must be an http" --crl-url "ftp://x/y.crl"
usage "--crl-url: character 11" --crl-url "http://a/b c"
usage "--crl-period needs --crl-file" --crl-period 1h
usage "--crl-period must be between" --db "$work/reg.db" --crl-file "$CRL" --crl-period 30s
rc=0; "$V" crl --db "$work/reg.db" --issuer-cert "$P/issuer-chain.pem" > /dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] && ok || bad "crl without --issuer-key: exit $rc"

# crl_field FILE WHAT: the CRL's number (decimal) or its entries as text.
crl_number() { openssl crl -in "$1" -noout -crlnumber | sed 's/^crlNumber=//'; }
crl_entries() { openssl crl -in "$1" -noout -text | sed -n '/^Revoked Certificates/,/Signature Algorithm/p'; }
dec() { python3 -c 'import sys; print(int(sys.argv[1], 16))' "$1"; }

# A CRL that cannot be written stops the start (exit 1), naming it.
rc=0
"$V" serve --listen 127.0.0.1:0 --tls-cert "$P/server-chain.pem" --tls-key "$P/server.key" \
  --issuer-cert "$P/issuer-chain.pem" --issuer-key "$P/issuer.key" "${VERIFIER_ARGS[@]}" \
  --crl-file "$work/no/such/dir/crl.pem" > /dev/null 2> "$work/err" || rc=$?
[ "$rc" = 1 ] && grep -q "CRL $work/no/such/dir/crl.pem" "$work/err" && ok ||
  bad "unwritable --crl-file: exit $rc $(tail -n 2 "$work/err")"

start_verifier --crl-file "$CRL" --crl-url "$URL"
# Every thread, the CRL writer's among them, leaves the stop signals to
# serve's main thread.
why=$(stop_signals_blocked) && ok || bad "signals: $why"
# Written before the port file: empty, 0644, signed by the issuing CA.
[ "$(stat -c %a "$CRL")" = 644 ] && ok || bad "CRL mode $(stat -c %a "$CRL")"
check "first CRL verifies" openssl crl -in "$CRL" -noout -CAfile "$P/issuer-chain.pem"
openssl crl -in "$CRL" -noout -text | grep -q "No Revoked Certificates" && ok || bad "first CRL not empty"
n0=$(dec "$(crl_number "$CRL")")

# Two machines (enough enrollments that each of the two enrolls).
mkdir "$work/certs"
check "machines enroll" "$L" --write-ca "$work/ca" --verifier "127.0.0.1:$port" --ca "$P/tls-ca.pem" \
  --count 6 --concurrency 2 --ek-mix 0:1 --write-certs "$work/certs"
for m in lg-0 lg-1; do
  [ -s "$work/certs/$m.pem" ] && [ "$(stat -c %a "$work/certs/$m-key.pem")" = 600 ] && ok ||
    bad "$m: no certificate or key not 0600"
  openssl x509 -in "$work/certs/$m.pem" -noout -ext crlDistributionPoints > "$work/cdp" 2>&1
  grep -q "URI:$URL" "$work/cdp" && ok || bad "$m: no CDP: $(cat "$work/cdp")"
done
serial() { openssl x509 -in "$work/certs/$1.pem" -noout -serial | sed 's/^serial=//'; }
s0=$(serial lg-0) s1=$(serial lg-1)

# Revoked by another process; the serving verifier notices within a second.
check "revoke" "$V" revoke lg-0 --db "$work/reg.db" --reason keycompromise
for _ in $(seq 200); do crl_entries "$CRL" | grep -q "$s0" && break; sleep 0.05; done
crl_entries "$CRL" > "$work/entries"
grep -q "Serial Number: $s0" "$work/entries" && ok || bad "revoked serial not in the CRL: $(cat "$work/entries")"
grep -q "Key Compromise" "$work/entries" && ok || bad "no reason code: $(cat "$work/entries")"
grep -q "$s1" "$work/entries" && bad "the other machine's serial is listed" || ok
n1=$(dec "$(crl_number "$CRL")")
[ "$n1" -gt "$n0" ] && ok || bad "crlNumber $n1 not above $n0"
check "rewritten CRL verifies" openssl crl -in "$CRL" -noout -CAfile "$P/issuer-chain.pem"
grep -q "CRL .* rewritten: [1-9][0-9]* certificate(s) ever revoked" "$work/verifier.log" && ok ||
  bad "no rewrite logged: $(tail -n 3 "$work/verifier.log")"

# SIGHUP (the issuer may have changed) rewrites it at once.
rewrites() { grep -c "CRL .* rewritten" "$work/verifier.log" || true; }
r0=$(rewrites)
kill -HUP "$vpid"
for _ in $(seq 200); do [ "$(rewrites)" -gt "$r0" ] && break; sleep 0.05; done
[ "$(rewrites)" -gt "$r0" ] && ok || bad "no rewrite after SIGHUP: $(tail -n 3 "$work/verifier.log")"
# The same list: a number not below (equal within the same second).
[ "$(dec "$(crl_number "$CRL")")" -ge "$n1" ] && ok || bad "crlNumber below $n1 after SIGHUP"
crl_entries "$CRL" | diff - "$work/entries" > /dev/null && ok || bad "entries changed at SIGHUP"

# The crl command: the same entries, a number not below the file's.
check "crl prints" "$V" crl --db "$work/reg.db" --issuer-cert "$P/issuer-chain.pem" \
  --issuer-key "$P/issuer.key" --out "$work/crl2.pem"
crl_entries "$work/crl2.pem" | diff - "$work/entries" > /dev/null && ok ||
  bad "crl differs: $(crl_entries "$work/crl2.pem")"
[ "$(dec "$(crl_number "$work/crl2.pem")")" -ge "$n1" ] && ok || bad "crl's number below the file's"
[ "$(stat -c %a "$work/crl2.pem")" = 644 ] && ok || bad "crl --out mode"

# No certificate leaves the verifier unknown to the registry. A trigger
# makes every insert into identities fail: each Finish is refused INTERNAL
# REGISTRY_FAILED with no certificate, the loadgen begins the run again
# from Begin (3 times), and the registry lists no certificate and keeps no
# accepted Finish (one transaction with the certificate) but the refusals.
# Then a trigger failing only the next insert: one run begun again, the
# second accepted, its serial (not the refused one) listed. One python
# (its start-up is most of the time), one line per check.
python3 - "$L" "$V" "$work" "$port" "$P/tls-ca.pem" > "$work/registry-failed" 2>&1 << 'PY' || bad "registry failure checks: $(tail -n 5 "$work/registry-failed")"
import json, sqlite3, subprocess, sys
L, V, work, port, ca = sys.argv[1:]
db = sqlite3.connect(f"{work}/reg.db", timeout=10, isolation_level=None)
def check(cond, what):
    print("ok" if cond else f"bad {what}")
def enroll(tag):  # one machine of its own EK name: exit status, report, serials
    rc = subprocess.run([L, "--write-ca", f"{work}/ca", "--verifier", f"127.0.0.1:{port}", "--ca", ca,
                         "--count", "1", "--concurrency", "1", "--ek-mix", "0:1", "--ecc-curve", "p256",
                         "--ek-names", "--json", "--serials", f"{work}/serials-{tag}"],
                        stdout=open(f"{work}/lg-{tag}.json", "w")).returncode
    return rc, json.load(open(f"{work}/lg-{tag}.json")), open(f"{work}/serials-{tag}").read().split()
def finishes(code):  # (name, serial) of the audit's Finish lines with code ("OK": accepted)
    lines = [json.loads(l) for l in open(f"{work}/audit.log")]
    return [(d.get("name"), d.get("key_serial", "").lower()) for d in lines
            if d.get("method") == "Finish" and d.get("code", "OK") == code]
def shown(name):
    out = subprocess.run([V, "machines", "show", name, "--json", "--db", f"{work}/reg.db"],
                         capture_output=True, text=True, check=True).stdout
    return [i["serial"] for i in json.loads(out)["identities"]]

db.execute("CREATE TRIGGER fail_identity BEFORE INSERT ON identities BEGIN SELECT RAISE(ABORT, 'injected'); END")
rc, rep, serials = enroll("refused")
check(rc == 1 and rep["accepted"] == 0 and rep["errors_by_code"] == {"REGISTRY_FAILED": 1}
      and rep["recovery"]["restarts"] == 3 and serials == [], f"refused: exit {rc} {rep} {serials}")
refused = finishes("REGISTRY_FAILED")
name = refused[0][0] if refused else None
check(len(refused) == 4 and {n for n, _ in refused} == {name} and all(s for _, s in refused),
      f"audit: refused Finishes {refused}")
log = open(f"{work}/verifier.log").read()
check("registry: recording the certificate " in log and "injected" in log, "no registry error logged")
rows = db.execute("SELECT code, COUNT(*) FROM decisions WHERE method = 'Finish' AND name = ? GROUP BY code",
                  (name,)).fetchall()
check(rows == [("REGISTRY_FAILED", 4)], f"Finish decisions of {name}: {rows}")
check(db.execute("SELECT COUNT(*) FROM identities WHERE name = ?", (name,)).fetchone()[0] == 0, "identities")
check(shown(name) == [], f"machines show {name} lists a refused certificate")

db.execute("DROP TRIGGER fail_identity")
db.execute("CREATE TRIGGER fail_once BEFORE INSERT ON identities WHEN (SELECT COUNT(*) FROM decisions"
           " WHERE code = 'REGISTRY_FAILED') < 5 BEGIN SELECT RAISE(ABORT, 'injected'); END")
rc, rep, serials = enroll("again")
db.execute("DROP TRIGGER fail_once")
check(rc == 0 and rep["accepted"] == 1 and rep["errors_by_code"] == {} and rep["recovery"]["restarts"] == 1
      and len(serials) == 1, f"begun again: exit {rc} {rep} {serials}")
again = finishes("REGISTRY_FAILED")[4:]
name = again[0][0] if again else None
check(len(again) == 1 and (name, serials[0] if serials else None) in finishes("OK"),
      f"audit: {again}, accepted {finishes('OK')[-1:]}")
check(shown(name) == serials and again[0][1] not in serials, f"machines show {name}: {shown(name)}")
PY
while read -r r msg; do if [ "$r" = ok ]; then ok; else bad "$r $msg"; fi; done < "$work/registry-failed"

# get PORT MACHINE: an mTLS GET with the machine's identity; the server's
# answer (empty when it refused the handshake).
get() {
  printf 'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n' | timeout 20 openssl s_client -quiet \
    -connect "127.0.0.1:$1" -CAfile "$P/tls-ca.pem" -cert "$work/certs/$2.pem" \
    -cert_chain "$work/certs/$2.pem" -key "$work/certs/$2-key.pem" 2> /dev/null | head -n 1 || true
}

# openssl s_server: verifies the client against the issuing chain and the CRL.
openssl s_server -accept 0 -www -cert "$P/server-chain.pem" -key "$P/server.key" \
  -CAfile "$P/issuer-chain.pem" -Verify 2 -verify_return_error -crl_check -CRL "$CRL" \
  > "$work/s_server.log" 2>&1 &
spid=$!
for _ in $(seq 200); do grep -q '^ACCEPT' "$work/s_server.log" && break; sleep 0.05; done
sport=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$work/s_server.log")
a=$(get "$sport" lg-1)
[[ $a == "HTTP/1.0 200 ok"* ]] && ok || bad "s_server: the good machine got \"$a\" $(tail -n 3 "$work/s_server.log")"
a=$(get "$sport" lg-0)
[ -z "$a" ] && ok || bad "s_server answered the revoked machine: \"$a\""
grep -q "certificate revoked" "$work/s_server.log" && ok ||
  bad "s_server did not refuse as revoked: $(tail -n 5 "$work/s_server.log")"
stop_pid "$spid"
spid=""

# nginx checks every certificate of the chain (CRL_CHECK_ALL): the root's
# CRL of the issuing CA too, made by the same command from an empty registry
# (which it does not create: a mistyped path would publish an empty CRL).
rc=0; "$V" crl --db "$work/empty.db" --issuer-cert "$P/issuer-root.pem" --issuer-key "$P/issuer-root.key" \
  > /dev/null 2> "$work/err" || rc=$?
[ "$rc" = 1 ] && grep -q "no registry at" "$work/err" && [ ! -e "$work/empty.db" ] && ok ||
  bad "crl on a missing registry: exit $rc $(cat "$work/err")"
"$V" machines list --db "$work/empty.db" > /dev/null
check "root CRL" "$V" crl --db "$work/empty.db" --issuer-cert "$P/issuer-root.pem" \
  --issuer-key "$P/issuer-root.key" --out "$work/root-crl.pem"
ngx="$work/nginx"
mkdir -p "$ngx"
cat "$CRL" "$work/root-crl.pem" > "$ngx/crls.pem"
for _ in $(seq 20); do
  nport=$((20000 + RANDOM % 20000))
  cat > "$ngx/nginx.conf" << NGINX
daemon off;
master_process off;
pid $ngx/nginx.pid;
error_log $ngx/error.log info;
events { worker_connections 16; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$nport ssl;
    ssl_certificate $P/server-chain.pem;
    ssl_certificate_key $P/server.key;
    ssl_client_certificate $P/issuer-chain.pem;
    ssl_verify_client on;
    ssl_verify_depth 2;
    ssl_crl $ngx/crls.pem;
    location / { return 200 "client \$ssl_client_verify\n"; }
  }
}
NGINX
  : > "$ngx/error.log"
  nginx -p "$ngx/" -e "$ngx/error.log" -c "$ngx/nginx.conf" > "$ngx/stdout.log" 2>&1 &
  npid=$!
  for _ in $(seq 100); do
    kill -0 "$npid" 2> /dev/null || break
    (: < "/dev/tcp/127.0.0.1/$nport") 2> /dev/null && break
    sleep 0.05
  done
  kill -0 "$npid" 2> /dev/null && break
  wait "$npid" 2> /dev/null || true
  npid=""
  grep -q "in use" "$ngx/error.log" || break
done
code() {
  curl -sS -o "$work/body" -w '%{http_code}' --cacert "$P/tls-ca.pem" --cert "$work/certs/$1.pem" \
    --key "$work/certs/$1-key.pem" "https://localhost:$nport/" 2>&1 || true
}
if [ -n "$npid" ]; then
  c=$(code lg-1)
  [ "$c" = 200 ] && grep -q "client SUCCESS" "$work/body" && ok ||
    bad "nginx: the good machine got $c $(cat "$work/body") $(tail -n 3 "$ngx/error.log")"
  c=$(code lg-0)
  [ "$c" = 400 ] && ok || bad "nginx: the revoked machine got $c"
  grep -q "certificate revoked" "$ngx/error.log" && ok || bad "nginx logged no revocation: $(tail -n 3 "$ngx/error.log")"
else
  bad "nginx did not start: $(tail -n 5 "$ngx/error.log" "$ngx/stdout.log" 2> /dev/null)"
fi

finish test_crl
