/* The machine registry (verifier/registry/store.h) on a real engine: a
 * SQLite file in a temp dir, or the PostgreSQL server tests/harness/
 * with-postgres starts (RATTEST_PG_URL). Migrations run twice without harm
 * and refuse a newer schema; a token id is consumed once, also when two
 * processes race for the same ids; expired ids are purged; machines,
 * identities, name bindings, revocation and decisions round trip through
 * list and show; an accepted Finish's rows commit together or not at all;
 * values that would be SQL travel as data.
 *
 * Usage: test_registry sqlite | postgresql */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rt_test.h"
#include "store.h"
#include "store_internal.h"

static const time_t NOW = 1700000000;
static char db[4200];

static const char *EK_A = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char *EK_B = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
static const char *EK_C = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

static rt_store *open_store(void) {
  rt_store *s = NULL;
  rt_err err;
  if (rt_store_open(db, &s, &err) != RT_OK) {
    fprintf(stderr, "open: %s\n", err.msg);
    return NULL;
  }
  return s;
}

/* A statement on a connection of the store's pool, for what no operation
 * does. */
static rt_code raw(rt_store *s, const char *sql, rt_store_rows *rows, rt_err *err) {
  rt_store_link *l = rt_store_acquire(s);
  rt_code code = rt_store_exec(l, sql, NULL, 0, rows, err);
  rt_store_release(s, l);
  return code;
}

static void test_migrations(void) {
  rt_err err;
  rt_store *s = open_store();
  CHECK(s != NULL, "first open");
  if (s == NULL)
    return;
  rt_store_close(s);
  s = open_store();
  CHECK(s != NULL, "second open (migrations already applied)");
  if (s == NULL)
    return;
  int64_t v = 0;
  CHECK(rt_store_schema_version(s, &v, &err) == RT_OK && v == RT_STORE_SCHEMA_VERSION,
        "version %lld", (long long)v);
  rt_store_rows rows = {0};
  CHECK(raw(s, "SELECT COUNT(*) FROM schema_version", &rows, &err) == RT_OK &&
            rt_store_int(&rows, 0, 0) == RT_STORE_SCHEMA_VERSION,
        "one row per applied migration, not one per open");
  rt_store_rows_free(&rows);
  /* A database a newer rattest migrated. */
  CHECK(raw(s, "INSERT INTO schema_version (version, applied) VALUES (99, 0)", NULL, &err) == RT_OK,
        "%s", err.msg);
  rt_store *newer = NULL;
  CHECK(rt_store_open(db, &newer, &err) == RT_E_INVALID, "a newer schema opened");
  CHECK_STR_CONTAINS(err.msg, "schema version 99, newer than this rattest's");
  rt_store_close(newer);
  CHECK(raw(s, "DELETE FROM schema_version WHERE version = 99", NULL, &err) == RT_OK, "%s",
        err.msg);
  rt_store_close(s);
}

static bool consume(rt_store *s, uint8_t tag, time_t expires, time_t now, bool *fresh) {
  uint8_t id[16];
  memset(id, tag, sizeof id);
  rt_err err;
  rt_code code = rt_store_token_consume(s, id, sizeof id, expires, now, fresh, &err);
  if (code != RT_OK)
    fprintf(stderr, "consume %02x: %s\n", tag, err.msg);
  return code == RT_OK;
}

