/* What of the gRPC layer (common/rpc, rt_grpc.h) needs no gRPC: the
 * deadline clock and the status names. Here so that a program that loads
 * the gRPC layer only when it talks (the bootstrap, bootstrap/net.h) keeps
 * deadlines and names statuses without loading it. */
#ifndef RT_GRPC_PLAIN_H
#define RT_GRPC_PLAIN_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC, the clock of rt_grpc_call_retry's
 * deadline. */
uint64_t rt_grpc_now_ms(void);

/* "OK", "UNAVAILABLE", ... for a grpc_status_code (<grpc/status.h>). */
const char *rt_grpc_status_name(int status);

#endif
