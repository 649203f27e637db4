#!/usr/bin/env bash
# Two verifiers sharing a token key (replicas behind one address), on swtpm
# with rt_enroll_tamper: without a registry a Finish replayed at the other
# replica is accepted a second time (the limit docs/protocol.md states);
# with both on one registry (`serve --db`, a SQLite file, or with
# "postgresql" the server of tests/harness/with-postgres) the replay is
# refused TOKEN_REPLAYED by the replica, which never saw the token; a
# session begun at one and finished at the other still enrolls; the same
# Finish sent to both at once is accepted once (TOKEN_REPLAYED). The
# registry then holds the machine (its EK as the audit lines name it, its
# EK certificate, TPM vendor and model,
# last enrollment), each certificate issued (serials as in the audit
# lines) and the decision of every call whose audit line names an EK (a
# forged token's names none and is not recorded). An EK revoked there
# (`revoke --ek`) is refused EK_REVOKED at Begin until `--undo`; a name
# bound to another EK NAME_TAKEN at Begin, and at Finish when bound since;
# under "name_binding": "registered" an unbound name NAME_UNREGISTERED;
# under "ek" any name but the EK's own (tpm-info's rattest_name) NAME_NOT_EK.
# rattest-bootstrap begins again from Begin after a Finish refused
# REGISTRY_FAILED (an injected insert failure) and keeps the listed
# certificate; with every insert failing it gives up at its --timeout and
# leaves nothing. A replica SIGKILLed under rattest-loadgen load loses no
# accepted record.
# On PostgreSQL, the health service says NOT_SERVING while the server is
# stopped and SERVING once it is back.
# Usage (under with-swtpm): test_registry_replicas.sh BUILD_DIR [sqlite|postgresql]
set -euo pipefail
build=${1:?usage} engine=${2:-sqlite}
src=$(cd "$(dirname "$0")/../.." && pwd)
V="$build/bin/rattest-verifier"
T="$build/tests/rt_enroll_tamper"
PY=/usr/bin/python3
export RATTEST_TAMPER_LOG="$src/tests/data/eventlogs/arch-linux-workstation/arch-linux-workstation.bin"
work=$(mktemp -d)
vpid="" vpid2=""
stop_second() {
  if [ -n "$vpid2" ]; then kill "$vpid2" 2> /dev/null || true; wait "$vpid2" 2> /dev/null || true; fi
  vpid2=""
}
trap 'stop_verifier; stop_second; rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/verifier.sh"

if [ "$engine" = postgresql ]; then
  db=${RATTEST_PG_URL:?run under tests/harness/with-postgres}
  query() { psql -qtA -F ' ' -v ON_ERROR_STOP=1 "$db" -c "$1"; }