static void test_tokens(rt_store *s) {
  bool fresh = false;
  rt_err err;
  CHECK(consume(s, 1, NOW + 300, NOW, &fresh) && fresh, "first consume");
  CHECK(consume(s, 1, NOW + 300, NOW, &fresh) && !fresh, "second consume is a replay");
  CHECK(consume(s, 1, NOW + 300, NOW + 299, &fresh) && !fresh, "a replay until it expires");
  CHECK(consume(s, 2, NOW + 1, NOW, &fresh) && fresh, "short-lived id");
  /* At NOW + 5 id 2 has expired and is purged by the next consume, so it
   * can be recorded again (its token no longer opens anyway). */
  CHECK(consume(s, 3, NOW + 300, NOW + 5, &fresh) && fresh, "id 3");
  rt_store_rows rows = {0};
  CHECK(raw(s, "SELECT COUNT(*) FROM consumed_tokens", &rows, &err) == RT_OK &&
            rt_store_int(&rows, 0, 0) == 2,
        "expired id purged: %lld live", (long long)rt_store_int(&rows, 0, 0));
  rt_store_rows_free(&rows);
  uint8_t id[65] = {0};
  CHECK(rt_store_token_consume(s, id, 0, NOW + 1, NOW, &fresh, &err) == RT_E_INVALID, "empty id");
  CHECK(rt_store_token_consume(s, id, 65, NOW + 1, NOW, &fresh, &err) == RT_E_INVALID, "65 bytes");
  CHECK(rt_store_token_consume(s, id, 16, NOW, NOW, &fresh, &err) == RT_E_INVALID, "expired");
  CHECK(rt_store_token_consume(s, id, 64, NOW + 1, NOW, &fresh, &err) == RT_OK && fresh, "64");
}

#define RACE_TOKENS 200

/* A child racing for every id of the race: its own connection, waits at
 * the barrier, writes one byte per id (1: it consumed it) to out. Child 0
 * takes the ids in order, child 1 backwards: every id is tried by both,
 * and around where they meet at the same moment. */
static int race_child(int child, int barrier, int out) {
  rt_store *s = open_store();
  char go;
  if (s == NULL || read(barrier, &go, 1) != 1)
    return 2;
  uint8_t won[RACE_TOKENS];
  for (int k = 0; k < RACE_TOKENS; k++) {
    int i = child == 0 ? k : RACE_TOKENS - 1 - k;
    uint8_t id[32];
    memset(id, 0x70, sizeof id);
    memcpy(id, &i, sizeof i);
    bool fresh = false;
    rt_err err;
    if (rt_store_token_consume(s, id, sizeof id, NOW + 600, NOW, &fresh, &err) != RT_OK) {
      fprintf(stderr, "child %d: %s\n", (int)getpid(), err.msg);
      return 1;
    }
    won[i] = fresh;
  }
  rt_store_close(s);
  return write(out, won, sizeof won) == (ssize_t)sizeof won ? 0 : 3;
}

/* Two processes consume the same ids at once: each id is won exactly once. */
static void test_token_race(void) {
  int barrier[2], out[2][2];
  if (pipe(barrier) != 0 || pipe(out[0]) != 0 || pipe(out[1]) != 0) {
    CHECK(false, "pipe: %s", strerror(errno));
    return;
  }
  pid_t pid[2];
  for (int c = 0; c < 2; c++) {
    fflush(NULL);
    pid[c] = fork();
    if (pid[c] == 0) {
      close(barrier[1]);
      _exit(race_child(c, barrier[0], out[c][1]));
    }
    close(out[c][1]);
  }
  close(barrier[0]);
  /* Both children block on the barrier until it is released at once. */
  CHECK(write(barrier[1], "gg", 2) == 2, "barrier");
  close(barrier[1]);
  uint8_t won[2][RACE_TOKENS];
  for (int c = 0; c < 2; c++) {
    int status = -1;
    ssize_t n = read(out[c][0], won[c], RACE_TOKENS);
    waitpid(pid[c], &status, 0);
    close(out[c][0]);
    CHECK(n == RACE_TOKENS && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "child %d: %zd bytes, status %d", c, n, status);
  }
  int twice = 0, never = 0, first = 0;
  for (int i = 0; i < RACE_TOKENS; i++) {
    twice += won[0][i] && won[1][i];
    never += !won[0][i] && !won[1][i];
    first += won[0][i];
  }
  CHECK(twice == 0 && never == 0, "%d ids consumed twice, %d never", twice, never);
  printf("race: child 0 won %d ids, child 1 %d\n", first, RACE_TOKENS - first);
}

