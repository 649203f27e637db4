/* One delivered secret, received: what the enroll flow calls for each
 * secret the verifier sends. Import under the EK, open it (unseal a sealed
 * secret; persist an rsa-key at a handle rattest owns), record it
 * (secret_store.h), and return the proof of receipt (rt_secret_proof.h). */
#ifndef RT_BOOTSTRAP_SECRET_RECEIVE_H
#define RT_BOOTSTRAP_SECRET_RECEIVE_H

#include <stddef.h>
#include <stdint.h>

#include "ek.h"
#include "evidence.h"
#include "rt_state.h"

/* A secret as the verifier sent it (rt_dup.h's blobs, unmarshalled). */
typedef struct {
  const char *name; /* rt_name_check rules */
  rt_secret_type type;
  TPM2B_PUBLIC pub;
  TPM2B_PRIVATE dup;
  TPM2B_ENCRYPTED_SECRET seed;
  /* The object's PolicyPCR selection (DeliveredSecret.pcr_policy), count
   * 0 = none: a sealed secret unseals, an rsa-key signs only in a
   * PolicyPCR session over it. */
  TPML_PCR_SELECTION pcrs;
  /* rsa-key only: DER certificates, the key's first, then its issuing chain
   * (DeliveredSecret.certificates). */
  const rt_bytes *certs;
  size_t n_certs;
} rt_secret_delivery;

/* Receives d: on success the secret is recorded and state.json saved, and
 * *proof holds the proof of receipt for nonce: sealed, the 32-byte
 * HMAC-SHA256 (rt_secret_proof_hmac); rsa-key, the marshalled
 * TPMT_SIGNATURE (RSASSA-SHA256 over rt_secret_proof_digest) — rt_bytes_free
 * it. *handle: where an rsa-key now is (0 for sealed). via is the identity
 * enrolled in the same session (verifier, EK, AK certificate for an
 * rsa-key's identity entry). On failure nothing is recorded, and an rsa-key
 * already persisted is evicted again (the handle was free, or held the
 * previous key of that name, which the state then no longer finds: the
 * next delivery puts the key back there). */
rt_code rt_secret_receive(rt_tpm *tpm, const rt_ek *ek, rt_state *st, const char *state_dir,
                          const rt_identity *via, const rt_secret_delivery *d, const uint8_t *nonce,
                          size_t nonce_len, rt_bytes *proof, uint32_t *handle, rt_err *err);

#endif
