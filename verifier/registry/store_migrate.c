/* The registry's schema, as numbered migrations run at start-up: each
 * version's statements run once, in one transaction with the row that
 * records the version in schema_version, so a database is always at exactly
 * one version. A new schema change is a new entry at the end; an applied
 * entry is never edited. The SQL is PostgreSQL's and read by SQLite as is
 * (store_backend.h). */
#include <stdlib.h>
#include <time.h>

#include "store_backend.h"

typedef struct {
  int64_t version;
  const char *const *statements; /* NULL-terminated */
} migration;

/* Version 1: one table per fact. Times are Unix seconds, EKs the hex
 * SHA-256 of their SubjectPublicKeyInfo. */
static const char *const v1[] = {
    /* A machine seen at enrollment or registered by an operator. */
    "CREATE TABLE machines ("
    " ek_sha256 TEXT PRIMARY KEY,"
    " ek_cert BYTEA,"
    " tpm_vendor TEXT,"
    " tpm_model TEXT,"
    " platform TEXT,"
    " added BIGINT NOT NULL,"
    " first_enrolled BIGINT,"
    " last_enrolled BIGINT)",
    /* Which EK a name belongs to. */
    "CREATE TABLE name_bindings ("
    " name TEXT PRIMARY KEY,"
    " ek_sha256 TEXT NOT NULL REFERENCES machines(ek_sha256),"
    " bound_at BIGINT NOT NULL)",
    /* Every certificate issued, and its revocation. */
    "CREATE TABLE identities ("
    " serial TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " ek_sha256 TEXT NOT NULL REFERENCES machines(ek_sha256),"
    " issued BIGINT NOT NULL,"
    " not_after BIGINT NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),"
    " revoked_reason TEXT,"
    " revoked_at BIGINT)",
    "CREATE INDEX identities_by_name ON identities(name)",
    "CREATE INDEX identities_by_ek ON identities(ek_sha256)",
    /* EKs that may not enroll; not tied to a machine row, so that an EK can
     * be refused before it is ever seen. */
    "CREATE TABLE revoked_eks ("
    " ek_sha256 TEXT PRIMARY KEY,"
    " reason TEXT NOT NULL,"
    " revoked_at BIGINT NOT NULL)",
    /* The service's decisions. */
    "CREATE TABLE decisions ("
    " at BIGINT NOT NULL,"
    " method TEXT NOT NULL,"
    " code TEXT NOT NULL,"
    " peer TEXT,"
    " name TEXT,"
    " ek_sha256 TEXT)",
    "CREATE INDEX decisions_by_ek ON decisions(ek_sha256, at)",
    /* The replay guard: the primary key makes a second insert fail. */
    "CREATE TABLE consumed_tokens ("
    " id TEXT PRIMARY KEY,"
    " expires BIGINT NOT NULL)",
    "CREATE INDEX consumed_tokens_by_expiry ON consumed_tokens(expires)",
    NULL,
};

/* The CRL writer (serve --crl-file) counts the revoked certificates every
 * second: a partial index keeps that proportional to the revoked ones, not
 * to every certificate ever issued. */
static const char *const v2[] = {
    "CREATE INDEX identities_revoked ON identities(serial) WHERE status = 'revoked'",
    NULL,
};

static const migration migrations[] = {{1, v1}, {2, v2}};
#define N_MIGRATIONS (sizeof migrations / sizeof migrations[0])
_Static_assert(N_MIGRATIONS == RT_STORE_SCHEMA_VERSION, "one migration per schema version");

static rt_code current_version(const rt_store_backend *ops, rt_store_conn *c, int64_t *v,
                               rt_err *err) {
  rt_store_rows rows = {0};
  rt_code code =
      ops->exec(c, "SELECT COALESCE(MAX(version), 0) FROM schema_version", NULL, 0, &rows, err);
  const rt_store_cell *cell = rt_store_cell_at(&rows, 0, 0);
  if (code == RT_OK && (cell == NULL || cell->null))
    code = rt_err_set(err, RT_E_INTERNAL, "store: no schema version");
  if (code == RT_OK)
    *v = strtoll((const char *)cell->bytes, NULL, 10);
  rt_store_rows_free(&rows);
  return code;
}

static rt_code apply(const rt_store_backend *ops, rt_store_conn *c, const migration *m,
                     rt_err *err) {
  for (size_t i = 0; m->statements[i] != NULL; i++)
    if (ops->exec(c, m->statements[i], NULL, 0, NULL, err) != RT_OK)
      return rt_err_prefix(err, "schema version %lld: ", (long long)m->version);
  rt_store_param p[] = {{.type = RT_SP_INT, .i = m->version},
                        {.type = RT_SP_INT, .i = (int64_t)time(NULL)}};
  return ops->exec(c, "INSERT INTO schema_version (version, applied) VALUES ($1, $2)", p, 2, NULL,
                   err);
}

static rt_code migrate_locked(const rt_store_backend *ops, rt_store_conn *c, rt_err *err) {
  int64_t v = 0;
  if (ops->exec(c,
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version BIGINT PRIMARY KEY,"
                " applied BIGINT NOT NULL)",
                NULL, 0, NULL, err) != RT_OK ||
      current_version(ops, c, &v, err) != RT_OK)
    return err->code;
  if (v > RT_STORE_SCHEMA_VERSION)
    return rt_err_set(err, RT_E_INVALID,
                      "the database is at schema version %lld, newer than this rattest's %d "
                      "(written by a newer version)",
                      (long long)v, RT_STORE_SCHEMA_VERSION);
  for (size_t i = 0; i < N_MIGRATIONS; i++)
    if (migrations[i].version > v && apply(ops, c, &migrations[i], err) != RT_OK)
      return err->code;
  return RT_OK;
}

rt_code rt_store_migrate(const rt_store_backend *ops, rt_store_conn *c, rt_err *err) {
  if (ops->begin_exclusive(c, err) != RT_OK)
    return rt_err_prefix(err, "migrating: ");
  if (migrate_locked(ops, c, err) != RT_OK) {
    rt_err ignored;
    ops->exec(c, "ROLLBACK", NULL, 0, NULL, &ignored);
    return rt_err_prefix(err, "migrating: ");
  }
  if (ops->exec(c, "COMMIT", NULL, 0, NULL, err) != RT_OK)
    return rt_err_prefix(err, "migrating: ");
  return RT_OK;
}