static void test_machines(rt_store *s) {
  rt_err err;
  const uint8_t cert[] = {0x30, 0x03, 0x02, 0x01, 0x00};
  rt_store_machine m = {.ek_sha256 = EK_A,
                        .ek_cert = cert,
                        .ek_cert_len = sizeof cert,
                        .tpm_vendor = "GOOG",
                        .tpm_model = "vTPM",
                        .platform_json = "{\"manufacturer\":\"Acme\"}"};
  CHECK(rt_store_machine_enrolled(s, &m, NOW, &err) == RT_OK, "%s", err.msg);
  rt_store_machine again = {.ek_sha256 = EK_A};
  CHECK(rt_store_machine_enrolled(s, &again, NOW + 60, &err) == RT_OK, "%s", err.msg);
  rt_store_machine bad = {.ek_sha256 = "AAAA"};
  CHECK(rt_store_machine_enrolled(s, &bad, NOW, &err) == RT_E_INVALID, "short upper-case EK");
  bad.ek_sha256 = EK_B;
  bad.tpm_model = "v\nTPM";
  CHECK(rt_store_machine_add(s, &bad, NOW, &err) == RT_E_INVALID, "a newline in the model");
  rt_store_identity id = {.name = "web01", .ek_sha256 = EK_A, .serial = "0a1b", .not_after = NOW};
  CHECK(rt_store_identity_issued(s, &id, NOW, &err) == RT_OK, "%s", err.msg);
  CHECK(rt_store_identity_issued(s, &id, NOW, &err) == RT_E_INVALID, "the same serial twice");
  id.serial = "0A1B";
  CHECK(rt_store_identity_issued(s, &id, NOW, &err) == RT_E_INVALID, "upper-case serial");
  id.serial = "0c";
  id.ek_sha256 = EK_C;
  CHECK(rt_store_identity_issued(s, &id, NOW, &err) == RT_E_INVALID, "an EK never enrolled");
  rt_store_decision d = {.at = NOW,
                         .method = "Finish",
                         .code = "OK",
                         .peer = "ipv4:10.0.0.1:5",
                         .name = "web01",
                         .ek_sha256 = EK_A};
  CHECK(rt_store_decision_add(s, &d, &err) == RT_OK, "%s", err.msg);
  char long_peer[300];
  memset(long_peer, 'p', sizeof long_peer - 1);
  long_peer[sizeof long_peer - 1] = 0;
  d.peer = long_peer;
  CHECK(rt_store_decision_add(s, &d, &err) == RT_E_INVALID, "a 299-byte peer");
}

static void test_names(rt_store *s) {
  rt_err err;
  bool taken = true;
  char owner[RT_STORE_EK_HEX + 1] = "";
  CHECK(rt_store_bind_name(s, "web01", EK_A, NOW, &taken, &err) == RT_OK && !taken, "bind");
  CHECK(rt_store_bind_name(s, "web01", EK_A, NOW, &taken, &err) == RT_OK && !taken, "rebind");
  CHECK(rt_store_bind_name(s, "web01", EK_B, NOW, &taken, &err) == RT_OK && taken, "taken");
  CHECK(rt_store_name_owner(s, "web01", owner, &err) == RT_OK && strcmp(owner, EK_A) == 0,
        "owner %s", owner);
  CHECK(rt_store_bind_name(s, "db01", EK_B, NOW, &taken, &err) == RT_OK && !taken, "EK B");
  CHECK(rt_store_bind_name(s, "../x", EK_B, NOW, &taken, &err) == RT_E_INVALID, "bad name");
  CHECK(rt_store_bind_name(s, "x", "xyz", NOW, &taken, &err) == RT_E_INVALID, "bad EK");
  CHECK(rt_store_bind_name(s, "spare", EK_B, NOW, &taken, &err) == RT_OK && !taken, "spare");
  CHECK(rt_store_unbind_name(s, "spare", &err) == RT_OK, "%s", err.msg);
  CHECK(rt_store_unbind_name(s, "spare", &err) == RT_E_NOT_FOUND, "unbind twice");
  CHECK(rt_store_name_owner(s, "spare", owner, &err) == RT_E_NOT_FOUND, "unbound owner");
}

