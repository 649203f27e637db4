/* Session tokens: the verifier's state between Begin and Finish, sealed so
 * that the client can carry it without reading or changing it.
 *
 * Token layout (all bytes opaque to the client):
 *
 *   version (1 byte, RT_TOKEN_VERSION) || IV (12 bytes, RAND_bytes)
 *   || AES-256-GCM ciphertext of a packed rattest.internal.v1.SessionState
 *   || GCM tag (16 bytes)
 *
 * The AAD is RT_TOKEN_CONTEXT followed by the version byte, so a token cannot
 * be re-labelled with another version, and bytes sealed under the same key
 * for another purpose (with another context string) never open as a token.
 *
 * Why a second verifier can finish a session another began: the token
 * carries every bit of state Finish needs (expected secret, nonce, EK, AK,
 * PCR selection, deadline), authenticated and encrypted under the token key.
 * Any verifier process loaded with the same key file (--token-key) opens it
 * exactly as the one that sealed it, so a restart or a load balancer sending
 * Finish elsewhere loses nothing. Without --token-key each process uses its
 * own random key (rt_token_key_random) and only that process can finish its
 * sessions.
 *
 * LIMITATION, replay: the replay guard (rt_token_replay_guard) is memory of
 * one verifier process. A token already used at verifier A is still accepted
 * once by verifier B sharing the key, and once more by A after a restart,
 * until the token expires. Verifiers sharing a key therefore bound replay to
 * "once per process within the token lifetime", not "once". Replaying a token
 * does not let an attacker skip any check (Finish still needs the activated
 * secret and fresh TPM signatures over the token's nonce), and it only yields
 * certificates the legitimate machine could get anyway; a deployment needing
 * strict single use must share the guard's state (e.g. a common store) and is
 * out of scope here. Keep --session-ttl short.
 *
 * Key lifetime: GCM with random 96-bit IVs must stay well below 2^32 seals
 * per key (NIST SP 800-38D); rotate the key file long before that.
 *
 * Thread safety: a loaded rt_token_key is read-only and may be used by any
 * number of threads at once; the replay guard locks internally. */
#ifndef RT_VERIFIER_TOKEN_H
#define RT_VERIFIER_TOKEN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "rattest_internal.pb-c.h"
#include "rt_err.h"

#define RT_TOKEN_VERSION 0x01
#define RT_TOKEN_CONTEXT "rattest session token v1"
/* Confirm tokens (Finish to Confirm, secret delivery) use their own context. */
#define RT_CONFIRM_CONTEXT "rattest confirm token v1"
#define RT_TOKEN_KEY_LEN 32
#define RT_TOKEN_IV_LEN 12
#define RT_TOKEN_TAG_LEN 16
#define RT_TOKEN_ID_LEN 16
#define RT_TOKEN_SECRET_LEN 32
#define RT_TOKEN_NONCE_LEN 32
/* Shortest token: version, IV and tag around an empty ciphertext. */
#define RT_TOKEN_MIN_LEN (1 + RT_TOKEN_IV_LEN + RT_TOKEN_TAG_LEN)
/* Longest token rt_token_open considers: a real state (two TPM2B_PUBLIC of
 * at most ~600 bytes each, a name of 64 bytes, a few digests) is far below. */
#define RT_TOKEN_MAX_LEN (16 * 1024)

/* Why a token was refused, for callers to map onto the wire error codes (see
 * rt_token_reason_code). */
typedef enum {
  RT_TOKEN_OK = 0,
  RT_TOKEN_TOO_SHORT,     /* shorter than RT_TOKEN_MIN_LEN */
  RT_TOKEN_TOO_LONG,      /* longer than RT_TOKEN_MAX_LEN */
  RT_TOKEN_BAD_VERSION,   /* first byte is not RT_TOKEN_VERSION */
  RT_TOKEN_BAD_TAG,       /* authentication failed: tampered, or another key */
  RT_TOKEN_BAD_PLAINTEXT, /* authentic but not a well-formed SessionState */
  RT_TOKEN_EXPIRED,       /* authentic, but now >= expires_unix */
  RT_TOKEN_REPLAYED,      /* this token id was already used (replay guard) */
  RT_TOKEN_GUARD_FULL,    /* the replay guard holds its cap of live ids */
  RT_TOKEN_FAILURE,       /* not the token's fault: allocation, OpenSSL */
} rt_token_reason;

