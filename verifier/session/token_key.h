/* The token key: the AES-256 key session and confirm tokens are sealed
 * under (token_seal.h). Either random for this process (tokens die with it)
 * or loaded from a key file that several verifiers share (--token-key), so
 * that any of them can open a token another sealed.
 *
 * Key lifetime: GCM with random 96-bit IVs must stay well below 2^32 seals
 * per key (NIST SP 800-38D); rotate the key file long before that.
 *
 * Thread safety: a loaded key is read-only and may be used by any number of
 * threads at once. */
#ifndef RT_VERIFIER_TOKEN_KEY_H
#define RT_VERIFIER_TOKEN_KEY_H

#include "rt_err.h"

#define RT_TOKEN_KEY_LEN 32

typedef struct rt_token_key rt_token_key;

/* Loads a key file: exactly 64 hex digits (either case), optionally followed
 * by one newline, as rt_token_key_generate_file or `openssl rand -hex 32`
 * write it. The file must be a regular file that neither group nor others
 * can access (mode 0600 or stricter): RT_E_INVALID otherwise, naming the
 * file and its mode (rt_file_read_private). The key material is never part
 * of a message. */
rt_code rt_token_key_load(const char *path, rt_token_key **out, rt_err *err);

/* A fresh random key (RAND_bytes) for this process only: what the verifier
 * uses when no --token-key is configured. */
rt_code rt_token_key_random(rt_token_key **out, rt_err *err);

/* Writes a new random key to path in the format rt_token_key_load reads,
 * mode 0600, atomically (rt_file_write_atomic: a crash leaves no partly
 * written key). Refuses (RT_E_INVALID) to replace an existing file or
 * follow a symlink, so that a typo cannot silently invalidate every
 * verifier sharing the old key. */
rt_code rt_token_key_generate_file(const char *path, rt_err *err);

/* 1 when the key came from rt_token_key_random (so tokens die with this
 * process), 0 when it was loaded from a file. */
int rt_token_key_is_ephemeral(const rt_token_key *key);

/* The RT_TOKEN_KEY_LEN key bytes, for the AEAD in token_seal.c only. */
const unsigned char *rt_token_key_bytes(const rt_token_key *key);

/* Wipes and frees; NULL is fine. */
void rt_token_key_free(rt_token_key *key);

#endif