static void test_revocation(rt_store *s) {
  rt_err err;
  size_t n = 99;
  bool revoked = true;
  rt_store_identity id = {.name = "web01", .ek_sha256 = EK_A, .serial = "0d", .not_after = NOW};
  CHECK(rt_store_identity_issued(s, &id, NOW + 1, &err) == RT_OK, "%s", err.msg);
  CHECK(rt_store_revoke(s, RT_STORE_BY_SERIAL, "0a1b", "key lost", NOW, &n, &err) == RT_OK &&
            n == 1,
        "by serial: %zu", n);
  CHECK(rt_store_revoke(s, RT_STORE_BY_SERIAL, "0a1b", "again", NOW, &n, &err) == RT_E_NOT_FOUND,
        "a revoked serial again");
  CHECK(rt_store_revoke(s, RT_STORE_BY_NAME, "nobody", "x", NOW, &n, &err) == RT_E_NOT_FOUND,
        "unknown name");
  CHECK(rt_store_revoke(s, RT_STORE_BY_NAME, "web01", "bad\nreason", NOW, &n, &err) == RT_E_INVALID,
        "a newline in the reason");
  CHECK(rt_store_revoke(s, RT_STORE_BY_NAME, "web01", "", NOW, &n, &err) == RT_E_INVALID, "empty");
  /* Stored as data: the statement around it is not changed. */
  const char *sql = "x'); DROP TABLE machines; --";
  CHECK(rt_store_revoke(s, RT_STORE_BY_EK, EK_A, sql, NOW + 2, &n, &err) == RT_OK && n == 1,
        "by EK: %zu certificates", n);
  CHECK(rt_store_is_ek_revoked(s, EK_A, &revoked, &err) == RT_OK && revoked, "A revoked");
  CHECK(rt_store_revoke(s, RT_STORE_BY_EK, EK_C, "never seen", NOW, &n, &err) == RT_OK && n == 0,
        "an EK never seen");
  CHECK(rt_store_is_ek_revoked(s, EK_C, &revoked, &err) == RT_OK && revoked, "C revoked");
  CHECK(rt_store_unrevoke_ek(s, EK_C, &err) == RT_OK, "%s", err.msg);
  CHECK(rt_store_is_ek_revoked(s, EK_C, &revoked, &err) == RT_OK && !revoked, "C unrevoked");
  CHECK(rt_store_unrevoke_ek(s, EK_C, &err) == RT_E_NOT_FOUND, "unrevoke twice");
  CHECK(rt_store_is_ek_revoked(s, EK_B, &revoked, &err) == RT_OK && !revoked, "B never");
}

/* The CRL's query: every revoked certificate, by serial, with its reason
 * and times, and the count serve polls. */
static void test_revoked_list(rt_store *s) {
  rt_err err;
  int64_t count = -1;
  rt_store_revoked *l = NULL;
  size_t n = 0;
  CHECK(rt_store_revoked_count(s, &count, &err) == RT_OK && count == 2, "count %lld",
        (long long)count);
  CHECK(rt_store_revoked_list(s, &l, &n, &err) == RT_OK && n == 2, "list: %zu", n);
  if (n == 2)
    CHECK(strcmp(l[0].serial, "0a1b") == 0 && strcmp(l[0].reason, "key lost") == 0 &&
              l[0].revoked_at == NOW && l[0].not_after == NOW && strcmp(l[1].serial, "0d") == 0 &&
              strcmp(l[1].reason, "x'); DROP TABLE machines; --") == 0 &&
              l[1].revoked_at == NOW + 2,
          "entries %s %s", l[0].serial, l[1].serial);
  rt_store_revoked_free(l, n);
  /* An active certificate is not listed; revoking it is. */
  rt_store_identity id = {.name = "db01", .ek_sha256 = EK_B, .serial = "ff", .not_after = NOW};
  /* EK B has its row from its name binding (test_names). */
  CHECK(rt_store_identity_issued(s, &id, NOW, &err) == RT_OK, "%s", err.msg);
  CHECK(rt_store_revoked_count(s, &count, &err) == RT_OK && count == 2, "active counted");
  size_t k = 0;
  CHECK(rt_store_revoke(s, RT_STORE_BY_SERIAL, "ff", "superseded", NOW + 3, &k, &err) == RT_OK,
        "%s", err.msg);
  CHECK(rt_store_revoked_count(s, &count, &err) == RT_OK && count == 3, "count %lld",
        (long long)count);
  CHECK(rt_store_revoked_list(s, &l, &n, &err) == RT_OK && n == 3 &&
            strcmp(l[2].serial, "ff") == 0 && strcmp(l[2].reason, "superseded") == 0,
        "list after: %zu", n);
  rt_store_revoked_free(l, n);
}

