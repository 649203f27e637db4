#!/usr/bin/env bash
# rattest-loadgen against a real verifier, no TPM: its software TPM checked
# alone (test_loadgen), then 20 enrollments from 4 emulated machines (RSA
# 2048 and ECC P-384 EKs), then ECC P-256 EKs with RSA keys, all accepted and each one an accept audit line of Begin and of
# Finish; the report counts them and samples the verifier's CPU and RSS.
# --ping: 8 connections of two Pings each, all answered, no enrollment.
# Then 8 machines through a SIGKILL and restart of the verifier (same port,
# token key and registry): all complete, none an error. A verifier
# trusting another manufacturer CA refuses every Begin as EK_CHAIN, which
# the report counts under that code (exit 1). Usage errors exit 2.
# Usage: test_loadgen.sh BUILD_DIR
set -euo pipefail
build=${1:?usage}
src=$(cd "$(dirname "$0")/../.." && pwd)
V="$build/bin/rattest-verifier"
L="$build/bin/rattest-loadgen"
work=$(mktemp -d)
vpid=""
cleanup() { stop_verifier; rm -rf "$work"; }
trap cleanup EXIT
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/verifier.sh"

"$src/certs/mkpki" "$work/pki" > /dev/null
check "CA made" "$L" --write-ca "$work/ca"
[ "$(stat -c %a "$work/ca/ek-ca-key.pem")" = 600 ] && ok || bad "CA key not 0600"
[ "$(grep -c 'BEGIN CERTIFICATE' "$work/ca/ek-ca.pem")" = 2 ] && ok || bad "ek-ca.pem: not root + intermediate"
before=$(sha256sum "$work/ca/ek-ca.pem")
check "CA reused" "$L" --write-ca "$work/ca"
[ "$(sha256sum "$work/ca/ek-ca.pem")" = "$before" ] && ok || bad "an existing CA was replaced"

# The software TPM, judged without a verifier (tests/unit/test_loadgen.c).
check "software TPM" "$build/tests/test_loadgen" "$work/ca"

# json FILE EXPR: the value of a Python expression over the report j.
json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1" "${@:3}"; }
run() { "$L" --write-ca "$work/ca" --verifier "127.0.0.1:$port" --ca "$work/pki/tls-ca.pem" "$@"; }
audit() { grep -c "\"method\":\"$1\",\"decision\":\"$2\"" "$work/audit.log" || true; }

VERIFIER_ARGS=(--ek-ca "$work/ca/ek-ca.pem")
start_verifier
if run --count 20 --concurrency 4 --ek-mix 1:1 --verifier-pid "$vpid" --json > "$work/r1.json"; then ok; else bad "20 enrollments: exit $?"; fi
[ "$(json "$work/r1.json" "j['accepted'], j['errors'], j['errors_by_code']")" = "20 0 {}" ] && ok ||
  bad "report: $(cat "$work/r1.json")"
[ "$(json "$work/r1.json" "j['verifier']['cpu_ms_per_enrollment'] > 0 and j['verifier']['rss_kib_peak'] > 0")" = True ] &&
  ok || bad "no verifier CPU or RSS: $(cat "$work/r1.json")"
# RSS sampled during the load too (at least before and after; not compared
# with VmHWM, which the kernel may update after a sample saw more); an
# undisturbed verifier: nothing retried.
[ "$(json "$work/r1.json" "j['verifier']['rss_samples'] >= 2, j['verifier']['rss_kib_max_sampled'] > 0, j['recovery']['retries'], j['recovery']['restarts']")" = "True True 0 0" ] &&
  ok || bad "RSS samples or retries: $(cat "$work/r1.json")"
[ "$(json "$work/r1.json" "j['latency_ms']['p50'] <= j['latency_ms']['p99'] <= j['latency_ms']['max']")" = True ] &&
  ok || bad "latency percentiles out of order"
[ "$(audit Begin accept)" = 20 ] && ok || bad "Begin accepts: $(audit Begin accept)"
[ "$(audit Finish accept)" = 20 ] && ok || bad "Finish accepts: $(audit Finish accept)"
# Four machines, four EKs: two RSA, two P-384 (the SPKI hashes differ).
[ "$(grep '"method":"Finish"' "$work/audit.log" | grep -o '"ek_sha256":"[0-9a-f]*"' | sort -u | wc -l)" = 4 ] &&
  ok || bad "not 4 distinct EKs"
for n in 0 1 2 3; do
  grep -q "\"method\":\"Finish\",\"decision\":\"accept\",\"name\":\"lg-$n\"" "$work/audit.log" && ok || bad "lg-$n not enrolled"
done