/* The stable machine-readable code for a reason: "TOKEN_INVALID" (too short,
 * too long, bad version, bad tag, bad plaintext), "TOKEN_EXPIRED",
 * "TOKEN_REPLAYED", "TOKEN_GUARD_FULL", "INTERNAL"; NULL for RT_TOKEN_OK.
 * Suggested gRPC statuses: INVALID_ARGUMENT, FAILED_PRECONDITION,
 * FAILED_PRECONDITION, RESOURCE_EXHAUSTED, INTERNAL. */
const char *rt_token_reason_code(rt_token_reason reason);
/* "too-short", "bad-tag", ...: the precise reason, for logs and tests. */
const char *rt_token_reason_name(rt_token_reason reason);

/* ---- Key ---------------------------------------------------------------- */

typedef struct rt_token_key rt_token_key;

/* Loads a key file: exactly 64 hex digits (either case), optionally followed
 * by one newline, as rt_token_key_generate_file or `openssl rand -hex 32`
 * write it. The file must be a regular file that neither group nor others
 * can access (mode 0600 or stricter): RT_E_INVALID otherwise, naming the
 * file and its mode. The key material is never part of a message. */
rt_code rt_token_key_load(const char *path, rt_token_key **out, rt_err *err);

/* A fresh random key (RAND_bytes) for this process only: what the verifier
 * uses when no --token-key is configured. */
rt_code rt_token_key_random(rt_token_key **out, rt_err *err);

/* Writes a new random key to path in the format rt_token_key_load reads,
 * mode 0600. Refuses (RT_E_INVALID) to replace an existing file, so that a
 * typo cannot silently invalidate every verifier sharing the old key. */
rt_code rt_token_key_generate_file(const char *path, rt_err *err);

/* 1 when the key came from rt_token_key_random (so tokens die with this
 * process), 0 when it was loaded from a file. */
int rt_token_key_is_ephemeral(const rt_token_key *key);

/* Wipes and frees; NULL is fine. */
void rt_token_key_free(rt_token_key *key);

/* ---- Session state ------------------------------------------------------- */

typedef Rattest__Internal__V1__SessionState rt_session_state;

/* A new state with a fresh token id, credential secret and nonce (all from
 * RAND_bytes), created_unix = now and expires_unix = now + ttl_seconds
 * (ttl_seconds > 0). The caller fills the other fields, with memory from
 * malloc/strdup or rt_token_state_set_bytes / rt_token_state_add_selection,
 * because rt_token_state_free frees every field. */
rt_code rt_token_state_new(time_t now, int64_t ttl_seconds, rt_session_state **out, rt_err *err);

/* Replaces a bytes field of a state (e.g. &st->ek_public) with a copy of
 * data; the old contents are wiped and freed. */
rt_code rt_token_state_set_bytes(ProtobufCBinaryData *field, const uint8_t *data, size_t len,
                                 rt_err *err);

/* Appends a bank's selection (bank name as in the proto, pcrs ascending). */
rt_code rt_token_state_add_selection(rt_session_state *st, const char *bank, const uint32_t *pcrs,
                                     size_t n_pcrs, rt_err *err);

/* Frees a state from rt_token_state_new or rt_token_open, wiping the
 * credential secret and the nonce first. NULL is fine. */
void rt_token_state_free(rt_session_state *st);

/* ---- Seal / open ----------------------------------------------------------- */

/* Seals st into a fresh malloc'd token (free with free()). st must be
 * complete enough to be opened again: token id RT_TOKEN_ID_LEN bytes, secret
 * RT_TOKEN_SECRET_LEN, nonce RT_TOKEN_NONCE_LEN, ek_cert_sha256 32 bytes,
 * expires_unix > created_unix; otherwise RT_E_INVALID (a caller bug, caught
 * here rather than as a confusing Finish failure). The packed plaintext is
 * wiped before it is freed. */
