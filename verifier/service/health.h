/* The standard gRPC health service, grpc.health.v1.Health (the upstream
 * health.proto of Debian's grpc-proto): Check and Watch for "" (the whole
 * server) and rattest.v1.Attestation. Both are SERVING unless the verifier
 * drains (SIGTERM) or its registry (--db) does not answer the probe, made
 * every RT_HEALTH_PROBE_MS by one thread, never by a health call: the last
 * probe failed, or the one under way has taken over RT_HEALTH_STALL_MS. */
#ifndef RT_VERIFIER_HEALTH_H
#define RT_VERIFIER_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

#include "rt_err.h"
#include "rt_grpc.h"
#include "store.h"

#define RT_HEALTH_PROBE_MS 2000
#define RT_HEALTH_STALL_MS 5000

typedef struct rt_health rt_health;

/* store: the registry to probe, NULL for none; it must outlive h. */
rt_code rt_health_new(rt_store *store, rt_health **out, rt_err *err);
/* Check (a unary method) and Watch (a watch: rt_grpc_server_config). */
void rt_health_methods(rt_health *h, rt_rpc_method *check_method, rt_rpc_method *watch_method);
/* Watches hear of changes through srv from now on; with a store, the
 * probe starts, and a watchdog that tells the watches of each change. */
rt_code rt_health_start(rt_health *h, rt_grpc_server *srv, rt_err *err);
/* NOT_SERVING for good, told to the watches at once; before srv drains
 * (srv is not used after). */
void rt_health_drain(rt_health *h);
/* What Check answers for "" now. */
bool rt_health_serving(rt_health *h);
/* Stops the probe (waiting for one under way) and frees h. NULL: nothing. */
void rt_health_free(rt_health *h);

#endif
