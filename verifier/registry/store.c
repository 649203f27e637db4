/* The registry's operations over either backend: opening by the --db
 * string, the checks on what goes in, and the SQL (shared by both engines,
 * store_backend.h). A pool of connections serves the callers, one caller
 * per connection at a time. */
#include "store.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rt_hex.h"
#include "rt_name.h"
#include "store_backend.h"
#include "store_internal.h"

/* Longest token id, and longest string a decision takes. */
#define TOKEN_ID_MAX 64
#define DECISION_FIELD_MAX 256

static bool is_pg_url(const char *db) {
  return strncmp(db, "postgresql://", 13) == 0 || strncmp(db, "postgres://", 11) == 0;
}

/* Opens link i; the first one also migrates the schema. */
static rt_code open_link(rt_store *s, const char *db, size_t i, rt_err *err) {
  rt_store_link *l = &s->links[i];
  rt_code code = is_pg_url(db) ? rt_store_pg_open(db, &l->ops, &l->conn, err)
                               : rt_store_sqlite_open(db, &l->ops, &l->conn, err);
  if (code == RT_OK && i == 0 && rt_store_migrate(l->ops, l->conn, err) != RT_OK) {
    l->ops->close(l->conn);
    return err->code;
  }
  if (code != RT_OK)
    return code;
  l->next_free = s->free_links;
  s->free_links = l;
  s->n_links = i + 1;
  return RT_OK;
}

rt_code rt_store_open_pool(const char *db, size_t connections, rt_store **out, rt_err *err) {
  if (db == NULL || db[0] == 0)
    return rt_err_set(err, RT_E_INVALID, "store: empty --db");
  /* SQLite writes one at a time whatever the connections: one is enough. */
  size_t n = !is_pg_url(db) || connections < 1 ? 1 : connections;
  if (n > RT_STORE_POOL_MAX)
    n = RT_STORE_POOL_MAX;
  rt_store *s = calloc(1, sizeof *s);
  rt_store_link *links = calloc(n, sizeof *links);
  if (s == NULL || links == NULL) {
    free(s);
    free(links);
    return rt_err_set(err, RT_E_NOMEM, "store: out of memory");
  }
  s->links = links;
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->freed, NULL);
  rt_code code = RT_OK;
  for (size_t i = 0; i < n && code == RT_OK; i++)
    code = open_link(s, db, i, err);
  if (code != RT_OK) {
    rt_store_close(s);
    return code;
  }
  *out = s;
  return RT_OK;
}

rt_code rt_store_open(const char *db, rt_store **out, rt_err *err) {
  return rt_store_open_pool(db, 1, out, err);
}

