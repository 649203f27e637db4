/* The rattest.v1.Attestation service as a table of gRPC methods. */
#ifndef RT_VERIFIER_SERVICE_H
#define RT_VERIFIER_SERVICE_H

#include <stddef.h>

#include "rt_grpc.h"
#include "rt_methods.h"

/* Longest Ping message echoed back. */
#define RT_PING_MAX_MESSAGE 1024

/* The methods of the service; the table is static and lives forever. */
const rt_rpc_method *rt_verifier_methods(size_t *count);

#endif
