/* Proof of receipt for delivered secrets (docs/secrets.md): the machine
 * shows the verifier it opened each secret without sending it back.
 *
 *   message = "rattest-secret-proof-v1" || 0x00 || name || 0x00 || nonce
 *   sealed secret:  HMAC-SHA256(key = the secret's bytes, message)
 *   imported key:   the key's TPM signature (RSASSA, SHA-256) over message
 *
 * The name binds a proof to one secret, the nonce (fresh per delivery) to
 * this delivery, and the label keeps the HMAC or signature from meaning
 * anything else. */
#ifndef RT_SECRET_PROOF_H
#define RT_SECRET_PROOF_H

#include <stddef.h>
#include <stdint.h>

#include "rt_err.h"

#define RT_SECRET_PROOF_LABEL "rattest-secret-proof-v1"

/* The message above (malloc'd). name: a non-empty C string. */
rt_code rt_secret_proof_message(const char *name, const uint8_t *nonce, size_t nonce_len,
                                uint8_t **msg, size_t *msg_len, rt_err *err);

/* SHA-256 of the message: what an imported key signs in the TPM. */
rt_code rt_secret_proof_digest(const char *name, const uint8_t *nonce, size_t nonce_len,
                               uint8_t digest[32], rt_err *err);

/* HMAC-SHA256 of the message keyed with the secret. */
rt_code rt_secret_proof_hmac(const uint8_t *secret, size_t secret_len, const char *name,
                             const uint8_t *nonce, size_t nonce_len, uint8_t mac[32], rt_err *err);

#endif
