#include "rt_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

rt_code rt_err_set(rt_err *err, rt_code code, const char *fmt, ...) {
  if (err == NULL)
    return code;
  err->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return code;
}

rt_code rt_err_prefix(rt_err *err, const char *fmt, ...) {
  if (err == NULL)
    return RT_E_INTERNAL;
  char prefix[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  /* Shift the message right and put the prefix in front; the tail of a
   * message too long for the buffer is what gets cut. */
  size_t room = sizeof err->msg - 1;
  size_t plen = strlen(prefix);
  if (plen > room)
    plen = room;
  size_t keep = strnlen(err->msg, room);
  if (keep > room - plen)
    keep = room - plen;
  memmove(err->msg + plen, err->msg, keep);
  memcpy(err->msg, prefix, plen);
  err->msg[plen + keep] = '\0';
  return err->code;
}

void rt_err_clear(rt_err *err) {
  if (err != NULL) {
    err->code = RT_OK;
    err->msg[0] = '\0';
  }
}

const char *rt_code_name(rt_code code) {
  switch (code) {
  case RT_OK:
    return "ok";
  case RT_E_INVALID:
    return "invalid";
  case RT_E_NOT_FOUND:
    return "not-found";
  case RT_E_IO:
    return "io";
  case RT_E_NOMEM:
    return "nomem";
  case RT_E_TPM:
    return "tpm";
  case RT_E_CRYPTO:
    return "crypto";
  case RT_E_NET:
    return "net";
  case RT_E_REMOTE:
    return "remote";
  case RT_E_INTERNAL:
    return "internal";
  }
  return "unknown";
}
