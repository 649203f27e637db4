/* The storage primary key (SRK) that TSS2 PRIVATE KEY files mean by parent
 * 0x40000001 (the owner hierarchy): every tool re-creates it on demand with
 * CreatePrimary, and since a primary is derived from the hierarchy seed and
 * its template, the same template gives the same key, hence the same name,
 * and a key wrapped under one tool's primary loads under another's.
 *
 * The template is therefore not ours to choose: it is the one tpm2-openssl
 * and tpm2-tss-engine use and the key-file draft specifies, the TCG ECC
 * NIST P-256 storage template with an EMPTY unique field (x and y of size
 * 0). The TCG Provisioning Guidance SRK (EK Credential Profile template L-2
 * with the storage overrides) has x and y of 32 zero bytes instead; that
 * makes a different primary, and keys from tpm2-openssl do not load under
 * it (tests/test_tss2key_interop.sh shows both). */
#ifndef RT_SRK_H
#define RT_SRK_H

#include <tss2/tss2_esys.h>

#include "rt_err.h"
#include "rt_tpm.h"

/* type ECC, nameAlg SHA-256, attributes fixedTPM | fixedParent |
 * sensitiveDataOrigin | userWithAuth | noDA | restricted | decrypt, empty
 * authPolicy, symmetric AES-128-CFB, scheme NULL, curve NIST P-256, kdf
 * NULL, unique x and y empty. */
TPM2B_PUBLIC rt_srk_template(void);

/* CreatePrimary of rt_srk_template() in the owner hierarchy (empty owner
 * authorization, empty key authorization). *srk is a transient object the
 * caller flushes (rt_tpm_flush); ESYS_TR_NONE on failure. When out_pub is
 * not NULL it receives the primary's public area (free with Esys_Free). */
rt_code rt_srk_create(rt_tpm *tpm, ESYS_TR *srk, TPM2B_PUBLIC **out_pub, rt_err *err);

#endif
