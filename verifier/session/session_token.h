/* Session tokens: the verifier's state between Begin and Finish (the
 * credential secret, nonce, EK, AK, PCR selection, deadline), sealed in the
 * token format of token_seal.h so that the client carries it without
 * reading or changing it.
 *
 * Why a second verifier can finish a session another began: the token
 * carries every bit of state Finish needs, authenticated and encrypted
 * under the token key. Any verifier process loaded with the same key file
 * (--token-key) opens it exactly as the one that sealed it, so a restart or
 * a load balancer sending Finish elsewhere loses nothing. Without
 * --token-key each process uses its own random key (rt_token_key_random)
 * and only that process can finish its sessions. Single use is the replay
 * guard's job (replay_guard.h, and its limits there). */
#ifndef RT_VERIFIER_SESSION_TOKEN_H
#define RT_VERIFIER_SESSION_TOKEN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "rattest_internal.pb-c.h"
#include "rt_err.h"
#include "token_key.h"
#include "token_reason.h"
#include "token_seal.h"

#define RT_TOKEN_CONTEXT "rattest session token v1"
#define RT_TOKEN_SECRET_LEN 32

typedef Rattest__Internal__V1__SessionState rt_session_state;

/* A new state with a fresh token id, credential secret and nonce (all from
 * RAND_bytes), created_unix = now and expires_unix = now + ttl_seconds
 * (1 s .. RT_TOKEN_MAX_TTL). The caller fills the other fields, with memory
 * from malloc/strdup or rt_token_state_set_bytes /
 * rt_token_state_add_selection, because rt_token_state_free frees every
 * field. */
rt_code rt_token_state_new(time_t now, int64_t ttl_seconds, rt_session_state **out, rt_err *err);

/* Replaces a bytes field of a state (e.g. &st->ek_public) with a copy of
 * data; the old contents are wiped and freed. */
rt_code rt_token_state_set_bytes(ProtobufCBinaryData *field, const uint8_t *data, size_t len,
                                 rt_err *err);

/* Appends a bank's selection (bank name as in the proto, pcrs ascending). */
rt_code rt_token_state_add_selection(rt_session_state *st, const char *bank, const uint32_t *pcrs,
                                     size_t n_pcrs, rt_err *err);

/* Frees a state from rt_token_state_new or rt_token_open, wiping the token
 * id, credential secret and nonce first. NULL is fine. */
void rt_token_state_free(rt_session_state *st);

/* Seals st into a fresh malloc'd token (free with free()). st must be
 * complete enough to be opened again: token id RT_TOKEN_ID_LEN bytes, secret
 * RT_TOKEN_SECRET_LEN, nonce RT_TOKEN_NONCE_LEN, ek_cert_sha256 32 bytes, EK
 * and AK public areas, a PCR selection of known banks with ascending PCRs
 * 0..23, expires_unix > created_unix; otherwise RT_E_INVALID. */
rt_code rt_token_seal(const rt_token_key *key, const rt_session_state *st, uint8_t **out,
                      size_t *out_len, rt_err *err);

/* Opens a session token (rt_token_open_state): on success *out is a new
 * state (free with rt_token_state_free). Does NOT consult the replay guard:
 * the caller marks the id right after a successful open, before doing the
 * expensive checks, so that two concurrent Finish calls with one token
 * cannot both proceed. */
rt_code rt_token_open(const rt_token_key *key, const uint8_t *token, size_t token_len, time_t now,
                      rt_session_state **out, rt_token_reason *reason, rt_err *err);

#endif
