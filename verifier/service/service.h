/* The rattest.v1.Attestation service as a table of gRPC methods. */
#ifndef RT_VERIFIER_SERVICE_H
#define RT_VERIFIER_SERVICE_H

#include <stddef.h>

#include "rt_grpc.h"
#include "rt_methods.h"

/* Longest Ping message echoed back. */
#define RT_PING_MAX_MESSAGE 1024

#define RT_VERIFIER_N_METHODS 4

struct rt_verifier;

/* Fills out with the service's methods and returns their number. With a
 * NULL verifier only Ping works; Begin, Finish and Confirm answer
 * UNIMPLEMENTED "NOT_CONFIGURED" (transport tests use that). */
size_t rt_verifier_methods(struct rt_verifier *verifier, rt_rpc_method out[RT_VERIFIER_N_METHODS]);

#endif