# The transport baseline: connections with two Pings each, no enrollment
# (no Begin reaches the verifier), reported as enrollments are.
if run --ping --count 8 --concurrency 2 --verifier-pid "$vpid" --json > "$work/p.json"; then ok; else bad "--ping: exit $?"; fi
[ "$(json "$work/p.json" "j['mode'], j['accepted'], j['errors'], j['verifier']['cpu_ms'] >= 0")" = "ping 8 0 True" ] &&
  ok || bad "--ping report: $(cat "$work/p.json")"
[ "$(audit Begin accept)" = 20 ] && ok || bad "--ping made enrollments: $(audit Begin accept)"

# ECC P-256 EKs, RSA identity keys, the text report.
if run --count 4 --concurrency 2 --ek-mix 0:1 --ecc-curve p256 --key-alg rsa-2048 > "$work/r2.txt"; then ok; else bad "P-256 EKs: $(cat "$work/r2.txt")"; fi
grep -q "^enrollments: 4 accepted, 0 errors" "$work/r2.txt" && ok || bad "text report: $(cat "$work/r2.txt")"
[ "$(audit Finish accept)" = 24 ] && ok || bad "Finish accepts after P-256: $(audit Finish accept)"

# SIGKILL mid-load, restarted on the same port with the same token key and
# registry: every machine completes through retries (a Finish the new
# process finishes for the old one's Begin; a lost Finish begun again from
# Begin), zero errors. A lost Finish may have been recorded before the
# kill, so the registry holds from as many identities as certificates
# received to one more per run begun again.
"$V" token-key "$work/token.key" > /dev/null
VERIFIER_ARGS=(--ek-ca "$work/ca/ek-ca.pem" --token-key "$work/token.key" --db "$work/reg.db")
start_verifier
run --count 24 --concurrency 8 --ek-mix 0:1 --ecc-curve p256 --json > "$work/r4.json" 2> "$work/r4.err" &
lpid=$!
for _ in $(seq 400); do [ "$(audit Finish accept)" -ge 8 ] && break; sleep 0.05; done
kill -9 "$vpid"
wait "$vpid" 2> /dev/null || true
vpid=""
cp "$work/audit.log" "$work/audit-killed.log"
LISTEN_PORT=$port start_verifier
if wait "$lpid"; then ok; else bad "after SIGKILL: exit $?: $(tail -n 3 "$work/r4.err")"; fi
# One Python for all (its start-up is the slowest step here): the counts,
# the kill felt (something retried or begun again, and recovered), the
# registry's identities within their bounds.
[ "$(json "$work/r4.json" "j['accepted'], j['errors'], j['errors_by_code'], j['recovery']['retries'] + j['recovery']['restarts'] > 0 and j['recovery']['recovered'] > 0, j['accepted'] <= __import__('sqlite3').connect(sys.argv[2]).execute('select count(*) from identities').fetchone()[0] <= j['accepted'] + j['recovery']['restarts']" "$work/reg.db")" = "24 0 {} True True" ] &&
  ok || bad "after SIGKILL: $(cat "$work/r4.json")"
grep -q TOKEN_REPLAYED "$work/audit-killed.log" "$work/audit.log" && bad "a token replayed" || ok

# A verifier trusting another CA (the dev PKI's TLS CA) as its manufacturer:
# every Begin refused, counted by code.
VERIFIER_ARGS=(--ek-ca "$work/pki/tls-ca.pem")
LISTEN_PORT=0 start_verifier
if run --count 6 --concurrency 2 --json > "$work/r3.json"; then bad "untrusted EKs: exit 0"; else ok; fi
[ "$(json "$work/r3.json" "j['accepted'], j['errors_by_code']")" = "0 {'EK_CHAIN': 6}" ] && ok ||
  bad "refusals: $(cat "$work/r3.json")"
[ "$(grep -c '"decision":"reject","code":"EK_CHAIN"' "$work/audit.log")" = 6 ] && ok || bad "EK_CHAIN audit lines"

# Usage: exit 2, nothing run.
for args in "--ek-mix 0:0" "--ek-mix 1" "--rate 0" "--concurrency 0" "--ecc-curve p521" \
  "--verifier 127.0.0.1" "--count 3 --verifier 127.0.0.1:1" "--nosuch"; do
  # shellcheck disable=SC2086
  "$L" --write-ca "$work/ca" $args > /dev/null 2>&1 && st=0 || st=$?
  [ "$st" = 2 ] && ok || bad "$args: exit $st, not 2"
done
"$L" > /dev/null 2>&1 && st=0 || st=$?
[ "$st" = 2 ] && ok || bad "no --write-ca: exit $st"
"$L" --help | grep -q '^Exit status:' && ok || bad "--help has no Exit status"

finish test_loadgen
