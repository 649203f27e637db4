/* The sealed token format: how the verifier hands its state to the client
 * to carry between two calls without the client reading or changing it.
 * Session tokens (Begin to Finish, session_token.h) and confirm tokens
 * (Finish to Confirm, confirm_token.h) share it; each is a kind of token.
 *
 * Token layout (all bytes opaque to the client):
 *
 *   version (1 byte, RT_TOKEN_VERSION) || IV (12 bytes, RAND_bytes)
 *   || AES-256-GCM ciphertext of the packed state message
 *   || GCM tag (16 bytes)
 *
 * The AAD is the kind's context string followed by the version byte, so a
 * token cannot be re-labelled with another version, and a token of one kind
 * (or bytes sealed under the same key for another purpose) never opens as
 * another kind. The key is the token key (token_key.h). */
#ifndef RT_VERIFIER_TOKEN_SEAL_H
#define RT_VERIFIER_TOKEN_SEAL_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "rt_err.h"
#include "token_key.h"
#include "token_reason.h"

#define RT_TOKEN_VERSION 0x01
#define RT_TOKEN_IV_LEN 12
#define RT_TOKEN_TAG_LEN 16
/* Shortest token: version, IV and tag around an empty ciphertext. */
#define RT_TOKEN_MIN_LEN (1 + RT_TOKEN_IV_LEN + RT_TOKEN_TAG_LEN)
/* Longest token opened: a real state (two TPM2B_PUBLIC of at most ~600 bytes
 * each, a name of 64 bytes, a few digests) is far below. */
#define RT_TOKEN_MAX_LEN (16 * 1024)

/* Every state carries a random token id (the replay guard's key) and a
 * random nonce its machine must sign or prove with. */
#define RT_TOKEN_ID_LEN 16
#define RT_TOKEN_NONCE_LEN 32
/* Longest life of a token: Begin to Finish takes seconds on a real TPM, so
 * a day is generous and keeps a stolen token's window small. */
#define RT_TOKEN_MAX_TTL ((int64_t)24 * 3600)

/* A kind of token: its AAD context, its state message and what that state
 * must hold. */
typedef struct {
  const char *context; /* AAD context string, e.g. "rattest session token v1" */
  const char *what;    /* "session token", for messages */
  const char *state;   /* "session state", for messages */
  const ProtobufCMessageDescriptor *type;
  /* The invariants a state must hold to be sealed, and to be trusted once
   * opened; RT_E_INVALID with a message naming the field otherwise. */
  rt_code (*check)(const ProtobufCMessage *st, rt_err *err);
  /* The state's expires_unix. */
  int64_t (*expires)(const ProtobufCMessage *st);
  /* Wipes the state's secrets and frees it. */
  void (*free)(ProtobufCMessage *st);
} rt_token_kind;

/* Seals st into a fresh malloc'd token (free with free()). st must pass
 * kind->check, else RT_E_INVALID (a caller bug, caught here rather than as
 * a confusing refusal when the token comes back). The packed plaintext is
 * wiped before it is freed. */
rt_code rt_token_seal_state(const rt_token_kind *kind, const rt_token_key *key,
                            const ProtobufCMessage *st, uint8_t **out, size_t *out_len,
                            rt_err *err);

/* Authenticates and decrypts a token, parses its state, checks it
 * (kind->check) and that it has not expired at now. On success *out is the
 * state (free with kind->free). On failure *out is NULL, *reason (if
 * non-NULL) says why, and the returned code is RT_E_INVALID (length,
 * version, plaintext, expired), RT_E_CRYPTO (tag mismatch: tampered or
 * sealed under another key), or RT_E_NOMEM / RT_E_INTERNAL
 * (RT_TOKEN_FAILURE). Does not consult the replay guard. */
rt_code rt_token_open_state(const rt_token_kind *kind, const rt_token_key *key,
                            const uint8_t *token, size_t token_len, time_t now,
                            ProtobufCMessage **out, rt_token_reason *reason, rt_err *err);

/* Fills a state's bytes field with len fresh bytes from RAND_bytes (a token
 * id, a nonce, a secret). */
rt_code rt_token_random_field(ProtobufCBinaryData *field, size_t len, rt_err *err);

#endif