else
  db="$work/registry.db"
  # Autocommit, as psql: a statement that writes is kept.
  query() { "$PY" -c 'import sqlite3, sys
for r in sqlite3.connect(sys.argv[1], isolation_level=None).execute(sys.argv[2]): print(*r)' "$db" "$1"; }
fi

"$src/certs/mkpki" "$work/pki" > /dev/null
"$build/tests/rt_log_extend" "$RATTEST_TAMPER_LOG" > /dev/null
"$V" token-key "$work/token.key" > /dev/null
# The load generator's manufacturer CA (for the last part), made meanwhile.
"$build/bin/rattest-loadgen" --write-ca "$work/lgca" > /dev/null &
lgca=$!
VERIFIER_ARGS=(--ek-ca "$RATTEST_EK_CA_BUNDLE" --token-key "$work/token.key")

# The second replica, as start_verifier starts the first.
start_second() {
  stop_second
  rm -f "$work/port2"
  "$V" serve --listen 127.0.0.1:0 --tls-cert "$work/pki/server-chain.pem" \
    --tls-key "$work/pki/server.key" --issuer-cert "$work/pki/issuer-chain.pem" \
    --issuer-key "$work/pki/issuer.key" --port-file "$work/port2" "${VERIFIER_ARGS[@]}" "$@" \
    > "$work/audit2.log" 2> "$work/verifier2.log" &
  vpid2=$!
  for _ in $(seq 200); do [ -s "$work/port2" ] && break; sleep 0.05; done
  [ -s "$work/port2" ] || { cat "$work/verifier2.log" >&2; echo "replica did not start" >&2; exit 1; }
  port2=$(cat "$work/port2")
}
# run MUTATION "STATUS CODE" [ENV=VALUE...]: the tool's last result.
run() {
  local m=$1 want=$2 got rc; shift 2
  set +e
  env "$@" "$T" "localhost:$port" "$work/pki/tls-ca.pem" "$m" > "$work/out" 2> "$work/err"
  rc=$?
  set -e
  got=$(grep '^RESULT ' "$work/out" | tail -n 1 | cut -d' ' -f2-)
  if [ "$rc" -eq 0 ] && [ "$got" = "$want" ]; then ok; else
    bad "$m $*: got \"$got\" (rc=$rc), want \"$want\" $(head -c 300 "$work/err")"; fi
}

# between NAME WANT CMD...: an enrollment as NAME whose session the tool
# holds open past Begin (until $work/go exists); CMD runs once the verifier
# has accepted that Begin (its output dropped), then Finish must answer
# WANT.
between() {
  local name=$1 want=$2 n got; shift 2
  n=$(grep -c '"method":"Begin","decision":"accept"' "$work/audit.log" || true)
  rm -f "$work/go"
  env RATTEST_TAMPER_NAME="$name" RATTEST_TAMPER_HOLD="$work/go" "$T" "localhost:$port" \
    "$work/pki/tls-ca.pem" none > "$work/out" 2> "$work/err" &
  local tool=$!
  for _ in $(seq 200); do
    [ "$(grep -c '"method":"Begin","decision":"accept"' "$work/audit.log" || true)" -gt "$n" ] && break
    sleep 0.05
  done
  "$@" > /dev/null
  touch "$work/go"
  wait "$tool" || true
  got=$(grep '^RESULT ' "$work/out" | tail -n 1 | cut -d' ' -f2-)
  [ "$got" = "$want" ] && ok || bad "$name, Finish after '$*': got \"$got\", want \"$want\""
}

# Without a registry: the replica accepts the replay (and says why at start).
start_verifier
start_second
grep -q 'no --db: tokens are single-use per process only' "$work/verifier2.log" && ok ||
  bad "no warning without --db: $(cat "$work/verifier2.log")"
run token-replayed "OK -" RATTEST_TAMPER_REPLAY_AT="localhost:$port2"

# On one registry: the replay is refused by the replica.
start_verifier --db "$db"
start_second --db "$db"
grep -q "registry: $engine, schema version 2" "$work/verifier2.log" && ok ||
  bad "no registry line: $(cat "$work/verifier2.log")"
run token-replayed "PERMISSION_DENIED TOKEN_REPLAYED" RATTEST_TAMPER_REPLAY_AT="localhost:$port2"
tail -n 1 "$work/audit2.log" | grep -q '"decision":"reject","code":"TOKEN_REPLAYED"' && ok ||
  bad "replica audit: $(tail -n 1 "$work/audit2.log")"
# Begun at one, finished at the other.
run none "OK -" RATTEST_TAMPER_FINISH_AT="localhost:$port2"
grep -q '"method":"Finish","decision":"accept"' "$work/audit2.log" && ok || bad "no Finish at the replica"
# The same Finish at both replicas at once: one certificate, one replay.
set +e
env RATTEST_TAMPER_RACE_AT="localhost:$port2" "$T" "localhost:$port" "$work/pki/tls-ca.pem" none \
  > "$work/out" 2> "$work/err"
rc=$?
set -e
got=$(grep '^RESULT ' "$work/out" | tail -n 2 | cut -d' ' -f2- | sort | tr '\n' ';')
[ "$rc" = 0 ] && [ "$got" = "OK -;PERMISSION_DENIED TOKEN_REPLAYED;" ] && ok ||
  bad "race: got \"$got\" (rc=$rc) $(head -c 300 "$work/err")"
stop_verifier
stop_second

# What the registry recorded: both audit logs' accepted Finish lines.
cat "$work/audit.log" "$work/audit2.log" > "$work/all.log"
"$PY" - "$work/all.log" > "$work/expected" <<'PYEOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
fin = [l for l in lines if l["method"] == "Finish" and l["decision"] == "accept"]
print(fin[0]["ek_sha256"])
print(" ".join(sorted(l["key_serial"].lower() for l in fin)))
PYEOF
ek=$(sed -n 1p "$work/expected") serials=$(sed -n 2p "$work/expected")
"$V" machines list --json --db "$db" > "$work/list.json"
"$V" machines show tamper --json --db "$db" > "$work/show.json"
if "$PY" - "$work/list.json" "$work/show.json" "$ek" "$serials" > "$work/py" 2>&1 <<'PYEOF'
import json, sys
machines, m = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert [x["ek_sha256"] for x in machines] == [sys.argv[3]], machines
assert m["first_enrolled"] is not None and m["last_enrolled"] >= m["first_enrolled"], m
got = sorted(i["serial"] for i in m["identities"])
assert got == sys.argv[4].split() and len(got) == 3, (got, sys.argv[4])
assert all(i["name"] == "tamper" and i["status"] == "active" and i["not_after"] > i["issued"]
           for i in m["identities"]), m["identities"]
PYEOF
then ok; else bad "registry contents: $(tail -n 3 "$work/py")"; fi
# The whole EK certificate is kept (its key is the EK), with the TPM's
# vendor and model read from it.
"$PY" -c 'import base64, json, sys; sys.stdout.buffer.write(base64.b64decode(json.load(open(sys.argv[1]))["ek_cert"]))' \
  "$work/show.json" > "$work/ek.der"
spki=$(openssl x509 -inform DER -in "$work/ek.der" -noout -pubkey | openssl pkey -pubin -outform DER |
  sha256sum | cut -d' ' -f1)
"$PY" -c 'import json, sys; m = json.load(open(sys.argv[1])); assert m["tpm_vendor"] and m["tpm_model"], m' \
  "$work/show.json" && [ "$spki" = "$ek" ] && ok || bad "EK certificate or TPM not recorded: $spki $(grep -v ek_cert "$work/show.json" | head -c 600)"
# The decisions recorded are those of the audit lines naming an EK.
query "SELECT method, code, ek_sha256, COUNT(*) FROM decisions GROUP BY method, code, ek_sha256
  ORDER BY method, code" > "$work/recorded"
"$PY" - "$work/all.log" > "$work/audited" <<'PYEOF'
import collections, json, sys
n = collections.Counter()
for path in sys.argv[1:]:
    for line in open(path):
        d = json.loads(line) if line.startswith("{") else {}
        if d.get("ek_sha256"):
            n[(d["method"], d.get("code") or "OK", d["ek_sha256"])] += 1
for k in sorted(n):
    print(*k, n[k])
PYEOF
if diff <(sort "$work/audited") <(sort "$work/recorded") > "$work/diff"; then ok; else bad "decisions: $(cat "$work/diff")"; fi
grep -q '^Begin OK ' "$work/recorded" && grep -q '^Finish OK ' "$work/recorded" && ok ||
  bad "no accepted decisions recorded: $(cat "$work/recorded")"

# A forged token identifies no EK: its refusal is not recorded.
start_verifier --db "$db"
run token-tampered "PERMISSION_DENIED TOKEN_INVALID"
stop_verifier
[ -z "$(query "SELECT code FROM decisions WHERE code = 'TOKEN_INVALID'")" ] && ok ||
  bad "an anonymous refusal recorded"
# An EK the operator revoked cannot enroll (Begin refuses) until the undo.
start_verifier --db "$db"
"$V" revoke --ek "$ek" --reason "test" --db "$db" > /dev/null
run none "PERMISSION_DENIED EK_REVOKED"
tail -n 1 "$work/audit.log" | grep -q '"method":"Begin","decision":"reject","code":"EK_REVOKED"' &&
  ok || bad "revoked EK audit: $(tail -n 1 "$work/audit.log")"
"$V" revoke --ek "$ek" --undo --db "$db" > /dev/null
run none "OK -"

# Names are first come: "tamper" is this EK's now; a name bound to another
# EK is refused at Begin, and at Finish when another EK took it since Begin
# (bound while the tool holds its session between Begin and Finish).
other=$(printf 'b%.0s' $(seq 64))
"$V" machines add --name taken --ek-sha256 "$other" --db "$db" > /dev/null
run none "PERMISSION_DENIED NAME_TAKEN" RATTEST_TAMPER_NAME=taken
tail -n 1 "$work/audit.log" | grep -q '"method":"Begin","decision":"reject","code":"NAME_TAKEN"' &&
  ok || bad "NAME_TAKEN at Begin: $(tail -n 1 "$work/audit.log")"
between late "PERMISSION_DENIED NAME_TAKEN" "$V" machines add --name late --ek-sha256 "$other" --db "$db"
"$V" machines show late --json --db "$db" > "$work/late.json"
"$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["ek_sha256"] == sys.argv[2] and d["identities"] == []' \
  "$work/late.json" "$other" && ok || bad "late: $(cat "$work/late.json")"
stop_verifier

# "name_binding": "registered": only names an operator bound to this EK;
# enrolling binds nothing. Without a registry the policy cannot start.
echo '{"name_binding": "registered"}' > "$work/registered.json"
set +e
"$V" serve --listen 127.0.0.1:0 --tls-cert "$work/pki/server-chain.pem" \
  --tls-key "$work/pki/server.key" --issuer-cert "$work/pki/issuer-chain.pem" \
  --issuer-key "$work/pki/issuer.key" "${VERIFIER_ARGS[@]}" --policy "$work/registered.json" \
  > /dev/null 2> "$work/nodb.log"
rc=$?
set -e
[ "$rc" = 1 ] && grep -q '"registered" needs --db' "$work/nodb.log" && ok ||
  bad "registered without --db: rc=$rc $(cat "$work/nodb.log")"
start_verifier --db "$db" --policy "$work/registered.json"
run none "PERMISSION_DENIED NAME_UNREGISTERED" RATTEST_TAMPER_NAME=unbound
run none "PERMISSION_DENIED NAME_TAKEN" RATTEST_TAMPER_NAME=taken
"$V" machines add --name reg --ek-sha256 "$ek" --db "$db" > /dev/null
run none "OK -" RATTEST_TAMPER_NAME=reg
if "$V" machines show unbound --db "$db" > /dev/null 2>&1; then bad "unbound got bound"; else ok; fi
# The binding removed between Begin and Finish: Finish refuses.
between reg "PERMISSION_DENIED NAME_UNREGISTERED" "$V" machines remove reg --db "$db"
stop_verifier

# Health (issue 16): the health service follows the registry. A watch
# (tests/tools/health_probe.py, from the upstream health.proto; each line
# the watch's status and a Check's) sees NOT_SERVING once the PostgreSQL
# server is stopped (the verifier probes every 2 s) and SERVING once it is
# back (restarted with its own options, postmaster.opts).
if [ "$engine" = postgresql ]; then
  pgdata=$RATTEST_PG_DIR/data
  pgbin=$(dirname "$(head -n 1 "$pgdata/postmaster.opts" | cut -d' ' -f1)")
  as_pg=()
  [ "$(id -u)" = 0 ] && as_pg=(runuser -u "$(stat -c %U "$pgdata")" --)
  start_verifier --db "$db"
  start_health_watch SERVING NOT_SERVING SERVING
  wait_watch "SERVING SERVING" 1 && ok || bad "health watch: $(cat "$work/watch")"
  "${as_pg[@]}" "$pgbin/pg_ctl" stop -D "$pgdata" -m fast -w -s
  wait_watch "NOT_SERVING NOT_SERVING" 2 && ok || bad "PostgreSQL stopped: $(cat "$work/watch")"
  "${as_pg[@]}" "$pgbin/pg_ctl" restart -D "$pgdata" -l "$RATTEST_PG_DIR/server.log" -w -s 2> /dev/null
  wait "$watcher" && wait_watch "SERVING SERVING" 3 && ok || bad "PostgreSQL back: $(cat "$work/watch")"
  grep -q 'health: the registry does not answer: NOT_SERVING' "$work/verifier.log" && ok ||
    bad "no health warning: $(tail -n 3 "$work/verifier.log")"
  stop_verifier
fi

# "name_binding": "ek": the EK's own name only (rt_name_from_ek), which the
# bootstrap's tpm-info reports for its EK certificates; bound first come.
# The rule is the engine's as much as first come is: once, with SQLite.
if [ "$engine" = sqlite ]; then
ek_name="ek-${ek:0:16}"
"$build/bin/rattest-bootstrap" tpm-info --tcti "$RATTEST_TCTI" > "$work/tpm-info.json"
"$PY" -c 'import json, sys
c = json.load(open(sys.argv[1]))["ek_certificates"]
assert sys.argv[2] in [x.get("rattest_name") for x in c], c
assert sys.argv[3] in [x.get("ek_sha256") for x in c], c' "$work/tpm-info.json" "$ek_name" "$ek" &&
  ok || bad "tpm-info names: $(cat "$work/tpm-info.json")"
echo '{"name_binding": "ek"}' > "$work/ek.json"
start_verifier --db "$db" --policy "$work/ek.json"
run none "PERMISSION_DENIED NAME_NOT_EK" RATTEST_TAMPER_NAME=tamper
tail -n 1 "$work/audit.log" | grep -q '"method":"Begin","decision":"reject","code":"NAME_NOT_EK"' &&
  ok || bad "NAME_NOT_EK audit: $(tail -n 1 "$work/audit.log")"
run none "OK -" RATTEST_TAMPER_NAME="$ek_name"
"$V" machines show "$ek_name" --json --db "$db" > "$work/ekname.json"
"$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["ek_sha256"] == sys.argv[2] and sys.argv[3] in d["names"]' \
  "$work/ekname.json" "$ek" "$ek_name" && ok || bad "ek name binding: $(cat "$work/ekname.json")"
stop_verifier
fi

# rattest-bootstrap after a Finish refused REGISTRY_FAILED (a trigger
# failing the next certificate insert): it begins again from Begin within
# its --timeout and keeps the second certificate, the one the registry
# lists (the refused serial nowhere). Then with every insert failing: it
# gives up when --timeout leaves no room to begin again, exit 1, and
# leaves nothing (no state, no key at its handle, no certificate listed).
if [ "$engine" = postgresql ]; then
  # fail_inserts N: a trigger failing each certificate insert while fewer
  # than N Finishes were refused REGISTRY_FAILED; no_fail: gone.
  fail_inserts() {
    query "CREATE OR REPLACE FUNCTION fail_insert() RETURNS trigger LANGUAGE plpgsql AS \$\$
      BEGIN IF (SELECT COUNT(*) FROM decisions WHERE code = 'REGISTRY_FAILED') < $1
      THEN RAISE EXCEPTION 'injected'; END IF; RETURN NEW; END \$\$;
      CREATE TRIGGER fail_insert BEFORE INSERT ON identities FOR EACH ROW EXECUTE FUNCTION fail_insert()"
  }
  no_fail() { query "DROP TRIGGER fail_insert ON identities; DROP FUNCTION fail_insert()"; }
else
  fail_inserts() {
    query "CREATE TRIGGER fail_insert BEFORE INSERT ON identities WHEN (SELECT COUNT(*) FROM decisions
      WHERE code = 'REGISTRY_FAILED') < $1 BEGIN SELECT RAISE(ABORT, 'injected'); END"
  }
  no_fail() { query "DROP TRIGGER fail_insert"; }
