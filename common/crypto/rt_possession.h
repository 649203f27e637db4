/* The possession proof of the enrollment protocol: the new key signs
 * SHA-256("rattest-possession-v1" || 0x00 || nonce). The label keeps the
 * signature from being confused with any other use of the key. */
#ifndef RT_POSSESSION_H
#define RT_POSSESSION_H

#include <stddef.h>
#include <stdint.h>

#include "rt_err.h"

#define RT_POSSESSION_LABEL "rattest-possession-v1"

/* The message whose SHA-256 is signed: label || 0x00 || nonce. */
rt_code rt_possession_message(const uint8_t *nonce, size_t nonce_len, uint8_t **msg,
                              size_t *msg_len, rt_err *err);

/* SHA-256 of that message: what the TPM signs. */
rt_code rt_possession_digest(const uint8_t *nonce, size_t nonce_len, uint8_t digest[32],
                             rt_err *err);

#endif
