#include "rt_bytes.h"

#include <stdlib.h>
#include <string.h>

void rt_bytes_free(rt_bytes *b) {
  free(b->data);
  b->data = NULL;
  b->len = 0;
}

rt_code rt_bytes_copy(rt_bytes *out, const uint8_t *buf, size_t len, rt_err *err) {
  out->data = malloc(len ? len : 1);
  if (out->data == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  memcpy(out->data, buf, len);
  out->len = len;
  return RT_OK;
}