fi
# boot NAME HANDLE TIMEOUT: rattest-bootstrap enroll as NAME, its exit status in $rc.
boot() {
  rc=0
  "$build/bin/rattest-bootstrap" enroll --verifier "localhost:$port" --ca "$work/pki/tls-ca.pem" \
    --state-dir "$work/boot-$1" --name "$1" --handle "$2" --event-log "$RATTEST_TAMPER_LOG" \
    --timeout "$3" > "$work/boot.out" 2> "$work/boot.err" || rc=$?
}
start_verifier --db "$db"
fail_inserts 1
boot boot01 0x81000110 30s
no_fail
[ "$rc" = 0 ] && grep -q "refused Finish: INTERNAL REGISTRY_FAILED" "$work/boot.err" &&
  grep -q "beginning again from Begin" "$work/boot.err" && ok || bad "bootstrap: exit $rc $(tail -n 3 "$work/boot.err")"
"$build/bin/rattest-bootstrap" status --state-dir "$work/boot-boot01" --json > "$work/boot.json"
"$V" machines show boot01 --json --db "$db" > "$work/boot-show.json"
"$PY" -c 'import json, subprocess, sys
st, show = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
lines = [json.loads(l) for l in open(sys.argv[3]) if "\"boot01\"" in l]
refused = [l["key_serial"].lower() for l in lines if l.get("code") == "REGISTRY_FAILED"]
cert = [i["cert_file"] for i in st["identities"] if i["name"] == "boot01"][0]
kept = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-serial"], capture_output=True,
                      text=True, check=True).stdout.split("=")[1].strip().lower().lstrip("0")
