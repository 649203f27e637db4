/* Delivered secrets, the TPM's part: objects the verifier wrapped to this
 * machine's EK in the TPM2_Import format (common/crypto/rt_dup.h) are imported
 * under the EK, then either unsealed (a "sealed" data object, optionally
 * bound to PCR values by a PolicyPCR authPolicy) or made persistent (an
 * "rsa-key" that becomes an identity). Every function flushes what it
 * loaded and every session it started, on every path. */
#ifndef RT_BOOTSTRAP_SECRETS_H
#define RT_BOOTSTRAP_SECRETS_H

#include <stddef.h>
#include <stdint.h>

#include "ek.h"
#include "rt_tpm.h"

/* TPM2_Import of the wrapped object under the EK (authorized like every
 * EK use: rt_ek_auth), no inner wrapper (symmetricAlg NULL). *priv is the
 * object's private blob for this TPM: TPM2_Load takes it under the same EK.
 * A duplicate or seed that was altered, or made for another EK, is refused
 * by the TPM: RT_E_TPM "Import under the EK ...". */
rt_code rt_secret_import(rt_tpm *tpm, const rt_ek *ek, const TPM2B_PUBLIC *pub,
                         const TPM2B_PRIVATE *dup, const TPM2B_ENCRYPTED_SECRET *seed,
                         TPM2B_PRIVATE *priv, rt_err *err);

/* Loads the sealed object under the EK and unseals it. pcr_sel with count
 * 0 (or NULL): the object opens with its empty password. Otherwise a policy
 * session runs TPM2_PolicyPCR(pcr_sel, current values) first, and when the
 * values are not those the secret was sealed to the error is RT_E_INVALID
 * "PCR policy not satisfied: a PCR in sha256:7 changed since the secret
 * was sealed". *data is malloc'ed: the caller wipes and frees it with
 * rt_secret_wipe. */
rt_code rt_secret_unseal(rt_tpm *tpm, const rt_ek *ek, const TPM2B_PUBLIC *pub,
                         const TPM2B_PRIVATE *priv, const TPML_PCR_SELECTION *pcr_sel,
                         uint8_t **data, size_t *len, rt_err *err);

/* Opens the EK the object was imported under: the first EK of `choice`
 * (AUTO: the RSA EK, then the ECC one; see rt_ek_open) under which
 * TPM2_Load accepts it. RT_E_NOT_FOUND when none does. */
rt_code rt_secret_open_ek(rt_tpm *tpm, rt_ek_choice choice, const TPM2B_PUBLIC *pub,
                          const TPM2B_PRIVATE *priv, rt_ek *ek, rt_err *err);

/* OPENSSL_cleanse, then free. NULL is fine. */
void rt_secret_wipe(uint8_t *data, size_t len);

/* Loads an imported RSA signing key under the EK and makes it persistent
 * at handle with idkey.c's rules: owner range only, never the EK range, an
 * object already there replaced only when it is `ours` (the public area
 * the state recorded at that handle, NULL when none): a foreign object is
 * never touched (no --force for delivered keys). The key must be usable
 * as an identity: RSA 2048/3072/4096, unrestricted, sign; with pcr_sel
 * NULL or empty it signs with its empty password (userWithAuth, no
 * authPolicy), else only in a policy session (authPolicy set,
 * userWithAuth clear). Anything else is RT_E_INVALID before the TPM is
 * asked. */
rt_code rt_secret_persist(rt_tpm *tpm, const rt_ek *ek, const TPM2B_PUBLIC *pub,
                          const TPM2B_PRIVATE *priv, const TPML_PCR_SELECTION *pcr_sel,
                          TPM2_HANDLE handle, const TPM2B_PUBLIC *ours, rt_err *err);

/* The proof of receipt of an imported key (rt_secret_proof.h): the
 * persistent key at handle (public area pub) signs
 * rt_secret_proof_digest(name, nonce) with RSASSA-SHA256, given explicitly
 * since the key's own scheme is NULL. With a PCR selection the signature
 * is authorized by a PolicyPCR(pcr_sel) session over the current values
 * (rt_pcr_session.h), flushed on every path; after a PCR change the error
 * is RT_E_INVALID "PCR policy not satisfied: a PCR in sha256:7 changed
 * since the key was delivered". */
rt_code rt_secret_sign_proof(rt_tpm *tpm, TPM2_HANDLE handle, const TPM2B_PUBLIC *pub,
                             const TPML_PCR_SELECTION *pcr_sel, const char *name,
                             const uint8_t *nonce, size_t nonce_len, TPMT_SIGNATURE *sig,
                             rt_err *err);

#endif
