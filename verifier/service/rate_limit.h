/* Token buckets keyed by a client's identity (its address, its EK), so that
 * refusals stay cheap: a client spends one token per call, tokens come back
 * at a fixed rate up to a burst, and a call finding the bucket empty is
 * refused before any work (docs/protocol.md, "Rate limits").
 *
 * Memory is fixed when the limiter is made: a table of RT_RATE_SLOTS
 * buckets. A key takes a slot of a small window picked by a keyed hash
 * (salt from RAND_bytes, so no client can aim at a window); when the window
 * is taken, the bucket that is fullest goes, preferably one that has refilled
 * completely (forgetting it changes nothing: a new bucket starts full). A
 * flood of distinct keys therefore cannot grow memory, and an emptied bucket
 * is the last to be forgotten.
 *
 * Thread safety: rt_rate_take may be called from any number of threads at
 * once; the limiter locks internally. */
#ifndef RT_VERIFIER_RATE_LIMIT_H
#define RT_VERIFIER_RATE_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_err.h"

/* Buckets per limiter (about 40 bytes each). */
#define RT_RATE_SLOTS 8192

/* A rate: milli_per_s / 1000 calls a second on average, up to burst at once;
 * milli_per_s 0 means no limit. */
typedef struct {
  uint64_t milli_per_s;
  uint64_t burst;
} rt_rate;

/* "RATE/BURST" (RATE calls a second, up to three decimals, 0.001 to
 * 1000000; BURST 1 to 1000000) or "0" (no limit). Errors name opt. */
rt_code rt_rate_parse(const char *opt, const char *s, rt_rate *out, rt_err *err);

typedef struct rt_rate_limiter rt_rate_limiter;

/* *out is NULL, a limiter that never refuses, when rate is "no limit". */
rt_code rt_rate_limiter_new(rt_rate rate, rt_rate_limiter **out, rt_err *err);
void rt_rate_limiter_free(rt_rate_limiter *l);

/* Spends one token of key's bucket at now_ms (a monotonic clock in
 * milliseconds): true if there was one, false if the call is refused.
 * A NULL limiter always answers true. */
bool rt_rate_take(rt_rate_limiter *l, const void *key, size_t key_len, uint64_t now_ms);

/* Buckets that were forgotten while not yet full (for tests and metrics). */
uint64_t rt_rate_evicted_partial(rt_rate_limiter *l);

#endif
