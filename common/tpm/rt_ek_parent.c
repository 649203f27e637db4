#include "rt_ek_parent.h"

#include <openssl/evp.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "rt_kdf.h" /* rt_tpm_hash_name */

int rt_ek_handle(uint32_t handle) {
  return handle >= RT_EK_HANDLE_FIRST && handle <= RT_EK_HANDLE_LAST;
}

rt_code rt_ek_auth_session(rt_tpm *tpm, const TPMT_PUBLIC *pub, ESYS_TR *session, rt_err *err) {
  *session = ESYS_TR_NONE;
  if (pub->objectAttributes & TPMA_OBJECT_USERWITHAUTH) {
    *session = ESYS_TR_PASSWORD;
    return RT_OK;
  }
  /* The policy digest is computed with the EK's name algorithm. */
  TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
  TSS2_RC rc =
      Esys_StartAuthSession(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                            ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym, pub->nameAlg, session);
  if (rc != TSS2_RC_SUCCESS) {
    *session = ESYS_TR_NONE;
    return rt_tpm_rc(err, rc, "starting the EK policy session");
  }
  rc = Esys_PolicySecret(tpm->esys, ESYS_TR_RH_ENDORSEMENT, *session, ESYS_TR_PASSWORD,
                         ESYS_TR_NONE, ESYS_TR_NONE, NULL, NULL, NULL, 0, NULL, NULL);
  if (rc != TSS2_RC_SUCCESS) {
    rt_tpm_flush(tpm, session);
    return rt_tpm_rc(err, rc, "PolicySecret(endorsement) for the EK");
  }
  return RT_OK;
}

rt_code rt_ek_create(rt_tpm *tpm, rt_key_alg alg, ESYS_TR *ek, TPM2B_PUBLIC *pub, rt_err *err) {
  TPM2B_PUBLIC tmpl = rt_template_ek(alg);
  TPM2B_SENSITIVE_CREATE sens;
  memset(&sens, 0, sizeof sens);
  TPM2B_DATA outside = {.size = 0};
  TPML_PCR_SELECTION pcrs = {.count = 0};
  TPM2B_PUBLIC *out = NULL;
  *ek = ESYS_TR_NONE;
  TSS2_RC rc =
      Esys_CreatePrimary(tpm->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                         ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs, ek, &out, NULL, NULL, NULL);
  if (rc != TSS2_RC_SUCCESS) {
    *ek = ESYS_TR_NONE;
    return rt_tpm_rc(err, rc, "creating the EK from the TCG template");
  }
  *pub = *out;
  Esys_Free(out);
  return RT_OK;
}

/* A primary's qualified name is nameAlg || H(hierarchy handle || name); any
 * other object's is H(parent's qualified name || name), a longer input. So
 * an object whose qualified name is that of TPM_RH_ENDORSEMENT's primary is
 * a primary of the endorsement hierarchy (not, say, a key with the EK's
 * template made under the owner's SRK and persisted at an EK handle). */
static rt_code endorsement_primary(OSSL_LIB_CTX *libctx, const char *propq, TPMI_ALG_HASH alg,
                                   const TPM2B_NAME *name, const TPM2B_NAME *qn, int *yes,
                                   rt_err *err) {
  uint8_t in[sizeof(TPM2_HANDLE) + sizeof name->name], dig[EVP_MAX_MD_SIZE];
  uint8_t alg_be[sizeof alg];
  size_t off = 0, aoff = 0;
  unsigned dlen = 0;
  *yes = 0;
  const char *mdn = rt_tpm_hash_name(alg);
  if (mdn == NULL)
    return RT_OK;
  if (Tss2_MU_TPM2_HANDLE_Marshal(TPM2_RH_ENDORSEMENT, in, sizeof in, &off) != TSS2_RC_SUCCESS ||
      Tss2_MU_TPMI_ALG_HASH_Marshal(alg, alg_be, sizeof alg_be, &aoff) != TSS2_RC_SUCCESS ||
      name->size > sizeof name->name)
    return rt_err_set(err, RT_E_INTERNAL, "marshalling the endorsement hierarchy handle failed");
  memcpy(in + off, name->name, name->size);
  EVP_MD *md = EVP_MD_fetch(libctx, mdn, propq);
  int ok = md != NULL && EVP_Digest(in, off + name->size, dig, &dlen, md, NULL) == 1;
  EVP_MD_free(md);
  if (!ok)
    return rt_err_set(err, RT_E_CRYPTO, "cannot compute %s for the EK's qualified name", mdn);
  *yes = qn->size == aoff + dlen && memcmp(qn->name, alg_be, aoff) == 0 &&
         memcmp(qn->name + aoff, dig, dlen) == 0;
  return RT_OK;
}

