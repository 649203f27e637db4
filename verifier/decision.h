/* How a check says no: a gRPC status, a stable code from docs/protocol.md
 * and a message for people. One helper so every rejection has all three. */
#ifndef RT_VERIFIER_DECISION_H
#define RT_VERIFIER_DECISION_H

#include "rt_grpc.h"

/* Fills st and returns status, for `return rt_deny(st, ...)`. */
grpc_status_code rt_deny(rt_rpc_status *st, grpc_status_code status, const char *code,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
