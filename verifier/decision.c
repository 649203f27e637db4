#include "decision.h"

#include <stdarg.h>
#include <stdio.h>

grpc_status_code rt_deny(rt_rpc_status *st, grpc_status_code status, const char *code,
                         const char *fmt, ...) {
  st->status = status;
  st->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(st->message, sizeof st->message, fmt, ap);
  va_end(ap);
  return status;
}
