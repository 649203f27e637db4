/* A malloc'ed byte string, as the bootstrap and the load generator hold the
 * marshalled TPM structures they send. */
#ifndef RT_BYTES_H
#define RT_BYTES_H

#include <stddef.h>
#include <stdint.h>

#include "rt_err.h"

typedef struct {
  uint8_t *data;
  size_t len;
} rt_bytes;

/* Frees b's data and empties it; b itself is the caller's. */
void rt_bytes_free(rt_bytes *b);

/* out = a malloc'ed copy of buf's len bytes (from a stack buffer, at its
 * exact size); RT_E_NOMEM when memory is short. */
rt_code rt_bytes_copy(rt_bytes *out, const uint8_t *buf, size_t len, rt_err *err);

#endif
