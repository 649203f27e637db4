/* The store's inside, shared by its files (store.c: opening, tokens,
 * machines, identities, decisions; store_names.c: name bindings and
 * revocation; store_query.c: list and show). */
#ifndef RT_VERIFIER_STORE_INTERNAL_H
#define RT_VERIFIER_STORE_INTERNAL_H

#include <pthread.h>

#include "store.h"
#include "store_backend.h"

struct rt_store {
  const rt_store_backend *ops;
  rt_store_conn *conn;
  pthread_mutex_t lock; /* held around every use of conn */
};

/* One statement on the store's connection (the caller holds the lock). */
rt_code rt_store_exec(rt_store *s, const char *sql, const rt_store_param *p, size_t n,
                      rt_store_rows *rows, rt_err *err);

/* A result value as an integer (0 for NULL) or text (NULL for NULL). */
int64_t rt_store_int(const rt_store_rows *rows, size_t row, size_t col);
const char *rt_store_text(const rt_store_rows *rows, size_t row, size_t col);

/* Printable ASCII of 1 to max bytes; NULL is accepted when optional. */
bool rt_store_printable(const char *s, size_t max, bool optional);

#endif
