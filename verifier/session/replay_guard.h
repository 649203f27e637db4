/* The replay guard: remembers the ids of the tokens already used until they
 * expire, so that each session token finishes once and each confirm token
 * confirms once. Memory grows with the live ids, bounded by a cap.
 *
 * LIMITATION: the guard is memory of one verifier process. A token already
 * used at verifier A is still accepted once by verifier B sharing the token
 * key, and once more by A after a restart, until the token expires.
 * Verifiers sharing a key therefore bound replay to "once per process
 * within the token lifetime", not "once". Replaying a token does not let an
 * attacker skip any check (Finish still needs the activated secret and
 * fresh TPM signatures over the token's nonce), and it only yields
 * certificates the legitimate machine could get anyway; a deployment
 * needing strict single use must share the guard's state: serve --db does,
 * consuming each id in the registry too (service/registry_hooks.h). Keep
 * --session-ttl short.
 *
 * Thread safety: every function may be called from any number of threads
 * at once; the guard locks internally. */
#ifndef RT_VERIFIER_REPLAY_GUARD_H
#define RT_VERIFIER_REPLAY_GUARD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "rt_err.h"
#include "token_reason.h"
#include "token_seal.h"

typedef struct rt_token_replay_guard rt_token_replay_guard;

/* Cap on live token ids when no rate bounds how fast they come (serve
 * --rate-finish 0): a verifier enrolling 100000 machines within one session
 * lifetime is far beyond any fleet's first boot wave. */
#define RT_REPLAY_GUARD_DEFAULT_CAP ((size_t)100000)

/* Largest cap rt_replay_guard_cap_for gives (about 250 MB of guard): a
 * configuration needing more is refused rather than served. */
#define RT_REPLAY_GUARD_MAX_CAP ((size_t)1 << 22)

/* The cap no honest client can find full, when ids are recorded only for
 * Finishes whose secret matched, at most rate_milli_per_s / 1000 a second
 * with bursts of burst (a token bucket), and live ttl_s seconds:
 *
 *   cap = 2 x (burst + rate x (ttl + 1))
 *
 * A bucket grants at most burst + rate x W in any window of W seconds. A
 * session id lives until its Begin + ttl and is recorded at Finish, after
 * Begin, so the ids live at any moment were recorded within the last ttl
 * seconds (ttl + 1 with whole-second expiry); a confirm id lives until its
 * Finish + ttl, so the same bound counts them again: hence 2 x. Without a
 * rate (0): RT_REPLAY_GUARD_DEFAULT_CAP, and no such promise. Over
 * RT_REPLAY_GUARD_MAX_CAP: RT_E_INVALID, the message saying what to lower. */
rt_code rt_replay_guard_cap_for(int64_t ttl_s, uint64_t rate_milli_per_s, uint64_t burst,
                                size_t *cap, rt_err *err);

/* A guard remembering at most cap ids (cap >= 1; 0 means the default). Its
 * memory grows with the number of live ids, never past what cap needs. */
rt_code rt_replay_guard_new(size_t cap, rt_token_replay_guard **out, rt_err *err);
void rt_replay_guard_free(rt_token_replay_guard *guard);

/* Live ids currently remembered (for tests and metrics). */
size_t rt_replay_guard_count(rt_token_replay_guard *guard);

/* Records a token id as used until expires. First, ids whose expiry is at or
 * before now are forgotten (they can no longer pass rt_token_open). Then:
 *   - expires <= now: RT_E_INVALID, reason RT_TOKEN_EXPIRED (nothing stored);
 *   - id already recorded: RT_E_INVALID, reason RT_TOKEN_REPLAYED;
 *   - cap live ids already recorded: RT_E_NOMEM, reason RT_TOKEN_GUARD_FULL
 *     (refuse rather than forget a live id, which would reopen replay);
 *   - no memory to record it: RT_E_NOMEM, reason RT_TOKEN_FAILURE;
 *   - otherwise the id is recorded: RT_OK.
 * reason may be NULL. */
rt_code rt_replay_check_and_mark(rt_token_replay_guard *guard, const uint8_t id[RT_TOKEN_ID_LEN],
                                 time_t expires, time_t now, rt_token_reason *reason, rt_err *err);

#endif
