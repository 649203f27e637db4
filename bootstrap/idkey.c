#include "idkey.h"

#include <string.h>
#include <tss2/tss2_mu.h>

#include "rt_log.h"
#include "rt_srk.h"
#include "rt_tpm_meta.h"

rt_code rt_idkey_create(rt_tpm *tpm, rt_key_alg alg, rt_idkey *key, rt_err *err) {
  memset(key, 0, sizeof *key);
  key->handle = ESYS_TR_NONE;
  ESYS_TR srk = ESYS_TR_NONE;
  rt_code code = rt_srk_create(tpm, &srk, NULL, err);
  if (code != RT_OK)
    return code;
  TPM2B_PUBLIC tmpl = rt_template_key(alg);
  TPM2B_PRIVATE *priv = NULL;
  TPM2B_PUBLIC *pub = NULL;
  code = rt_tpm_create_loaded(tpm, srk, &tmpl, &key->handle, &priv, &pub, err);
  if (code != RT_OK) {
    rt_err_prefix(err, "creating the identity key under the SRK: ");
    goto out;
  }
  key->pub = *pub;
  key->priv = *priv;
out:
  rt_tpm_flush(tpm, &srk);
  Esys_Free(priv);
  Esys_Free(pub);
  return code;
}

void rt_idkey_close(rt_tpm *tpm, rt_idkey *key) {
  rt_tpm_flush(tpm, &key->handle);
  /* The private blob is wrapped by the SRK, but there is no reason to keep
   * it around in memory longer than needed either. */
  memset(&key->priv, 0, sizeof key->priv);
}

/* Compares two public areas by their canonical encoding. */
static int same_public(const TPM2B_PUBLIC *a, const TPM2B_PUBLIC *b) {
  uint8_t ba[sizeof(TPM2B_PUBLIC)], bb[sizeof(TPM2B_PUBLIC)];
  size_t la = 0, lb = 0;
  if (Tss2_MU_TPMT_PUBLIC_Marshal(&a->publicArea, ba, sizeof ba, &la) != TSS2_RC_SUCCESS ||
      Tss2_MU_TPMT_PUBLIC_Marshal(&b->publicArea, bb, sizeof bb, &lb) != TSS2_RC_SUCCESS)
    return 0;
  return la == lb && memcmp(ba, bb, la) == 0;
}

/* The object at handle classified (see rt_handle_owner_of); *tr stays open
 * (close it) when the handle holds one. */
static rt_code owner_open(rt_tpm *tpm, TPM2_HANDLE handle, const TPM2B_PUBLIC *ours,
                          rt_handle_owner *owner, ESYS_TR *tr, rt_err *err) {
  TPM2B_PUBLIC pub;
  *owner = RT_HANDLE_FREE;
  rt_code code = rt_tpm_open_persistent(tpm, handle, tr, &pub, err);
  if (code == RT_E_NOT_FOUND) {
    rt_err_clear(err);
    return RT_OK;
  }
  if (code != RT_OK)
    return rt_err_prefix(err, "reading the object at the persistent handle: ");
  *owner = (ours != NULL && same_public(&pub, ours)) ? RT_HANDLE_OURS : RT_HANDLE_FOREIGN;
  return RT_OK;
}

rt_code rt_handle_owner_of(rt_tpm *tpm, TPM2_HANDLE handle, const TPM2B_PUBLIC *ours,
                           rt_handle_owner *owner, rt_err *err) {
  ESYS_TR tr = ESYS_TR_NONE;
  rt_code code = owner_open(tpm, handle, ours, owner, &tr, err);
  rt_tpm_tr_close(tpm, &tr);
  return code;
}

static rt_code evict(rt_tpm *tpm, ESYS_TR object, TPM2_HANDLE handle, ESYS_TR *out,
                     const char *what, rt_err *err) {
  TSS2_RC rc = Esys_EvictControl(tpm->esys, ESYS_TR_RH_OWNER, object, ESYS_TR_PASSWORD,
                                 ESYS_TR_NONE, ESYS_TR_NONE, handle, out);
  if (rc != TSS2_RC_SUCCESS)
    return rt_tpm_rc(err, rc, what);
  return RT_OK;
}

rt_code rt_idkey_handle_check(TPM2_HANDLE handle, rt_err *err) {
  if (handle < 0x81000000u || handle > 0x817fffffu)
    return rt_err_set(err, RT_E_INVALID,
                      "0x%08x is out of range: not an owner persistent handle "
                      "(0x81000000-0x817fffff)",
                      (unsigned)handle);
  if (handle >= 0x81010000u && handle <= 0x8101ffffu)
    return rt_err_set(err, RT_E_INVALID,
                      "0x%08x is in the endorsement key range (0x81010000-0x8101ffff)",
                      (unsigned)handle);
  return RT_OK;
}