listed = [i["serial"].lstrip("0") for i in show["identities"] if i["name"] == "boot01"]
assert len(refused) == 1 and listed == [kept] and refused[0].lstrip("0") != kept, (refused, listed, kept)' \
  "$work/boot.json" "$work/boot-show.json" "$work/audit.log" > "$work/py" 2>&1 && ok ||
  bad "bootstrap begun again: $(tail -n 1 "$work/py")"
fail_inserts 1000
boot boot02 0x81000111 10s
no_fail
refusals=$("$PY" -c 'import json, sys
print(sum(1 for l in open(sys.argv[1]) if l.startswith("{") and
          (a := json.loads(l)).get("name") == "boot02" and a.get("code") == "REGISTRY_FAILED"))' "$work/audit.log")
# It stops where the deadline falls: before beginning again, or in a call.
[ "$rc" = 1 ] && [ "$refusals" -ge 2 ] &&
  grep -q -- "--timeout passed: not beginning again\|DEADLINE_EXCEEDED" "$work/boot.err" &&
  ok || bad "bootstrap giving up: exit $rc, $refusals refusals, $(tail -n 2 "$work/boot.err")"
[ ! -e "$work/boot-boot02/state.json" ] && [ -z "$(find "$work/boot-boot02" -type f 2> /dev/null)" ] &&
  ok || bad "bootstrap that gave up left files: $(find "$work/boot-boot02" -type f)"
tpm2_getcap handles-persistent > "$work/persistent"
grep -qi 0x81000111 "$work/persistent" && bad "bootstrap that gave up left a key at 0x81000111" || ok
# Its name stays bound to the EK (Begin binds it), with no certificate.
"$V" machines show boot02 --json --db "$db" > "$work/boot02.json"
"$PY" -c 'import json, sys
ids = [i for i in json.load(open(sys.argv[1]))["identities"] if i["name"] == "boot02"]
assert ids == [], ids' "$work/boot02.json" > "$work/py" 2>&1 &&
  ok || bad "a certificate listed for boot02 though none was issued: $(tail -n 1 "$work/py")"
stop_verifier

# A replica SIGKILLed under load loses no record: every enrollment a load
# generator (rattest-loadgen, software machines named after their EKs)
# counted accepted, at either replica, has its certificate and its accepted
# Finish decision in the registry. The load runs until the doomed replica
# accepted 2, is killed, and the other accepted 2 more (wait-fors, not
# durations: the same test under ASan).
L="$build/bin/rattest-loadgen"
wait "$lgca"
VERIFIER_ARGS=(--ek-ca "$work/lgca/ek-ca.pem" --token-key "$work/token.key")
start_verifier --db "$db"
start_second --db "$db"
load() { # load PORT NAME: in the background, the serials to $work/NAME
  : > "$work/$2"
  "$L" --write-ca "$work/lgca" --verifier "127.0.0.1:$1" --ca "$work/pki/tls-ca.pem" \
    --ek-mix 0:1 --concurrency 2 --duration 120s --timeout 5s --ek-names \
    --serials "$work/$2" > "$work/$2.report" 2>&1 &
}
accepted() { wc -l < "$work/$1"; }
wait_accepted() { # wait_accepted NAME N: until NAME counted N (60 s at most)
  for _ in $(seq 1200); do [ "$(accepted "$1")" -ge "$2" ] && return 0; sleep 0.05; done
  return 1
}
load "$port" kept
lg1=$!
load "$port2" killed
lg2=$!
wait_accepted killed 2 || bad "the replica to kill accepted nothing: $(tail -n 3 "$work/verifier2.log")"
kill -KILL "$vpid2"
wait "$vpid2" 2> /dev/null || true
vpid2=""
wait_accepted kept $(($(accepted kept) + 2)) && ok || bad "the replica left stopped accepting"
kill "$lg1" "$lg2" 2> /dev/null || true
wait "$lg1" "$lg2" 2> /dev/null || true
stop_verifier
query "SELECT i.serial FROM identities i WHERE EXISTS (SELECT 1 FROM decisions d
  WHERE d.method = 'Finish' AND d.code = 'OK' AND d.name = i.name AND d.ek_sha256 = i.ek_sha256)" \
  | sort > "$work/recorded-serials"
sort "$work/kept" "$work/killed" > "$work/accepted-serials"
n_killed=$(accepted killed) n_all=$(wc -l < "$work/accepted-serials")
missing=$(comm -23 "$work/accepted-serials" "$work/recorded-serials" | wc -l)
[ "$n_killed" -ge 2 ] && [ "$missing" = 0 ] && ok ||
  bad "killed replica: $n_all accepted ($n_killed at the killed one), $missing not recorded"
echo "# SIGKILL under load: $n_all enrollments accepted ($n_killed at the killed replica), all recorded"

finish "registry_replicas_$engine"
