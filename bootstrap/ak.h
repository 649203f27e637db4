/* The attestation key: a primary of the endorsement hierarchy (so quotes
 * show the real clock), used to activate the verifier's credential, which
 * binds it to the EK of the same TPM. */
#ifndef RT_BOOTSTRAP_AK_H
#define RT_BOOTSTRAP_AK_H

#include "ek.h"
#include "rt_templates.h"

typedef struct {
  ESYS_TR handle; /* transient: flush with rt_ak_close */
  TPM2B_PUBLIC pub;
  TPM2B_NAME name;
} rt_ak;

/* Creates the AK (CreatePrimary, endorsement hierarchy, a random unique).
 * RT_ALG_NONE: ECC P-256, or RSA 2048 when the TPM refuses the ECC template
 * (any other error is returned). */
rt_code rt_ak_create(rt_tpm *tpm, rt_key_alg alg, rt_ak *ak, rt_err *err);
void rt_ak_close(rt_tpm *tpm, rt_ak *ak);

/* TPM2_ActivateCredential: recovers the secret the verifier bound to this
 * AK's name and this EK. *secret is to be OPENSSL_cleanse'd and
 * Esys_Free'd by the caller. */
rt_code rt_ak_activate(rt_tpm *tpm, const rt_ek *ek, const rt_ak *ak, const TPM2B_ID_OBJECT *blob,
                       const TPM2B_ENCRYPTED_SECRET *enc, TPM2B_DIGEST **secret, rt_err *err);

#endif