/* Whether obj's "names" is exactly [name]. */
static bool names_are(json_t *obj, const char *name) {
  json_t *names = json_object_get(obj, "names");
  const char *first = json_string_value(json_array_get(names, 0));
  return json_array_size(names) == 1 && first != NULL && strcmp(first, name) == 0;
}

static void test_list(rt_store *s) {
  rt_err err;
  json_t *list = NULL;
  CHECK(rt_store_machines_list(s, &list, &err) == RT_OK, "%s", err.msg);
  char *text = list != NULL ? json_dumps(list, JSON_SORT_KEYS) : NULL;
  /* EK A (enrolled at NOW, again at NOW + 60, revoked), B (names only). */
  CHECK(json_array_size(list) == 2, "%s", text ? text : "");
  json_t *a = json_array_get(list, 0), *b = json_array_get(list, 1);
  CHECK(names_are(a, "web01"), "%s", text);
  CHECK(json_integer_value(json_object_get(a, "first_enrolled")) == NOW &&
            json_integer_value(json_object_get(a, "last_enrolled")) == NOW + 60,
        "%s", text);
  CHECK(json_is_true(json_object_get(a, "revoked")) && json_is_false(json_object_get(b, "revoked")),
        "%s", text);
  CHECK(names_are(b, "db01") && json_is_null(json_object_get(b, "last_enrolled")), "%s", text);
  free(text);
  json_decref(list);

  json_t *m = NULL;
  CHECK(rt_store_machine_show(s, "web01", &m, &err) == RT_OK, "%s", err.msg);
  text = m != NULL ? json_dumps(m, JSON_SORT_KEYS) : NULL;
  json_t *ids = json_object_get(m, "identities");
  CHECK(json_array_size(ids) == 2, "%s", text ? text : "");
  CHECK_STR_CONTAINS(text ? text : "", "\"ek_cert\": \"MAMCAQA=\"");
  CHECK_STR_CONTAINS(text ? text : "", "\"platform\": {\"manufacturer\": \"Acme\"}");
  CHECK_STR_CONTAINS(text ? text : "", "\"reason\": \"x'); DROP TABLE machines; --\"");
  CHECK_STR_CONTAINS(text ? text : "", "\"revoked_reason\": \"key lost\"");
  CHECK_STR_CONTAINS(text ? text : "", "\"tpm_vendor\": \"GOOG\"");
  free(text);
  json_decref(m);
  CHECK(rt_store_machine_show(s, "nosuch", &m, &err) == RT_E_NOT_FOUND, "unknown name");
  CHECK(rt_store_machine_show(s, "a/b", &m, &err) == RT_E_INVALID, "bad name");
}

/* The SQLite file: 0600, in WAL mode. */
static void test_sqlite_file(rt_store *s) {
  struct stat st;
  CHECK(stat(db, &st) == 0 && (st.st_mode & 0777) == 0600, "mode %o", st.st_mode & 0777);
  rt_store_rows rows = {0};
  rt_err err;
  CHECK(raw(s, "PRAGMA journal_mode", &rows, &err) == RT_OK &&
            strcmp(rt_store_text(&rows, 0, 0), "wal") == 0,
        "journal mode");
  rt_store_rows_free(&rows);
}

static int64_t count_of(rt_store *s, const char *sql) {
  rt_err err;
  rt_store_rows rows = {0};
  int64_t n = raw(s, sql, &rows, &err) == RT_OK ? rt_store_int(&rows, 0, 0) : -1;
  rt_store_rows_free(&rows);
  return n;
}

static void old_decision(rt_store *s, time_t at) {
  rt_err err;
  rt_store_decision d = {.at = at, .method = "Retention", .code = "OK", .ek_sha256 = EK_C};
  CHECK(rt_store_decision_add(s, &d, &err) == RT_OK, "%s", err.msg);
}

