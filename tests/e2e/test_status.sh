#!/usr/bin/env bash
# `rattest-bootstrap status` exit codes, without a TPM: a state file naming
# certificates made by `openssl ca` with chosen dates (valid, inside the
# renewal window, expired, one whose file is gone). Each identity alone
# (status NAME) gives its code and says why on stderr; all together give the
# worst; --window moves the window (fraction, percent, duration); --json
# carries validity and renew_from; nothing enrolled and an unknown NAME are
# "missing". renew outside the window touches nothing (no TPM, no verifier:
# it would fail if it tried).
# Usage: test_status.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: test_status.sh BUILD_DIR}
B="$build/bin/rattest-bootstrap"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"

# status_is WANT PATTERN ARGS...: status exits WANT and its output matches.
status_is() {
  local want=$1 pat=$2 rc=0; shift 2
  "$B" status --state-dir "$S" "$@" > "$work/out" 2>&1 || rc=$?
  if [ "$rc" -eq "$want" ] && grep -qE -- "$pat" "$work/out"; then ok; else
    bad "status $* -> rc=$rc (want $want, /$pat/): $(head -c 600 "$work/out")"; fi
}

# --- certificates with chosen dates ------------------------------------
S="$work/state"
mkdir -m 700 "$S" "$work/ca" && touch "$work/ca/index.txt" && echo 01 > "$work/ca/serial"
cat > "$work/ca.cnf" << EOF
[ca]
default_ca = d
[d]
database = $work/ca/index.txt
new_certs_dir = $work/ca
serial = $work/ca/serial
default_md = sha256
policy = p
unique_subject = no
[p]
commonName = supplied
EOF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/k.pem" \
  -subj /CN=t -out "$work/req.pem" 2> /dev/null
at() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
# cert NAME START END: NAME's certificate valid from START to END (date -d).
cert() {
  openssl ca -batch -config "$work/ca.cnf" -selfsign -keyfile "$work/k.pem" -in "$work/req.pem" \
    -startdate "$(at "$2")" -enddate "$(at "$3")" -out "$S/$1.cert.pem" > /dev/null 2>&1
}
cert good "-1 hour" "+2 hours"     # window (last third) opens in 1 hour
cert due "-2 hours" "+30 minutes"  # window opened 20 minutes ago
cert old "-2 days" "-1 day"
cert gone "-1 hour" "+2 hours" && rm "$S/gone.cert.pem"
entry() {
  printf '"%s": {"name": "%s", "handle": "0x8100010%s", "key_file": "%s/%s.key.pem",
    "cert_file": "%s/%s.cert.pem", "chain_file": "%s/%s.chain.pem", "ak_cert_file": "%s/%s.ak.pem",
    "algorithm": "ecc-p256", "ek_sha256": "%064d", "verifier": "localhost:1",
    "not_after": "2030-01-01T00:00:00Z", "enrolled_at": "2025-01-01T00:00:00Z"}' \
    "$1" "$1" "$2" "$S" "$1" "$S" "$1" "$S" "$1" "$S" "$1" 0
}
# state NAME...: a state file with those identities.
state() {
  local ids="" i=0 n
  for n in "$@"; do ids="$ids${ids:+,}$(entry "$n" "$i")"; i=$((i + 1)); done
  printf '{"version": 1, "identities": {%s}, "secrets": {}}\n' "$ids" > "$S/state.json"
  chmod 600 "$S/state.json"
}

# --- one identity at a time -----------------------------------------------
state good due old gone
status_is 0 'good.cert.pem \(valid until .*, renewal from ' good
status_is 5 'identity "due" renewal-due: RENEWAL DUE since ' due
status_is 4 'identity "old" expired: EXPIRED at ' old
status_is 3 'identity "gone" missing: MISSING: cannot read the certificate .*gone.cert.pem' gone
status_is 3 'identity "nosuch" missing: not in ' nosuch
# --- all together: the worst wins, each named ----------------------------
status_is 3 'identity "old" expired'
status_is 3 'identity "due" renewal-due'
state good due old
status_is 4 'identity "old" expired'
state good due
status_is 5 'identity "due" renewal-due'
status_is 0 'secret|good' --window 10m
# --- the window: fraction, percent, duration -------------------------------
state good
status_is 0 'valid until' --window 0.6       # 1h48m of 3h: opens in 12 minutes
status_is 5 'RENEWAL DUE' --window 0.7       # 2h06m of 3h: opened 6 minutes ago
status_is 5 'RENEWAL DUE' --window 70%
status_is 0 'valid until' --window 1h
status_is 5 'RENEWAL DUE' --window 3h
status_is 2 'neither a fraction' --window 0x0.8
status_is 2 'not in \(0, 1\]' --window 1.5
status_is 2 'outside 1s..87600h' --window 0
# --- JSON ---------------------------------------------------------------
state good due old gone
status_is 3 '"validity": "renewal-due"' --json
for v in valid expired missing; do status_is 3 "\"validity\": \"$v\"" --json; done
status_is 3 '"renew_from": "20[0-9-]+T' --json
status_is 3 '"renew_from": ""' --json gone
# --- nothing enrolled --------------------------------------------------------
state
status_is 3 'no identity enrolled'
status_is 3 'missing: no identity enrolled' --json

# --- renew acts only inside the window (here: never reaches the TPM) ------
state good due
before=$(sha256sum "$S/state.json" "$S/good.cert.pem")
renew() { "$B" renew --state-dir "$S" --ca /nonexistent --tcti "swtpm:port=1" --timeout 2s "$@"; }
rc=0; renew good > "$work/out" 2>&1 || rc=$?
if [ "$rc" -eq 0 ] && grep -q 'identity "good": valid until .*, renewal window opens .*: nothing to do' "$work/out"; then ok; else
  bad "renew outside the window: rc=$rc $(cat "$work/out")"; fi
if [ "$(sha256sum "$S/state.json" "$S/good.cert.pem")" = "$before" ]; then ok; else bad "renew changed files"; fi
# Inside the window it does try (and fails here: no TPM, no verifier).
rc=0; renew due > "$work/out" 2>&1 || rc=$?
if [ "$rc" -eq 1 ] && grep -q 'identity "due": valid until .*, inside the renewal window since .*: renewing' "$work/out"; then ok; else
  bad "renew inside the window: rc=$rc $(cat "$work/out")"; fi
rc=0; renew --all > "$work/out" 2>&1 || rc=$?
if [ "$rc" -eq 1 ] && grep -q '"good": valid until' "$work/out" && grep -q '"due": .*renewing' "$work/out"; then ok; else
  bad "renew --all: rc=$rc $(cat "$work/out")"; fi
rc=0; renew nosuch > "$work/out" 2>&1 || rc=$?
if [ "$rc" -eq 1 ] && grep -q 'no identity "nosuch" in .*: enroll it first' "$work/out"; then ok; else
  bad "renew nosuch: rc=$rc $(cat "$work/out")"; fi
for a in "good --all" "--window 0%" "--exec ''" "a b"; do
  rc=0; eval renew "$a" > "$work/out" 2>&1 || rc=$?
  if [ "$rc" -eq 2 ]; then ok; else bad "renew $a: rc=$rc (want 2) $(cat "$work/out")"; fi
done
rc=0; "$B" renew --state-dir "$S" > "$work/out" 2>&1 || rc=$?
if [ "$rc" -eq 2 ] && grep -q -- '--ca is required' "$work/out"; then ok; else bad "renew without --ca: rc=$rc"; fi
finish test_status
