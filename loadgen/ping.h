/* The transport baseline (--ping): one iteration is what an enrollment
 * costs the verifier's gRPC, TLS and kernel with none of its own work: a
 * fresh channel (a new TLS connection, as each bootstrap process opens),
 * two Ping calls (as Begin and Finish are two calls), closed. Set against
 * an enrollment's CPU, it separates the stack's cost from the verifier's. */
#ifndef LG_PING_H
#define LG_PING_H

#include "enroll.h"

/* Calls per iteration: as many as an enrollment makes. */
#define LG_PING_CALLS 2

void lg_ping(const lg_target *t, lg_outcome *out);

#endif