#define RETAINED "SELECT COUNT(*) FROM decisions WHERE method = 'Retention'"

#define TX_DECISIONS "SELECT COUNT(*) FROM decisions WHERE method = 'TxFinish'"
#define TX_ENROLLED                                                                                \
  "SELECT last_enrolled FROM machines WHERE ek_sha256 = "                                          \
  "'dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd'"

/* An accepted Finish's rows are one transaction: when the certificate's
 * insert fails (here a serial already issued), neither its decision nor
 * the enrollment time stays, and the connection serves the next one. */
static void test_enrollment_issued(rt_store *s) {
  rt_err err;
  const char *ek = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
  rt_store_decision d = {
      .at = NOW, .method = "TxFinish", .code = RT_STORE_ACCEPTED, .ek_sha256 = ek};
  rt_store_machine m = {.ek_sha256 = ek};
  rt_store_identity id = {.name = "tx01", .ek_sha256 = ek, .serial = "7d01", .not_after = NOW};
  CHECK(rt_store_enrollment_issued(s, &d, &m, &id, &err) == RT_OK, "%s", err.msg);
  CHECK(count_of(s, TX_DECISIONS) == 1 && count_of(s, TX_ENROLLED) == NOW, "first committed");
  CHECK(count_of(s, "SELECT COUNT(*) FROM identities WHERE serial = '7d01'") == 1, "identity");
  d.at = NOW + 60;
  CHECK(rt_store_enrollment_issued(s, &d, &m, &id, &err) == RT_E_INVALID, "the same serial twice");
  CHECK(count_of(s, TX_DECISIONS) == 1 && count_of(s, TX_ENROLLED) == NOW,
        "a failed certificate insert left its decision or enrollment time");
  id.serial = "7d02";
  CHECK(rt_store_enrollment_issued(s, &d, &m, &id, &err) == RT_OK, "after a rollback: %s", err.msg);
  CHECK(count_of(s, TX_DECISIONS) == 2 && count_of(s, TX_ENROLLED) == NOW + 60, "second committed");
}

/* serve --decisions-keep: decisions older than the cut and spent token ids
 * go; newer ones and live ids stay; on a schedule, once an hour. */
static void test_retention(rt_store *s) {
  rt_err err;
  time_t now = time(NULL), day = 86400;
  size_t nd = 0, nt = 0;
  bool fresh = false;
  old_decision(s, now - 100 * day);
  old_decision(s, now - 91 * day);
  old_decision(s, now - 89 * day);
  /* "live" first: consuming purges expired ids itself. */
  CHECK(rt_store_token_consume(s, (const uint8_t *)"live", 4, now + 60, now, &fresh, &err) == RT_OK,
        "%s", err.msg);
  CHECK(raw(s, "INSERT INTO consumed_tokens (id, expires) VALUES ('dead', 10)", NULL, &err) ==
            RT_OK,
        "%s", err.msg);
  CHECK(rt_store_prune(s, now - 90 * day, now, &nd, &nt, &err) == RT_OK, "%s", err.msg);
  CHECK(nd >= 2 && nt == 1, "pruned %zu decisions, %zu tokens", nd, nt);
  CHECK(count_of(s, RETAINED) == 1, "the 89-day-old decision kept, the older gone");
  CHECK(count_of(s, "SELECT COUNT(*) FROM consumed_tokens WHERE id = '6c697665'") == 1,
        "a live token id kept");
  /* On a schedule: nothing without retention, then at once, then hourly. */
  old_decision(s, now - 100 * day);
  CHECK(rt_store_prune_due(s, now, &nd, &nt, &err) == RT_OK && nd == 0, "pruned without retention");
  rt_store_set_retention(s, 90 * day);
  CHECK(rt_store_prune_due(s, now, &nd, &nt, &err) == RT_OK && nd == 1, "first: %zu", nd);
  old_decision(s, now - 100 * day);
  CHECK(rt_store_prune_due(s, now + 10, &nd, &nt, &err) == RT_OK && nd == 0, "not due: %zu", nd);
  CHECK(count_of(s, RETAINED) == 2, "pruned before the hour");
  CHECK(rt_store_prune_due(s, now + RT_STORE_PRUNE_EVERY, &nd, &nt, &err) == RT_OK && nd == 1,
        "an hour later: %zu", nd);
  CHECK(count_of(s, RETAINED) == 1, "the old decision left");
  rt_store_set_retention(s, 0);
}

