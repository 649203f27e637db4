/* What a TPM signs for an enrollment, made in software as real TPM
 * structures (Tss2_MU_*): TPM2_Quote and TPM2_Certify by the AK
 * (TPMS_ATTEST in a TPM2B_ATTEST, TPMT_SIGNATURE) and the identity key's
 * possession signature (rt_possession.h). */
#ifndef LG_ATTEST_H
#define LG_ATTEST_H

#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "machine.h"
#include "rt_bytes.h"
#include "rt_err.h"

/* A quote of sel whose PCR values hash (SHA-256, in the TPM's order) to
 * pcr_digest, qualifying data nonce. Advances the machine's clock. */
rt_code lg_quote(lg_machine *m, const uint8_t *nonce, size_t nonce_len,
                 const TPML_PCR_SELECTION *sel, const uint8_t pcr_digest[32], rt_bytes *attest,
                 rt_bytes *sig, rt_err *err);

/* TPM2_Certify of the identity key by the AK, qualifying data nonce. */
rt_code lg_certify(lg_machine *m, const uint8_t *nonce, size_t nonce_len, rt_bytes *attest,
                   rt_bytes *sig, rt_err *err);

/* The identity key's signature (ECDSA or RSASSA, SHA-256) of the
 * possession message over nonce. */
rt_code lg_possession(const lg_machine *m, const uint8_t *nonce, size_t nonce_len, rt_bytes *sig,
                      rt_err *err);

#endif
