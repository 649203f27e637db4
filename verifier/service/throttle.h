/* The rate limits of the enrollment methods (docs/protocol.md, "Rate
 * limits") as refusals: each spends a token of its bucket and, when there
 * was none, fills st with RESOURCE_EXHAUSTED "RATE_LIMITED". */
#ifndef RT_VERIFIER_THROTTLE_H
#define RT_VERIFIER_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#include "enroll.h"
#include "rt_grpc.h"

/* "RATE_LIMITED": the refusal code of these limits (audit.c thins out
 * their lines). */
extern const char rt_rate_limited_code[];

/* Per peer address (rt_peer_key): every Begin, Finish and Confirm, before
 * any work. */
grpc_status_code rt_throttle_peer(const rt_verifier *v, const char *peer, rt_rpc_status *st);

/* Per EK (the SHA-256 of its SubjectPublicKeyInfo): Begin, and Finish once
 * the activated secret matched. */
grpc_status_code rt_throttle_ek(const rt_verifier *v, const uint8_t *ek_sha256, size_t len,
                                rt_rpc_status *st);

/* All clients together: the Finishes whose secret matched, the ones that
 * take a replay guard entry (its capacity follows from this rate). */
grpc_status_code rt_throttle_finish(const rt_verifier *v, rt_rpc_status *st);

#endif
