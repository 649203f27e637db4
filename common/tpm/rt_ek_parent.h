/* The endorsement key as a parent: what a TSS2 key file naming an EK handle
 * (0x81010000-0x810100ff) needs, e.g. a key the verifier delivered with
 * TPM2_Import under the machine's EK (docs/state.md, "secrets").
 *
 * An EK is no ordinary parent: TCG low-range EKs have no userWithAuth, so
 * every use as a parent needs a policy session satisfying
 * PolicySecret(TPM_RH_ENDORSEMENT), and a provisioned TPM may keep it
 * persistent or not at all (then it is re-created from the TCG default
 * template: same seed, same template, same key). */
#ifndef RT_EK_PARENT_H
#define RT_EK_PARENT_H

#include <openssl/types.h>
#include <stdint.h>
#include <tss2/tss2_esys.h>

#include "rt_err.h"
#include "rt_templates.h"
#include "rt_tpm.h"

/* True for the TCG EK handle range 0x81010000-0x810100ff. */
int rt_ek_handle(uint32_t handle);

/* The authorization for using the EK `ek` (public area `pub`) in the USER
 * role (as a parent, for ActivateCredential). Low-range EKs (no
 * userWithAuth): a policy session with PolicySecret(TPM_RH_ENDORSEMENT)
 * (empty endorsement authorization), for one command, then flushed by the
 * caller (rt_tpm_flush). EKs with userWithAuth (the high-range templates,
 * e.g. swtpm's P-384 EK) take the empty password: *session =
 * ESYS_TR_PASSWORD, which rt_tpm_flush leaves alone. */
rt_code rt_ek_auth_session(rt_tpm *tpm, const TPMT_PUBLIC *pub, ESYS_TR *session, rt_err *err);

/* CreatePrimary of the TCG default EK template of alg (rt_template_ek) in
 * the endorsement hierarchy, empty endorsement authorization: the key the
 * manufacturer certified. *ek is a transient object the caller flushes
 * (ESYS_TR_NONE on failure); *pub its public area. */
rt_code rt_ek_create(rt_tpm *tpm, rt_key_alg alg, ESYS_TR *ek, TPM2B_PUBLIC *pub, rt_err *err);

/* Loads a key whose parent is the EK at `handle` (an EK handle):
 *   - the object persistent at `handle` when there is one, after checking
 *     it IS an EK: shaped like one (rt_ek_shape_problem) and a primary of
 *     the endorsement hierarchy (its qualified name, hashed with libctx /
 *     propq); anything else there is refused, never used;
 *   - else the EK made with CreatePrimary from the TCG default template of
 *     that handle (0x81010001 RSA 2048, 0x81010002 ECC P-256); other handles
 *     have none and fail;
 * then authorizes with rt_ek_auth_session, Esys_Load, and flushes the
 * session and a transient EK on every path: at most two objects (EK and
 * key) and one session are in the TPM at once, and only the key remains.
 * *key is a transient object the caller flushes; ESYS_TR_NONE on failure.
 * Messages name the handle. */
rt_code rt_ek_parent_load(rt_tpm *tpm, OSSL_LIB_CTX *libctx, const char *propq, uint32_t handle,
                          const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv, ESYS_TR *key,
                          rt_err *err);

#endif