void rt_store_close(rt_store *s) {
  if (s == NULL)
    return;
  for (size_t i = 0; i < s->n_links; i++)
    s->links[i].ops->close(s->links[i].conn);
  free(s->links);
  pthread_cond_destroy(&s->freed);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

const char *rt_store_backend_name(const rt_store *s) {
  return s->links[0].ops->name;
}

rt_store_link *rt_store_acquire(rt_store *s) {
  pthread_mutex_lock(&s->lock);
  while (s->free_links == NULL)
    pthread_cond_wait(&s->freed, &s->lock);
  rt_store_link *l = s->free_links;
  s->free_links = l->next_free;
  pthread_mutex_unlock(&s->lock);
  return l;
}

void rt_store_release(rt_store *s, rt_store_link *l) {
  pthread_mutex_lock(&s->lock);
  l->next_free = s->free_links;
  s->free_links = l;
  pthread_cond_signal(&s->freed);
  pthread_mutex_unlock(&s->lock);
}

rt_code rt_store_exec(rt_store_link *l, const char *sql, const rt_store_param *p, size_t n,
                      rt_store_rows *rows, rt_err *err) {
  return l->ops->exec(l->conn, sql, p, n, rows, err);
}

rt_code rt_store_end(rt_store_link *l, rt_code code, bool keep, rt_err *err) {
  if (code == RT_OK && !keep)
    return rt_store_exec(l, "ROLLBACK", NULL, 0, NULL, err);
  if (code == RT_OK)
    code = rt_store_exec(l, "COMMIT", NULL, 0, NULL, err);
  if (code != RT_OK) {
    rt_err ignored;
    rt_store_exec(l, "ROLLBACK", NULL, 0, NULL, &ignored);
  }
  return code;
}

int64_t rt_store_int(const rt_store_rows *rows, size_t row, size_t col) {
  const rt_store_cell *c = rt_store_cell_at(rows, row, col);
  return c == NULL || c->null ? 0 : strtoll((const char *)c->bytes, NULL, 10);
}

const char *rt_store_text(const rt_store_rows *rows, size_t row, size_t col) {
  const rt_store_cell *c = rt_store_cell_at(rows, row, col);
  return c == NULL || c->null ? NULL : (const char *)c->bytes;
}

rt_code rt_store_schema_version(rt_store *s, int64_t *version, rt_err *err) {
  rt_store_rows rows = {0};
  rt_store_link *l = rt_store_acquire(s);
  rt_code code = rt_store_exec(l, "SELECT MAX(version) FROM schema_version", NULL, 0, &rows, err);
  rt_store_release(s, l);
  if (code == RT_OK)
    *version = rt_store_int(&rows, 0, 0);
  rt_store_rows_free(&rows);
  return code;
}

rt_code rt_store_ek_check(const char *hex, rt_err *err) {
  size_t n = hex != NULL ? strlen(hex) : 0;
  bool ok = n == RT_STORE_EK_HEX && strspn(hex, "0123456789abcdef") == n;
  return ok ? RT_OK : rt_err_set(err, RT_E_INVALID, "an EK SHA-256 is 64 lowercase hex digits");
}

rt_code rt_store_serial_check(const char *serial, rt_err *err) {
  size_t n = serial != NULL ? strlen(serial) : 0;
  bool ok = n >= 1 && n <= 40 && strspn(serial, "0123456789abcdef") == n;
  return ok ? RT_OK : rt_err_set(err, RT_E_INVALID, "a serial is 1-40 lowercase hex digits");
}

rt_code rt_store_reason_check(const char *reason, rt_err *err) {
  if (rt_store_printable(reason, RT_STORE_REASON_MAX, false))
    return RT_OK;
  return rt_err_set(err, RT_E_INVALID, "a reason is 1-%d printable ASCII characters",
                    RT_STORE_REASON_MAX);
}

bool rt_store_printable(const char *s, size_t max, bool optional) {
  if (s == NULL)
    return optional;
  size_t n = strlen(s);
  if (n == 0 || n > max)
    return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < 0x20 || s[i] > 0x7e)
      return false;
  return true;
}

rt_code rt_store_token_consume(rt_store *s, const uint8_t *id, size_t id_len, time_t expires,
                               time_t now, bool *fresh, rt_err *err) {
  if (id_len == 0 || id_len > TOKEN_ID_MAX)
    return rt_err_set(err, RT_E_INVALID, "store: a token id is 1-%d bytes", TOKEN_ID_MAX);
  if (expires <= now)
    return rt_err_set(err, RT_E_INVALID, "store: the token has expired");
  char hex[2 * TOKEN_ID_MAX + 1];
  rt_hex(id, id_len, hex);
  rt_store_param purge[] = {{.type = RT_SP_INT, .i = (int64_t)now}};
  rt_store_param p[] = {{.type = RT_SP_TEXT, .text = hex}, {.type = RT_SP_INT, .i = expires}};
  rt_store_rows rows = {0};
  rt_store_link *l = rt_store_acquire(s);
  rt_code code =
      rt_store_exec(l, "DELETE FROM consumed_tokens WHERE expires <= $1", purge, 1, NULL, err);
  /* The conflict clause makes a second consumer see no row, without an
   * error and without aborting anything around it. */
  if (code == RT_OK)
    code = rt_store_exec(l,
                         "INSERT INTO consumed_tokens (id, expires) VALUES ($1, $2)"
                         " ON CONFLICT (id) DO NOTHING RETURNING id",
                         p, 2, &rows, err);
  rt_store_release(s, l);
  if (code == RT_OK)
    *fresh = rows.n_rows == 1;
  rt_store_rows_free(&rows);
  return code;
}

/* The fields an enrollment or an operator gives replace the stored ones;
 * NULL keeps them. */
