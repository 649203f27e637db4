/* The store's inside, shared by its files (store.c: opening, tokens,
 * machines, identities, decisions; store_names.c: name bindings and
 * revocation; store_query.c: list and show). */
#ifndef RT_VERIFIER_STORE_INTERNAL_H
#define RT_VERIFIER_STORE_INTERNAL_H

#include <pthread.h>
#include <time.h>

#include "store.h"
#include "store_backend.h"

/* One connection of the store's pool, used by one caller at a time. */
typedef struct rt_store_link {
  const rt_store_backend *ops;
  rt_store_conn *conn;
  struct rt_store_link *next_free;
} rt_store_link;

struct rt_store {
  rt_store_link *links; /* n_links, all open */
  size_t n_links;
  rt_store_link *free_links; /* those no caller holds */
  pthread_mutex_t lock;      /* guards free_links */
  pthread_cond_t freed;
  /* Retention (rt_store_set_retention): 0 keeps everything; the time of
   * the last prune, guarded by lock. */
  int64_t keep_seconds;
  time_t pruned_at;
};

/* A connection of the pool for the caller alone, waiting while every one
 * is in use; given back with rt_store_release. A transaction runs on one
 * link from BEGIN to COMMIT. */
rt_store_link *rt_store_acquire(rt_store *s);
void rt_store_release(rt_store *s, rt_store_link *l);

/* One statement on a held connection. */
rt_code rt_store_exec(rt_store_link *l, const char *sql, const rt_store_param *p, size_t n,
                      rt_store_rows *rows, rt_err *err);

/* Ends the transaction begun ("BEGIN") on l after its statements gave
 * code: COMMIT when code is RT_OK and keep is true; ROLLBACK otherwise,
 * and after a failed COMMIT too (PostgreSQL ends a failed transaction
 * itself, SQLite may leave it open on SQLITE_BUSY, and the link goes back
 * to the pool). Returns code, else the COMMIT's or the asked ROLLBACK's
 * failure. */
rt_code rt_store_end(rt_store_link *l, rt_code code, bool keep, rt_err *err);

/* A result value as an integer (0 for NULL) or text (NULL for NULL). */
int64_t rt_store_int(const rt_store_rows *rows, size_t row, size_t col);
const char *rt_store_text(const rt_store_rows *rows, size_t row, size_t col);

/* Printable ASCII of 1 to max bytes; NULL is accepted when optional. */
bool rt_store_printable(const char *s, size_t max, bool optional);

#endif
