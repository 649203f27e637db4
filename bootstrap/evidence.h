/* The evidence a machine sends in Finish, produced by the TPM: a quote over
 * the demanded PCRs, the PCR values, a certification of the identity key by
 * the AK, and the key's own signature proving possession. All outputs are
 * the canonical marshalled TPM structures (malloc'ed). */
#ifndef RT_BOOTSTRAP_EVIDENCE_H
#define RT_BOOTSTRAP_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include "ak.h"
#include "rt_bytes.h"

/* TPM2_Quote by the AK over sel with nonce as qualifying data: TPM2B_ATTEST
 * and TPMT_SIGNATURE. */
rt_code rt_quote(rt_tpm *tpm, const rt_ak *ak, const uint8_t *nonce, size_t nonce_len,
                 const TPML_PCR_SELECTION *sel, rt_bytes *attest, rt_bytes *sig, rt_err *err);

/* One PCR value as read from the TPM. */
typedef struct {
  TPMI_ALG_HASH bank;
  uint32_t index;
  TPM2B_DIGEST value;
} rt_pcr_value;

/* Reads every PCR of sel (several PCR_Read calls: a TPM returns at most 8
 * digests per call). *values is malloc'ed, *n = rt_pcrsel_count(sel). */
rt_code rt_pcr_read_all(rt_tpm *tpm, const TPML_PCR_SELECTION *sel, rt_pcr_value **values,
                        size_t *n, rt_err *err);

/* TPM2_Certify of key by the AK, qualifying data nonce. */
rt_code rt_certify(rt_tpm *tpm, ESYS_TR key, const rt_ak *ak, const uint8_t *nonce,
                   size_t nonce_len, rt_bytes *attest, rt_bytes *sig, rt_err *err);

/* TPM2_Sign by key of the possession digest (rt_possession.h): ECDSA or
 * RSASSA with SHA-256, null ticket (unrestricted key). TPMT_SIGNATURE. */
rt_code rt_sign_possession(rt_tpm *tpm, ESYS_TR key, const TPMT_PUBLIC *key_pub,
                           const uint8_t *nonce, size_t nonce_len, rt_bytes *sig, rt_err *err);

#endif
