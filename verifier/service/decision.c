#include "decision.h"

#include <stdarg.h>
#include <stdio.h>

#include "rt_log.h"

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

grpc_status_code rt_deny_token(rt_rpc_status *st, rt_token_reason why, const char *message) {
  const char *code = rt_token_reason_code(why);
  if (why == RT_TOKEN_FAILURE)
    return rt_deny(st, GRPC_STATUS_INTERNAL, code, "%s", message);
  /* RT_TOKEN_OK here would be a caller bug; the token is refused anyway. */
  return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, code != NULL ? code : "TOKEN_INVALID", "%s",
                 message);
}

grpc_status_code rt_deny_nomem(rt_rpc_status *st, const char *what) {
  rt_error("out of memory building %s", what);
  return rt_deny(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "INTERNAL", "out of memory building %s", what);
}