#define MACHINE_UPSERT                                                                             \
  "INSERT INTO machines (ek_sha256, ek_cert, tpm_vendor, tpm_model, platform, added,"              \
  " first_enrolled, last_enrolled) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"                        \
  " ON CONFLICT (ek_sha256) DO UPDATE SET"                                                         \
  " ek_cert = COALESCE(excluded.ek_cert, machines.ek_cert),"                                       \
  " tpm_vendor = COALESCE(excluded.tpm_vendor, machines.tpm_vendor),"                              \
  " tpm_model = COALESCE(excluded.tpm_model, machines.tpm_model),"                                 \
  " platform = COALESCE(excluded.platform, machines.platform),"                                    \
  " first_enrolled = COALESCE(machines.first_enrolled, excluded.first_enrolled),"                  \
  " last_enrolled = COALESCE(excluded.last_enrolled, machines.last_enrolled)"

static rt_store_param text_or_null(const char *s) {
  rt_store_param p = {.type = s != NULL ? RT_SP_TEXT : RT_SP_NULL, .text = s};
  return p;
}

/* enrolled: the enrollment time, or 0 for an operator's registration. On
 * a held link, so that an enrollment's rows can share a transaction. */
static rt_code machine_upsert_on(rt_store_link *l, const rt_store_machine *m, time_t now,
                                 time_t enrolled, rt_err *err) {
  if (rt_store_ek_check(m->ek_sha256, err) != RT_OK ||
      !rt_store_printable(m->tpm_vendor, DECISION_FIELD_MAX, true) ||
      !rt_store_printable(m->tpm_model, DECISION_FIELD_MAX, true))
    return rt_err_set(err, RT_E_INVALID, "store: machine: bad EK hash, vendor or model");
  rt_store_param p[] = {
      {.type = RT_SP_TEXT, .text = m->ek_sha256},
      {.type = m->ek_cert_len ? RT_SP_BLOB : RT_SP_NULL, .blob = m->ek_cert, .len = m->ek_cert_len},
      text_or_null(m->tpm_vendor),
      text_or_null(m->tpm_model),
      text_or_null(m->platform_json),
      {.type = RT_SP_INT, .i = now},
      {.type = enrolled ? RT_SP_INT : RT_SP_NULL, .i = enrolled},
  };
  return rt_store_exec(l, MACHINE_UPSERT, p, 7, NULL, err);
}

static rt_code machine_upsert(rt_store *s, const rt_store_machine *m, time_t now, time_t enrolled,
                              rt_err *err) {
  rt_store_link *l = rt_store_acquire(s);
  rt_code code = machine_upsert_on(l, m, now, enrolled, err);
  rt_store_release(s, l);
  return code;
}

rt_code rt_store_machine_enrolled(rt_store *s, const rt_store_machine *m, time_t now, rt_err *err) {
  return machine_upsert(s, m, now, now, err);
}

rt_code rt_store_machine_add(rt_store *s, const rt_store_machine *m, time_t now, rt_err *err) {
  return machine_upsert(s, m, now, 0, err);
}

static rt_code identity_insert_on(rt_store_link *l, const rt_store_identity *id, time_t now,
                                  rt_err *err) {
  if (rt_name_check(id->name, err) != RT_OK || rt_store_ek_check(id->ek_sha256, err) != RT_OK ||
      rt_store_serial_check(id->serial, err) != RT_OK)
    return rt_err_prefix(err, "store: identity: ");
  rt_store_param p[] = {{.type = RT_SP_TEXT, .text = id->serial},
                        {.type = RT_SP_TEXT, .text = id->name},
                        {.type = RT_SP_TEXT, .text = id->ek_sha256},
                        {.type = RT_SP_INT, .i = now},
                        {.type = RT_SP_INT, .i = id->not_after}};
  return rt_store_exec(l,
                       "INSERT INTO identities (serial, name, ek_sha256, issued, not_after,"
                       " status) VALUES ($1, $2, $3, $4, $5, 'active')",
                       p, 5, NULL, err);
}

rt_code rt_store_identity_issued(rt_store *s, const rt_store_identity *id, time_t now,
                                 rt_err *err) {
  rt_store_link *l = rt_store_acquire(s);
  rt_code code = identity_insert_on(l, id, now, err);
  rt_store_release(s, l);
  return code;
}

/* Counts then deletes the rows of table older than $1, in one
 * transaction. */
