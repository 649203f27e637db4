/* The identity key: an unrestricted signing key created under the standard
 * SRK, certified by the AK, kept in the TPM at a persistent handle and as a
 * TSS2 PRIVATE KEY file (loadable by tpm2-openssl and our provider). */
#ifndef RT_BOOTSTRAP_IDKEY_H
#define RT_BOOTSTRAP_IDKEY_H

#include "rt_templates.h"
#include "rt_tpm.h"

typedef struct {
  ESYS_TR handle; /* loaded transient object; rt_idkey_close flushes it */
  TPM2B_PUBLIC pub;
  TPM2B_PRIVATE priv;
} rt_idkey;

/* Creates the key under the SRK (created for the purpose and flushed right
 * after the load, so at most two transient objects exist at any time) and
 * loads it. */
rt_code rt_idkey_create(rt_tpm *tpm, rt_key_alg alg, rt_idkey *key, rt_err *err);
void rt_idkey_close(rt_tpm *tpm, rt_idkey *key);

/* What is at a persistent handle now. */
typedef enum { RT_HANDLE_FREE, RT_HANDLE_OURS, RT_HANDLE_FOREIGN } rt_handle_owner;

/* Classifies the object at handle: ours when its public area equals
 * `ours` (the key our state file recorded there), foreign otherwise. */
rt_code rt_handle_owner_of(rt_tpm *tpm, TPM2_HANDLE handle, const TPM2B_PUBLIC *ours,
                           rt_handle_owner *owner, rt_err *err);

/* Whether rattest may put a key at handle: the owner's persistent range
 * 0x81000000-0x817fffff, never the endorsement key range 0x81010000-
 * 0x8101ffff inside it (even with --force a typo must not evict the EK).
 * RT_E_INVALID naming the handle and the range otherwise. */
rt_code rt_idkey_handle_check(TPM2_HANDLE handle, rt_err *err);

/* Whether a key may be made persistent at handle now: rt_idkey_handle_check,
 * and whatever is there (*owner) is ours or force is set; a foreign object
 * without force is RT_E_INVALID. */
rt_code rt_idkey_handle_usable(rt_tpm *tpm, TPM2_HANDLE handle, const TPM2B_PUBLIC *ours, int force,
                               rt_handle_owner *owner, rt_err *err);

/* Makes the loaded key persistent at handle (one EvictControl when the
 * handle is free, which it tries first). An object already there is replaced when it is ours (see
 * rt_handle_owner_of) or when force is set (rt_idkey_handle_usable decides). */
rt_code rt_idkey_persist(rt_tpm *tpm, const rt_idkey *key, TPM2_HANDLE handle,
                         const TPM2B_PUBLIC *ours, int force, rt_err *err);

/* Puts the key of a key file (pub, priv under our SRK) back at handle when
 * the handle is empty; *restored tells whether it did. Replacing a key at
 * its handle takes two EvictControls (the old one out, the new one in): a
 * run that stops between them leaves the handle empty while the state still
 * records the old key, which this restores. Nothing else is touched: a
 * handle holding any object is left as it is. */
rt_code rt_idkey_restore(rt_tpm *tpm, const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv,
                         TPM2_HANDLE handle, int *restored, rt_err *err);

#endif