/* The pool (PostgreSQL): 4 calls holding a connection for 300 ms each run
 * side by side in a pool of 4 (well under the 1.2 s one connection would
 * take) and take turns in a pool of 1. Then the throughput of 8 threads
 * recording decisions through a pool of 1 and of 8, printed. */
typedef struct {
  rt_store *s;
  const char *sql;
  int n;
  rt_code code;
} pool_call;

static void *pool_worker(void *arg) {
  pool_call *c = arg;
  rt_err err;
  c->code = RT_OK;
  for (int i = 0; i < c->n && c->code == RT_OK; i++) {
    if (c->sql != NULL) {
      c->code = raw(c->s, c->sql, NULL, &err);
      continue;
    }
    rt_store_decision d = {.at = 1, .method = "Begin", .code = "OK", .ek_sha256 = EK_C};
    c->code = rt_store_decision_add(c->s, &d, &err);
  }
  return NULL;
}

/* Seconds for threads running pool_worker on a store of the given pool. */
static double pool_run(size_t pool, int threads, const char *sql, int n) {
  rt_store *s = NULL;
  rt_err err;
  if (rt_store_open_pool(db, pool, &s, &err) != RT_OK) {
    CHECK(0, "pool of %zu: %s", pool, err.msg);
    return -1;
  }
  pool_call c[8];
  pthread_t t[8];
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < threads; i++) {
    c[i] = (pool_call){.s = s, .sql = sql, .n = n};
    pthread_create(&t[i], NULL, pool_worker, &c[i]);
  }
  for (int i = 0; i < threads; i++) {
    pthread_join(t[i], NULL);
    CHECK(c[i].code == RT_OK, "pool of %zu: thread %d failed", pool, i);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  rt_store_close(s);
  return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

static void test_pool(void) {
  const char *sleep = "SELECT pg_sleep(0.3)";
  double four = pool_run(4, 4, sleep, 1), one = pool_run(1, 4, sleep, 1);
  CHECK(four >= 0.3 && four < 0.9, "4 calls in a pool of 4 took %.2f s", four);
  CHECK(one >= 1.2, "4 calls in a pool of 1 took %.2f s", one);
  double t1 = pool_run(1, 8, NULL, 100), t8 = pool_run(8, 8, NULL, 100);
  printf("# 800 decisions from 8 threads: pool of 1 %.0f/s, pool of 8 %.0f/s\n", 800 / t1,
         800 / t8);
}

int main(int argc, char **argv) {
  char dir[] = "/tmp/rattest-registry.XXXXXX";
  bool sqlite = argc == 2 && strcmp(argv[1], "sqlite") == 0;
  const char *url = getenv("RATTEST_PG_URL");
  if (sqlite && mkdtemp(dir) != NULL) {
    snprintf(db, sizeof db, "%s/registry.db", dir);
  } else if (argc == 2 && strcmp(argv[1], "postgresql") == 0 && url != NULL) {
    snprintf(db, sizeof db, "%s", url);
  } else {
    fprintf(stderr, "usage: test_registry sqlite | postgresql (with RATTEST_PG_URL)\n");
    return 2;
  }
  test_migrations();
  rt_store *s = open_store();
  CHECK(s != NULL, "open");
  if (s != NULL) {
    test_tokens(s);
    test_token_race();
    test_machines(s);
    test_names(s);
    test_revocation(s);
    test_revoked_list(s);
    test_list(s);
    test_retention(s);
    test_enrollment_issued(s);
    if (sqlite)
      test_sqlite_file(s);
    else
      test_pool();
    rt_store_close(s);
  }
  if (sqlite) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
      fprintf(stderr, "could not remove %s\n", dir);
  }
  return rt_test_done(sqlite ? "registry_sqlite" : "registry_postgresql");
}