/* The object persistent at handle if it is an EK: RT_E_NOT_FOUND when the
 * handle is empty, RT_E_INVALID when something else is there. A key file
 * only names a handle; whatever sits there must not be used as the parent
 * (nor get PolicySecret(endorsement) spent on it) unless it is an EK. */
static rt_code open_persistent(rt_tpm *tpm, OSSL_LIB_CTX *libctx, const char *propq,
                               uint32_t handle, ESYS_TR *ek, TPM2B_PUBLIC *pub, rt_err *err) {
  TSS2_RC rc =
      Esys_TR_FromTPMPublic(tpm->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ek);
  if (rc != TSS2_RC_SUCCESS) {
    *ek = ESYS_TR_NONE;
    if (rt_tpm_rc_is_handle(rc))
      return rt_err_set(err, RT_E_NOT_FOUND, "no persistent object");
    return rt_tpm_rc(err, rc, "looking up the persistent EK");
  }
  TPM2B_PUBLIC *out = NULL;
  TPM2B_NAME *name = NULL, *qn = NULL;
  rt_code code = RT_OK;
  const char *why = NULL;
  int primary = 0;
  rc = Esys_ReadPublic(tpm->esys, *ek, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &out, &name, &qn);
  if (rc != TSS2_RC_SUCCESS)
    code = rt_tpm_rc(err, rc, "ReadPublic of the persistent EK");
  if (code == RT_OK && (why = rt_ek_shape_problem(&out->publicArea)) == NULL) {
    code = endorsement_primary(libctx, propq, out->publicArea.nameAlg, name, qn, &primary, err);
    if (code == RT_OK && !primary)
      why = "not a primary key of the endorsement hierarchy";
  }
  if (code == RT_OK && why != NULL)
    code = rt_err_set(err, RT_E_INVALID, "the persistent object there is not an EK: %s", why);
  if (code == RT_OK)
    *pub = *out;
  else
    rt_tpm_tr_close(tpm, ek);
  Esys_Free(out);
  Esys_Free(name);
  Esys_Free(qn);
  return code;
}

rt_code rt_ek_parent_load(rt_tpm *tpm, OSSL_LIB_CTX *libctx, const char *propq, uint32_t handle,
                          const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv, ESYS_TR *key,
                          rt_err *err) {
  *key = ESYS_TR_NONE;
  if (!rt_ek_handle(handle))
    return rt_err_set(err, RT_E_INVALID, "0x%08x is not an EK handle", handle);
  ESYS_TR ek = ESYS_TR_NONE, session = ESYS_TR_NONE;
  TPM2B_PUBLIC ek_pub;
  int transient = 0;
  rt_code code = open_persistent(tpm, libctx, propq, handle, &ek, &ek_pub, err);
  if (code == RT_E_NOT_FOUND) {
    /* Not provisioned as persistent: the EK is still there, derived from
     * the endorsement seed by its TCG template whenever it is asked for. */
    rt_key_alg alg = rt_ek_template_alg(handle);
    if (alg == RT_ALG_NONE)
      code = rt_err_set(err, RT_E_NOT_FOUND,
                        "no persistent EK, and no TCG default template for this handle");
    else
      transient = (code = rt_ek_create(tpm, alg, &ek, &ek_pub, err)) == RT_OK;
  }
  if (code == RT_OK)
    code = rt_ek_auth_session(tpm, &ek_pub.publicArea, &session, err);
  if (code == RT_OK) {
    TSS2_RC rc = Esys_Load(tpm->esys, ek, session, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub, key);
    if (rc != TSS2_RC_SUCCESS) {
      *key = ESYS_TR_NONE;
      code = rt_tpm_rc(err, rc, "loading the key under the EK (key of another TPM?)");
    }
  }
  /* Only the key stays: the session and a transient EK go on every path,
   * so a TPM without resource manager never holds more than it did with
   * the SRK parent. A persistent EK's ESYS_TR is released (no command). */
  rt_tpm_flush(tpm, &session);
  if (transient)
    rt_tpm_flush(tpm, &ek);
  else
    rt_tpm_tr_close(tpm, &ek);
  if (code != RT_OK)
    rt_err_prefix(err, "EK parent 0x%08x: ", handle);
  return code;
}
