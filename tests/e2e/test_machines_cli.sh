#!/usr/bin/env bash
# `rattest-verifier machines` and `revoke` as an operator uses them, on a
# SQLite file or (with "postgresql", under tests/harness/with-postgres) on
# $RATTEST_PG_URL: machines registered by EK hash and by a real EK
# certificate (vendor and model read from it), list and show in text and
# JSON (parsed by python), a name bound to another EK refused, remove;
# revocation by name, serial and EK and its undo; usage errors naming the
# option (exit 2, nothing written), failures exit 1.
# Usage: test_machines_cli.sh BUILD_DIR EKCERT_DATA_DIR [sqlite|postgresql]
set -euo pipefail
build=${1:?usage} data=${2:?usage} engine=${3:-sqlite}
V="$build/bin/rattest-verifier"
PY=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"

if [ "$engine" = postgresql ]; then
  db=${RATTEST_PG_URL:?run under tests/harness/with-postgres}
  sql() { psql -qtA -v ON_ERROR_STOP=1 "$db" -c "$1"; }
  created() { [ "$(sql "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'schema_version'")" != 0 ]; }
else
  db="$work/registry.db"
  sql() { "$PY" -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()' "$db" "$1"; }
  created() { [ -e "$db" ]; }
fi
# expect STATUS PATTERN CMD...: exit status and a pattern in stdout+stderr.
expect() {
  local want=$1 pat=$2; shift 2
  set +e; "$@" > "$work/out" 2>&1; local rc=$?; set -e
  if [ "$rc" -eq "$want" ] && grep -qE -- "$pat" "$work/out"; then ok; else
    bad "$* -> rc=$rc (want $want, /$pat/), output: $(head -c 400 "$work/out")"; fi
}
# json FILE PYTHON-EXPR: the expression over the parsed file `d` holds.
json() {
  if "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert eval(sys.argv[2]), d' \
    "$1" "$2" > "$work/py" 2>&1; then ok; else bad "json $2: $(tail -n 2 "$work/py")"; fi
}

A=$(printf 'A%.0s' $(seq 64)) a=$(printf 'a%.0s' $(seq 64)) b=$(printf 'b%.0s' $(seq 64))
cert="$data/google-vtpm/uca_tpm_rsa_enc_cert.pem"
# The EK hash as openssl computes it: SHA-256 of the SubjectPublicKeyInfo.
g=$(openssl x509 -in "$cert" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)

# Usage errors name the option, exit 2, and create nothing.
expect 2 '--db: required' "$V" machines list
if created; then bad "a usage error created the registry"; else ok; fi
expect 2 '--ek-sha256: an EK SHA-256 is 64 hex digits' "$V" machines add --name web01 --ek-sha256 xyz --db "$db"
expect 2 '--name: ' "$V" machines add --name ../x --ek-sha256 "$a" --db "$db"
expect 2 'add: needs --name' "$V" machines add --ek-sha256 "$a" --db "$db"
expect 2 '--ek-sha256: excludes --ek-cert' "$V" machines add --name w --ek-sha256 "$a" --ek-cert "$cert" --db "$db"
expect 2 'show: one NAME' "$V" machines show --db "$db"
expect 2 'frob: unknown action' "$V" machines frob --db "$db"
expect 2 "list: --name, --ek-sha256 and --ek-cert are add's" "$V" machines list --name x --db "$db"
expect 2 '--ek: an EK SHA-256' "$V" revoke --ek 12 --db "$db"
expect 2 '--serial: a serial is 1-40' "$V" revoke --serial xyz --db "$db"
expect 2 '--undo: only with --ek' "$V" revoke web01 --undo --db "$db"
expect 2 '--reason: a reason is 1-256 printable' "$V" revoke web01 --reason "$(printf 'a\nb')" --db "$db"
expect 2 'NAME: one of NAME, --serial and --ek' "$V" revoke web01 --serial 0a --db "$db"
expect 2 'what to revoke' "$V" revoke --db "$db"
if created; then bad "a usage error created the registry"; else ok; fi
expect 1 '--db: ' "$V" machines list --db "$work/no/such/dir/x.db"

# Register: by hash (upper case taken), by certificate; a taken name refused.
expect 0 "web01 bound to EK $a" "$V" machines add --name web01 --ek-sha256 "$A" --db "$db"
expect 0 "gce01 bound to EK $g" "$V" machines add --name gce01 --ek-cert "$cert" --db "$db"
expect 1 "web01 is bound to EK $a; remove it first" "$V" machines add --name web01 --ek-sha256 "$b" --db "$db"
expect 0 "web01 bound to EK $a" "$V" machines add --name web01 --ek-sha256 "$a" --db "$db"
expect 1 "--ek-cert .*" "$V" machines add --name x --ek-cert "$work/none.pem" --db "$db"
"$V" machines list --json --db "$db" > "$work/list.json"
json "$work/list.json" "len(d) == 2 and sorted(m['ek_sha256'] for m in d) == sorted(['$a', '$g'])"
json "$work/list.json" "[m['names'] for m in d if m['ek_sha256'] == '$g'] == [['gce01']]"
json "$work/list.json" "[(m['tpm_vendor'], m['tpm_model']) for m in d if m['ek_sha256'] == '$g'] == [('GOOG', 'vTPM')]"
json "$work/list.json" "all(m['revoked'] is False and m['last_enrolled'] is None for m in d)"
expect 0 "$g +GOOG +vTPM +- +active +gce01" "$V" machines list --db "$db"
"$V" machines show gce01 --json --db "$db" > "$work/show.json"
openssl x509 -in "$cert" -outform DER -out "$work/cert.der"
json "$work/show.json" "__import__('base64').b64decode(d['ek_cert']) == open('$work/cert.der', 'rb').read()"
json "$work/show.json" "d['identities'] == [] and d['revocation'] is None"
expect 0 "tpm: +vendor GOOG, model vTPM" "$V" machines show gce01 --db "$db"
expect 1 "no machine has the name nosuch" "$V" machines show nosuch --db "$db"

# Certificates as enrollment records them; then revocation.
now=$(date +%s)
sql "INSERT INTO identities (serial, name, ek_sha256, issued, not_after, status) VALUES ('0a01', 'web01', '$a', $now, $((now + 86400)), 'active')"
sql "INSERT INTO identities (serial, name, ek_sha256, issued, not_after, status) VALUES ('0a02', 'web01', '$a', $((now + 1)), $((now + 86400)), 'active')"
sql "INSERT INTO identities (serial, name, ek_sha256, issued, not_after, status) VALUES ('0b01', 'gce01', '$g', $now, $((now + 86400)), 'active')"
expect 0 '^1 certificate\(s\) revoked' "$V" revoke --serial 0A01 --reason "key lost" --db "$db"
expect 1 'no active certificate with the serial 0a01' "$V" revoke --serial 0a01 --db "$db"
expect 0 '^1 certificate\(s\) revoked' "$V" revoke web01 --db "$db"
expect 1 'no active certificate for the name web01' "$V" revoke web01 --db "$db"
"$V" machines show web01 --json --db "$db" > "$work/web.json"
json "$work/web.json" "[(i['serial'], i['status'], i['revoked_reason']) for i in d['identities']] == [('0a01', 'revoked', 'key lost'), ('0a02', 'revoked', 'unspecified')]"
expect 0 "EK $g revoked; 1 certificate\(s\) revoked" "$V" revoke --ek "$g" --reason stolen --db "$db"
expect 0 "$g .* revoked +gce01" "$V" machines list --db "$db"
"$V" machines show gce01 --json --db "$db" > "$work/gce.json"
json "$work/gce.json" "d['revoked'] and d['revocation']['reason'] == 'stolen' and d['identities'][0]['status'] == 'revoked'"
expect 0 "EK $g may enroll again" "$V" revoke --ek "$g" --undo --db "$db"
expect 1 "the EK $g is not revoked" "$V" revoke --ek "$g" --undo --db "$db"
"$V" machines show gce01 --json --db "$db" > "$work/gce.json"
json "$work/gce.json" "not d['revoked'] and d['identities'][0]['status'] == 'revoked'"
# An EK never seen can be revoked before it enrolls.
expect 0 "EK $b revoked; 0 certificate" "$V" revoke --ek "$b" --db "$db"

# Remove: the binding goes, the machine and its certificates stay.
expect 0 'gce01 unbound' "$V" machines remove gce01 --db "$db"
expect 1 'the name gce01 is bound to no EK' "$V" machines remove gce01 --db "$db"
"$V" machines list --json --db "$db" > "$work/list.json"
json "$work/list.json" "[m['names'] for m in d if m['ek_sha256'] == '$g'] == [[]]"
expect 0 "ek_sha256: +$g" "$V" machines show gce01 --db "$db"
if [ "$engine" = sqlite ]; then
  [ "$(stat -c %a "$db")" = 600 ] && ok || bad "registry file mode $(stat -c %a "$db")"
fi

finish "machines_cli_$engine"
