/* The PostgreSQL backend (libpq): one connection from a postgresql:// URL.
 * Every value travels as a parameter of PQexecParams (text, or binary for
 * bytes), never inside the SQL text. A connection the server dropped is
 * re-established once per statement. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_backend.h"

/* Seconds to wait for the server when the URL sets no connect_timeout. */
#define CONNECT_TIMEOUT "10"
/* Most parameters a statement of the store takes. */
#define MAX_PARAMS 16
/* The type of BYTEA values (pg_type.h, BYTEAOID). */
#define BYTEA_OID 17
/* Key of the advisory lock migrations take (any constant shared by all
 * rattest verifiers: "rattest" in ASCII). */
#define MIGRATION_LOCK "7526116116101115116"

struct rt_store_conn {
  PGconn *pg;
};

/* CREATE TABLE IF NOT EXISTS and the like send notices; the store reports
 * what matters itself. */
static void quiet(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

/* The server's message, trimmed of its trailing newline. */
static rt_code fail(PGconn *pg, const PGresult *r, rt_code code, const char *what, rt_err *err) {
  const char *m = r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(pg);
  size_t n = strlen(m);
  while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
    n--;
  return rt_err_set(err, code, "postgresql: %s: %.*s", what, (int)n, m);
}

static rt_code take_rows(const PGresult *r, rt_store_rows *rows, rt_err *err) {
  size_t n_cols = (size_t)PQnfields(r);
  for (int row = 0; row < PQntuples(r); row++) {
    if (rt_store_rows_add(rows, n_cols, err) != RT_OK)
      return err->code;
    for (size_t col = 0; col < n_cols; col++) {
      if (PQgetisnull(r, row, (int)col))
        continue;
      rt_store_cell *cell = rt_store_cell_at(rows, rows->n_rows - 1, col);
      const char *v = PQgetvalue(r, row, (int)col);
      if (PQftype(r, (int)col) != BYTEA_OID) {
        if (rt_store_cell_set(cell, v, (size_t)PQgetlength(r, row, (int)col), err) != RT_OK)
          return err->code;
        continue;
      }
      size_t len = 0;
      unsigned char *b = PQunescapeBytea((const unsigned char *)v, &len);
      rt_code code = b == NULL ? rt_err_set(err, RT_E_NOMEM, "postgresql: out of memory")
                               : rt_store_cell_set(cell, b, len, err);
      PQfreemem(b);
      if (code != RT_OK)
        return code;
    }
  }
  return RT_OK;
}

static PGresult *run(PGconn *pg, const char *sql, const rt_store_param *p, size_t n) {
  char ints[MAX_PARAMS][24];
  /* Zeroed whole: with n == 0, GCC's -O2 sees the arrays passed unset
   * (-Wmaybe-uninitialized breaks the Release build). */
  const char *values[MAX_PARAMS] = {0};
  int lengths[MAX_PARAMS] = {0}, formats[MAX_PARAMS] = {0};
  for (size_t i = 0; i < n; i++) {
    if (p[i].type == RT_SP_TEXT) {
      values[i] = p[i].text;
    } else if (p[i].type == RT_SP_INT) {
      snprintf(ints[i], sizeof ints[i], "%lld", (long long)p[i].i);
      values[i] = ints[i];
    } else if (p[i].type == RT_SP_BLOB) {
      values[i] = p[i].len ? (const char *)p[i].blob : "";
      lengths[i] = (int)p[i].len;
      formats[i] = 1;
    }
  }
  return PQexecParams(pg, sql, (int)n, NULL, values, lengths, formats, 0);
}

static rt_code pg_exec(rt_store_conn *c, const char *sql, const rt_store_param *params, size_t n,
                       rt_store_rows *rows, rt_err *err) {
  if (n > MAX_PARAMS)
    return rt_err_set(err, RT_E_INTERNAL, "postgresql: %zu parameters", n);
  for (size_t i = 0; i < n; i++)
    if (params[i].type == RT_SP_BLOB && params[i].len > 64u << 20)
      return rt_err_set(err, RT_E_INVALID, "postgresql: a value over 64 MiB");
  if (PQstatus(c->pg) == CONNECTION_BAD)
    PQreset(c->pg);
  PGresult *r = run(c->pg, sql, params, n);
  if (r == NULL)
    return fail(c->pg, NULL, RT_E_IO, "query", err);
  ExecStatusType st = PQresultStatus(r);
  rt_code code = RT_OK;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    /* Class 23: integrity constraint violation. */
    bool constraint = state != NULL && strncmp(state, "23", 2) == 0;
    code = fail(c->pg, r, constraint ? RT_E_INVALID : RT_E_IO, "query", err);
  } else if (rows != NULL) {
    code = take_rows(r, rows, err);
  }
  PQclear(r);
  return code;
}

static rt_code pg_begin_exclusive(rt_store_conn *c, rt_err *err) {
  /* A transaction-scoped advisory lock: replicas starting together migrate
   * one after the other, and the lock goes with COMMIT or ROLLBACK. */
  if (pg_exec(c, "BEGIN", NULL, 0, NULL, err) != RT_OK)
    return err->code;
  return pg_exec(c, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")", NULL, 0, NULL, err);
}

static void pg_close(rt_store_conn *c) {
  if (c == NULL)
    return;
  PQfinish(c->pg);
  free(c);
}

static const rt_store_backend pg_ops = {"postgresql", pg_exec, pg_begin_exclusive, pg_close};

rt_code rt_store_pg_open(const char *url, const rt_store_backend **ops, rt_store_conn **out,
                         rt_err *err) {
  rt_store_conn *c = calloc(1, sizeof *c);
  if (c == NULL)
    return rt_err_set(err, RT_E_NOMEM, "postgresql: out of memory");
  /* The URL's own settings come later, so they override the default
   * timeout; expand_dbname reads the URL. */
  const char *keys[] = {"connect_timeout", "dbname", NULL};
  const char *values[] = {CONNECT_TIMEOUT, url, NULL};
  c->pg = PQconnectdbParams(keys, values, 1);
  if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
    rt_code code = c->pg == NULL ? rt_err_set(err, RT_E_NOMEM, "postgresql: out of memory")
                                 : fail(c->pg, NULL, RT_E_NET, "connecting", err);
    pg_close(c);
    return code;
  }
  PQsetNoticeProcessor(c->pg, quiet, NULL);
  *ops = &pg_ops;
  *out = c;
  return RT_OK;
}
