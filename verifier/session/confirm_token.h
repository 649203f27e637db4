/* Confirm tokens: the verifier's memory between Finish and Confirm (secret
 * delivery, docs/secrets.md): the identity, the EK, a nonce and the names
 * and kinds of the secrets delivered. The same format, key, version and
 * replay guard as session tokens, another AAD context (RT_CONFIRM_CONTEXT),
 * so neither kind opens as the other. */
#ifndef RT_VERIFIER_CONFIRM_TOKEN_H
#define RT_VERIFIER_CONFIRM_TOKEN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "rattest_internal.pb-c.h"
#include "rt_err.h"
#include "token_key.h"
#include "token_reason.h"
#include "token_seal.h"

#define RT_CONFIRM_CONTEXT "rattest confirm token v1"

typedef Rattest__Internal__V1__ConfirmState rt_confirm_state;

/* A new state with a fresh token id and nonce (RAND_bytes), created now,
 * expiring after ttl_seconds (1 s .. RT_TOKEN_MAX_TTL). */
rt_code rt_confirm_state_new(time_t now, int64_t ttl_seconds, rt_confirm_state **out, rt_err *err);

/* Records one delivered secret (name copied; kind a rattest.v1.SecretKind). */
rt_code rt_confirm_state_add(rt_confirm_state *st, const char *name, int32_t kind, rt_err *err);

/* Wipes the nonce and frees; NULL is fine. */
void rt_confirm_state_free(rt_confirm_state *st);

/* As rt_token_seal / rt_token_open (session_token.h). A state needs a
 * token id, a 32-byte nonce, a 32-byte EK hash, a name and at least one
 * delivered secret, each with a name. */
rt_code rt_confirm_seal(const rt_token_key *key, const rt_confirm_state *st, uint8_t **out,
                        size_t *out_len, rt_err *err);
rt_code rt_confirm_open(const rt_token_key *key, const uint8_t *token, size_t token_len, time_t now,
                        rt_confirm_state **out, rt_token_reason *reason, rt_err *err);

#endif
