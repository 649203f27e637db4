/* How a check says no: a gRPC status, a stable code from docs/protocol.md
 * and a message for people. One helper so every rejection has all three,
 * and one for each refusal several methods share. */
#ifndef RT_VERIFIER_DECISION_H
#define RT_VERIFIER_DECISION_H

#include "rt_grpc.h"
#include "token_reason.h"

/* Fills st and returns status, for `return rt_deny(st, ...)`. */
grpc_status_code rt_deny(rt_rpc_status *st, grpc_status_code status, const char *code,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A session or confirm token refused (opening it, or by the replay guard):
 * the reason's code with PERMISSION_DENIED, as docs/protocol.md lists them,
 * except RT_TOKEN_FAILURE, the verifier's own failure: INTERNAL "INTERNAL".
 * message says what exactly. */
grpc_status_code rt_deny_token(rt_rpc_status *st, rt_token_reason why, const char *message);

/* The verifier ran out of memory building an answer: RESOURCE_EXHAUSTED
 * "INTERNAL", and an error in the log naming what could not be built (the
 * refusal is never silent, and no partial answer goes out). */
grpc_status_code rt_deny_nomem(rt_rpc_status *st, const char *what);

#endif
