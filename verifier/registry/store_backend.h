/* What store.c needs of a database engine: run one SQL statement with bound
 * parameters and hand back its rows as bytes. The statements themselves are
 * shared (store.c, store_migrate.c): they use $1, $2, ... for parameters,
 * which PostgreSQL and SQLite both read, and the PostgreSQL type names,
 * which SQLite maps to its affinities (BIGINT: integer, BYTEA: kept as
 * bytes). Internal to the registry library. */
#ifndef RT_VERIFIER_STORE_BACKEND_H
#define RT_VERIFIER_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_err.h"

typedef enum { RT_SP_NULL, RT_SP_TEXT, RT_SP_INT, RT_SP_BLOB } rt_sp_type;

/* One bound parameter ($1 is params[0]). */
typedef struct {
  rt_sp_type type;
  const char *text;
  int64_t i;
  const uint8_t *blob;
  size_t len;
} rt_store_param;

/* One value of a result: NULL, or len bytes (NUL-terminated for callers
 * reading text; integers arrive as decimal text, BYTEA as its bytes). */
typedef struct {
  bool null;
  uint8_t *bytes;
  size_t len;
} rt_store_cell;

typedef struct {
  size_t n_rows, n_cols;
  rt_store_cell *cells; /* row-major */
} rt_store_rows;

/* The engine's connection and operations. */
typedef struct rt_store_conn rt_store_conn;
typedef struct {
  const char *name;
  /* Runs sql with n params; rows (may be NULL: not wanted) gets the result
   * rows. A unique or other constraint violation is RT_E_INVALID. */
  rt_code (*exec)(rt_store_conn *c, const char *sql, const rt_store_param *params, size_t n,
                  rt_store_rows *rows, rt_err *err);
  /* Starts the transaction migrations run in, excluding every other
   * migration of the same database until COMMIT or ROLLBACK. */
  rt_code (*begin_exclusive)(rt_store_conn *c, rt_err *err);
  void (*close)(rt_store_conn *c);
} rt_store_backend;

rt_code rt_store_sqlite_open(const char *path, const rt_store_backend **ops, rt_store_conn **out,
                             rt_err *err);
rt_code rt_store_pg_open(const char *url, const rt_store_backend **ops, rt_store_conn **out,
                         rt_err *err);

/* Result rows: appending one (backends) and freeing them. */
rt_code rt_store_rows_add(rt_store_rows *rows, size_t n_cols, rt_err *err);
rt_code rt_store_cell_set(rt_store_cell *cell, const void *bytes, size_t len, rt_err *err);
void rt_store_rows_free(rt_store_rows *rows);
rt_store_cell *rt_store_cell_at(const rt_store_rows *rows, size_t row, size_t col);

/* Runs the migrations (store_migrate.c). */
rt_code rt_store_migrate(const rt_store_backend *ops, rt_store_conn *c, rt_err *err);

/* The newest schema version this build knows. */
#define RT_STORE_SCHEMA_VERSION 2

#endif