static rt_code prune_table(rt_store_link *l, const char *count_sql, const char *delete_sql,
                           time_t t, size_t *n, rt_err *err) {
  rt_store_param p[] = {{.type = RT_SP_INT, .i = (int64_t)t}};
  rt_store_rows rows = {0};
  rt_err ignored;
  rt_code code = rt_store_exec(l, "BEGIN", NULL, 0, NULL, err);
  if (code == RT_OK)
    code = rt_store_exec(l, count_sql, p, 1, &rows, err);
  if (code == RT_OK)
    code = rt_store_exec(l, delete_sql, p, 1, NULL, err);
  if (code == RT_OK)
    code = rt_store_exec(l, "COMMIT", NULL, 0, NULL, err);
  else
    rt_store_exec(l, "ROLLBACK", NULL, 0, NULL, &ignored);
  if (code == RT_OK && n != NULL)
    *n = (size_t)rt_store_int(&rows, 0, 0);
  rt_store_rows_free(&rows);
  return code;
}

rt_code rt_store_prune(rt_store *s, time_t before, time_t now, size_t *n_decisions,
                       size_t *n_tokens, rt_err *err) {
  rt_store_link *l = rt_store_acquire(s);
  rt_code code = prune_table(l, "SELECT COUNT(*) FROM decisions WHERE at < $1",
                             "DELETE FROM decisions WHERE at < $1", before, n_decisions, err);
  if (code == RT_OK)
    code = prune_table(l, "SELECT COUNT(*) FROM consumed_tokens WHERE expires <= $1",
                       "DELETE FROM consumed_tokens WHERE expires <= $1", now, n_tokens, err);
  rt_store_release(s, l);
  return code;
}

void rt_store_set_retention(rt_store *s, int64_t keep_seconds) {
  pthread_mutex_lock(&s->lock);
  s->keep_seconds = keep_seconds > 0 ? keep_seconds : 0;
  s->pruned_at = 0;
  pthread_mutex_unlock(&s->lock);
}

rt_code rt_store_prune_due(rt_store *s, time_t now, size_t *n_decisions, size_t *n_tokens,
                           rt_err *err) {
  pthread_mutex_lock(&s->lock);
  int64_t keep = s->keep_seconds;
  bool due = keep > 0 && (s->pruned_at == 0 || now - s->pruned_at >= RT_STORE_PRUNE_EVERY);
  if (due)
    s->pruned_at = now;
  pthread_mutex_unlock(&s->lock);
  *n_decisions = *n_tokens = 0;
  return due ? rt_store_prune(s, now - (time_t)keep, now, n_decisions, n_tokens, err) : RT_OK;
}

static rt_code decision_insert_on(rt_store_link *l, const rt_store_decision *d, rt_err *err) {
  if (!rt_store_printable(d->method, DECISION_FIELD_MAX, false) ||
      !rt_store_printable(d->code, DECISION_FIELD_MAX, false) ||
      !rt_store_printable(d->peer, DECISION_FIELD_MAX, true) ||
      !rt_store_printable(d->name, DECISION_FIELD_MAX, true) ||
      !rt_store_printable(d->ek_sha256, DECISION_FIELD_MAX, true))
    return rt_err_set(err, RT_E_INVALID, "store: decision: a field empty, too long or not ASCII");
  rt_store_param p[] = {{.type = RT_SP_INT, .i = d->at}, text_or_null(d->method),
                        text_or_null(d->code),           text_or_null(d->peer),
                        text_or_null(d->name),           text_or_null(d->ek_sha256)};
  return rt_store_exec(l,
                       "INSERT INTO decisions (at, method, code, peer, name, ek_sha256)"
                       " VALUES ($1, $2, $3, $4, $5, $6)",
                       p, 6, NULL, err);
}

rt_code rt_store_decision_add(rt_store *s, const rt_store_decision *d, rt_err *err) {
  rt_store_link *l = rt_store_acquire(s);
  rt_code code = decision_insert_on(l, d, err);
  rt_store_release(s, l);
  return code;
}

rt_code rt_store_enrollment_issued(rt_store *s, const rt_store_decision *d,
                                   const rt_store_machine *m, const rt_store_identity *id,
                                   rt_err *err) {
  rt_store_link *l = rt_store_acquire(s);
  rt_code code = rt_store_exec(l, "BEGIN", NULL, 0, NULL, err);
  if (code != RT_OK) {
    rt_store_release(s, l);
    return code;
  }
  code = decision_insert_on(l, d, err);
  if (code == RT_OK)
    code = machine_upsert_on(l, m, d->at, d->at, err);
  if (code == RT_OK)
    code = identity_insert_on(l, id, d->at, err);
  code = rt_store_end(l, code, true, err);
  rt_store_release(s, l);
  return code;
}