rt_code rt_token_seal(const rt_token_key *key, const rt_session_state *st, uint8_t **out,
                      size_t *out_len, rt_err *err);

/* Authenticates and decrypts a token and checks it has not expired at now.
 * On success *out is a new state (free with rt_token_state_free). On failure
 * *out is NULL, *reason (if non-NULL) says why, and the returned code is
 * RT_E_INVALID (length, version, plaintext, expired), RT_E_CRYPTO (tag
 * mismatch: tampered or sealed under another key), or RT_E_NOMEM /
 * RT_E_INTERNAL (RT_TOKEN_FAILURE). Does NOT consult the replay guard: the
 * caller marks the id right after a successful open, before doing the
 * expensive checks, so that two concurrent Finish calls with one token
 * cannot both proceed. */
rt_code rt_token_open(const rt_token_key *key, const uint8_t *token, size_t token_len, time_t now,
                      rt_session_state **out, rt_token_reason *reason, rt_err *err);

/* ---- Confirm tokens ---------------------------------------------------------
 * The verifier's memory between Finish and Confirm (secret delivery): the
 * same layout, key, version and replay guard as session tokens, another AAD
 * context (RT_CONFIRM_CONTEXT), so neither kind opens as the other. */

typedef Rattest__Internal__V1__ConfirmState rt_confirm_state;

/* A new state with a fresh token id and nonce (RAND_bytes), created now,
 * expiring after ttl_seconds (1 s .. 24 h). */
rt_code rt_confirm_state_new(time_t now, int64_t ttl_seconds, rt_confirm_state **out, rt_err *err);
/* Records one delivered secret (name copied; kind a rattest.v1.SecretKind). */
rt_code rt_confirm_state_add(rt_confirm_state *st, const char *name, int32_t kind, rt_err *err);
void rt_confirm_state_free(rt_confirm_state *st);

/* As rt_token_seal / rt_token_open. A state needs a token id, a 32-byte
 * nonce, a 32-byte EK hash, a name and at least one delivered secret. */
rt_code rt_confirm_seal(const rt_token_key *key, const rt_confirm_state *st, uint8_t **out,
                        size_t *out_len, rt_err *err);
rt_code rt_confirm_open(const rt_token_key *key, const uint8_t *token, size_t token_len, time_t now,
                        rt_confirm_state **out, rt_token_reason *reason, rt_err *err);

/* ---- Replay guard ---------------------------------------------------------- */

typedef struct rt_token_replay_guard rt_token_replay_guard;

/* Default cap on live token ids: a verifier enrolling 100000 machines within
 * one session lifetime is far beyond any fleet's first boot wave. */
#define RT_REPLAY_GUARD_DEFAULT_CAP ((size_t)100000)

/* A guard remembering at most cap ids (cap >= 1; 0 means the default). Its
 * memory grows with the number of live ids, never past what cap needs. */
rt_code rt_replay_guard_new(size_t cap, rt_token_replay_guard **out, rt_err *err);
void rt_replay_guard_free(rt_token_replay_guard *guard);

/* Live ids currently remembered (for tests and metrics). */
size_t rt_replay_guard_count(rt_token_replay_guard *guard);

/* Records a token id as used until expires. First, ids whose expiry is at or
 * before now are forgotten (they can no longer pass rt_token_open). Then:
 *   - id already recorded: RT_E_INVALID, reason RT_TOKEN_REPLAYED;
 *   - expires <= now: RT_E_INVALID, reason RT_TOKEN_EXPIRED (nothing stored);
 *   - cap live ids already recorded: RT_E_NOMEM, reason RT_TOKEN_GUARD_FULL
 *     (refuse rather than forget a live id, which would reopen replay);
 *   - otherwise the id is recorded: RT_OK.
 * Thread-safe. reason may be NULL. */
rt_code rt_replay_check_and_mark(rt_token_replay_guard *guard, const uint8_t id[RT_TOKEN_ID_LEN],
                                 time_t expires, time_t now, rt_token_reason *reason, rt_err *err);

#endif