static rt_code refuse_foreign(TPM2_HANDLE handle, rt_err *err) {
  return rt_err_set(err, RT_E_INVALID,
                    "persistent handle 0x%08x holds an object rattest did not put there; "
                    "choose another --handle or use --force to replace it",
                    (unsigned)handle);
}

rt_code rt_idkey_handle_usable(rt_tpm *tpm, TPM2_HANDLE handle, const TPM2B_PUBLIC *ours, int force,
                               rt_handle_owner *owner, rt_err *err) {
  rt_code code = rt_idkey_handle_check(handle, err);
  if (code == RT_OK)
    code = rt_handle_owner_of(tpm, handle, ours, owner, err);
  if (code != RT_OK)
    return code;
  if (*owner == RT_HANDLE_FOREIGN && !force)
    return refuse_foreign(handle, err);
  return RT_OK;
}

/* Takes the object at handle out when rattest may (see
 * rt_idkey_handle_usable). */
static rt_code evict_previous(rt_tpm *tpm, TPM2_HANDLE handle, const TPM2B_PUBLIC *ours, int force,
                              rt_err *err) {
  ESYS_TR old = ESYS_TR_NONE, gone = ESYS_TR_NONE;
  rt_handle_owner owner;
  rt_code code = owner_open(tpm, handle, ours, &owner, &old, err);
  if (code != RT_OK || owner == RT_HANDLE_FREE)
    return code;
  if (owner == RT_HANDLE_FOREIGN && !force) {
    rt_tpm_tr_close(tpm, &old);
    return refuse_foreign(handle, err);
  }
  /* EvictControl on a persistent object removes it and invalidates old. */
  code = evict(tpm, old, handle, &gone, "removing the previous key", err);
  if (code != RT_OK) {
    rt_tpm_tr_close(tpm, &old);
    return code;
  }
  /* Whichever of the two ESYS still tracks for the evicted object must go,
   * or ESYS refuses to track the new object at the same handle. Closing
   * one it already dropped only returns an error we need not report. */
  if (old != ESYS_TR_NONE)
    (void)Esys_TR_Close(tpm->esys, &old);
  if (gone != ESYS_TR_NONE)
    (void)Esys_TR_Close(tpm->esys, &gone);
  rt_info("replaced the %s key at 0x%08x", owner == RT_HANDLE_OURS ? "previous" : "foreign",
          (unsigned)handle);
  return RT_OK;
}

rt_code rt_idkey_persist(rt_tpm *tpm, const rt_idkey *key, TPM2_HANDLE handle,
                         const TPM2B_PUBLIC *ours, int force, rt_err *err) {
  rt_code code = rt_idkey_handle_check(handle, err);
  if (code != RT_OK)
    return code;
  /* Most often the handle is free: the key goes in straight away, and only
   * a taken handle (TPM_RC_NV_DEFINED) is looked at, its object taken out
   * when rattest may, and the key put in again. */
  ESYS_TR persistent = ESYS_TR_NONE;
  TSS2_RC rc = Esys_EvictControl(tpm->esys, ESYS_TR_RH_OWNER, key->handle, ESYS_TR_PASSWORD,
                                 ESYS_TR_NONE, ESYS_TR_NONE, handle, &persistent);
  if (rc == TPM2_RC_NV_DEFINED) {
    code = evict_previous(tpm, handle, ours, force, err);
    if (code == RT_OK)
      code =
          evict(tpm, key->handle, handle, &persistent, "making the identity key persistent", err);
  } else if (rc != TSS2_RC_SUCCESS) {
    code = rt_tpm_rc(err, rc, "making the identity key persistent");
  }
  if (code == RT_OK)
    rt_tpm_tr_close(tpm, &persistent);
  return code;
}

rt_code rt_idkey_restore(rt_tpm *tpm, const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv,
                         TPM2_HANDLE handle, int *restored, rt_err *err) {
  *restored = 0;
  rt_handle_owner owner;
  rt_code code = rt_handle_owner_of(tpm, handle, pub, &owner, err);
  if (code != RT_OK || owner != RT_HANDLE_FREE)
    return code;
  rt_idkey key = {.handle = ESYS_TR_NONE, .pub = *pub, .priv = *priv};
  ESYS_TR srk = ESYS_TR_NONE;
  if ((code = rt_srk_create(tpm, &srk, NULL, err)) != RT_OK)
    return code;
  TSS2_RC rc = Esys_Load(tpm->esys, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub,
                         &key.handle);
  rt_tpm_flush(tpm, &srk);
  if (rc != TSS2_RC_SUCCESS) {
    key.handle = ESYS_TR_NONE;
    code = rt_tpm_rc(err, rc, "loading the recorded key");
  }
  if (code == RT_OK)
    code = rt_idkey_persist(tpm, &key, handle, NULL, 0, err);
  *restored = code == RT_OK;
  rt_idkey_close(tpm, &key);
  return code;
}
