/* The SQLite backend (libsqlite3): one connection to a database file in WAL
 * mode, so that readers do not wait for the writer and several processes
 * can share the file, with a busy timeout so that a writer waits for
 * another's transaction instead of failing. Every value is bound
 * (sqlite3_bind_*), never formatted into SQL. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_backend.h"

/* How long a statement waits for another connection's write lock. */
#define BUSY_TIMEOUT_MS 10000

struct rt_store_conn {
  sqlite3 *db;
};

static rt_code fail(sqlite3 *db, int rc, const char *what, rt_err *err) {
  rt_code code = (rc & 0xff) == SQLITE_CONSTRAINT ? RT_E_INVALID : RT_E_IO;
  return rt_err_set(err, code, "sqlite: %s: %s", what,
                    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

/* Binds params[i] to the statement's parameter "$<i+1>". */
static rt_code bind_all(sqlite3 *db, sqlite3_stmt *st, const rt_store_param *p, size_t n,
                        rt_err *err) {
  if ((size_t)sqlite3_bind_parameter_count(st) != n)
    return rt_err_set(err, RT_E_INTERNAL, "sqlite: statement takes %d parameters, %zu given",
                      sqlite3_bind_parameter_count(st), n);
  for (size_t i = 0; i < n; i++) {
    char name[24];
    snprintf(name, sizeof name, "$%zu", i + 1);
    int idx = sqlite3_bind_parameter_index(st, name);
    int rc = SQLITE_MISUSE;
    if (idx == 0)
      return rt_err_set(err, RT_E_INTERNAL, "sqlite: statement has no parameter %s", name);
    if (p[i].type == RT_SP_NULL)
      rc = sqlite3_bind_null(st, idx);
    else if (p[i].type == RT_SP_TEXT)
      rc = sqlite3_bind_text(st, idx, p[i].text, -1, SQLITE_STATIC);
    else if (p[i].type == RT_SP_INT)
      rc = sqlite3_bind_int64(st, idx, p[i].i);
    else if (p[i].type == RT_SP_BLOB)
      rc = sqlite3_bind_blob64(st, idx, p[i].len ? p[i].blob : (const void *)"", p[i].len,
                               SQLITE_STATIC);
    if (rc != SQLITE_OK)
      return fail(db, rc, "bind", err);
  }
  return RT_OK;
}

static rt_code take_row(sqlite3_stmt *st, rt_store_rows *rows, rt_err *err) {
  size_t n = (size_t)sqlite3_column_count(st);
  if (rt_store_rows_add(rows, n, err) != RT_OK)
    return err->code;
  for (size_t i = 0; i < n; i++) {
    int type = sqlite3_column_type(st, (int)i);
    if (type == SQLITE_NULL)
      continue;
    /* Integers and text as text, blobs as bytes: the forms store.c reads. */
    const void *b = type == SQLITE_BLOB ? sqlite3_column_blob(st, (int)i)
                                        : (const void *)sqlite3_column_text(st, (int)i);
    size_t len = (size_t)sqlite3_column_bytes(st, (int)i);
    if (rt_store_cell_set(rt_store_cell_at(rows, rows->n_rows - 1, i), b, len, err) != RT_OK)
      return err->code;
  }
  return RT_OK;
}

static rt_code sq_exec(rt_store_conn *c, const char *sql, const rt_store_param *params, size_t n,
                       rt_store_rows *rows, rt_err *err) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK)
    return fail(c->db, rc, "prepare", err);
  rt_code code = bind_all(c->db, st, params, n, err);
  while (code == RT_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
    if (rows != NULL)
      code = take_row(st, rows, err);
  if (code == RT_OK && rc != SQLITE_DONE)
    code = fail(c->db, rc, "step", err);
  sqlite3_finalize(st);
  return code;
}

static rt_code sq_begin_exclusive(rt_store_conn *c, rt_err *err) {
  /* IMMEDIATE takes the write lock now (waiting up to the busy timeout):
   * two processes migrating the same file run one after the other. */
  return sq_exec(c, "BEGIN IMMEDIATE", NULL, 0, NULL, err);
}

static void sq_close(rt_store_conn *c) {
  if (c == NULL)
    return;
  sqlite3_close(c->db);
  free(c);
}

static const rt_store_backend sqlite_ops = {"sqlite", sq_exec, sq_begin_exclusive, sq_close};

/* The file, made 0600 when it does not exist: SQLite would create it with
 * the umask's mode; its -wal and -shm files take the database's mode. */
static rt_code create_file(const char *path, rt_err *err) {
  int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return rt_err_set(err, RT_E_IO, "sqlite: %s: %s", path, strerror(errno));
  close(fd);
  return RT_OK;
}

static rt_code configure(rt_store_conn *c, rt_err *err) {
  rt_store_rows rows = {0};
  sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
  sqlite3_extended_result_codes(c->db, 1);
  rt_code code = sq_exec(c, "PRAGMA journal_mode=WAL", NULL, 0, &rows, err);
  const rt_store_cell *mode = rt_store_cell_at(&rows, 0, 0);
  if (code == RT_OK && (mode == NULL || mode->null || strcmp((char *)mode->bytes, "wal") != 0))
    code = rt_err_set(err, RT_E_IO, "sqlite: the database does not take WAL mode");
  rt_store_rows_free(&rows);
  /* FULL: a decision or a consumed token reported done survives a power
   * loss (WAL's default, NORMAL, may lose the last transactions). */
  if (code == RT_OK)
    code = sq_exec(c, "PRAGMA synchronous=FULL", NULL, 0, NULL, err);
  if (code == RT_OK)
    code = sq_exec(c, "PRAGMA foreign_keys=ON", NULL, 0, NULL, err);
  return code;
}

rt_code rt_store_sqlite_open(const char *path, const rt_store_backend **ops, rt_store_conn **out,
                             rt_err *err) {
  if (create_file(path, err) != RT_OK)
    return err->code;
  rt_store_conn *c = calloc(1, sizeof *c);
  if (c == NULL)
    return rt_err_set(err, RT_E_NOMEM, "sqlite: out of memory");
  int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
  rt_code code = rc == SQLITE_OK ? configure(c, err) : fail(c->db, rc, path, err);
  if (code != RT_OK) {
    sq_close(c);
    return code;
  }
  *ops = &sqlite_ops;
  *out = c;
  return RT_OK;
}
