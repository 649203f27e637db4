#include "ak.h"

#include <string.h>

#include "rt_log.h"

static rt_code create_load(rt_tpm *tpm, const rt_ek *ek, rt_key_alg alg, rt_ak *ak, rt_err *err) {
  TPM2B_PUBLIC tmpl = rt_template_ak(alg);
  TPM2B_PRIVATE *priv = NULL;
  TPM2B_PUBLIC *pub = NULL;
  TPM2B_NAME *name = NULL;
  ESYS_TR session = ESYS_TR_NONE;

  rt_code code = rt_ek_auth(tpm, ek, &session, err);
  if (code != RT_OK)
    return code;
  code = rt_tpm_create(tpm, ek->handle, session, &tmpl, &priv, &pub, err);
  rt_tpm_flush(tpm, &session);
  if (code != RT_OK) {
    rt_err_prefix(err, "creating the AK under the EK: ");
    goto out;
  }
  /* The EK policy session was spent by Create: Load needs a fresh one. */
  code = rt_ek_auth(tpm, ek, &session, err);
  if (code != RT_OK)
    goto out;
  TSS2_RC rc =
      Esys_Load(tpm->esys, ek->handle, session, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub, &ak->handle);
  rt_tpm_flush(tpm, &session);
  if (rc != TSS2_RC_SUCCESS) {
    code = rt_tpm_rc(err, rc, "loading the AK");
    goto out;
  }
  rc = Esys_TR_GetName(tpm->esys, ak->handle, &name);
  if (rc != TSS2_RC_SUCCESS) {
    code = rt_tpm_rc(err, rc, "reading the AK name");
    rt_tpm_flush(tpm, &ak->handle);
    goto out;
  }
  ak->pub = *pub;
  ak->name = *name;
out:
  Esys_Free(priv);
  Esys_Free(pub);
  Esys_Free(name);
  return code;
}

rt_code rt_ak_create(rt_tpm *tpm, const rt_ek *ek, rt_key_alg alg, rt_ak *ak, rt_err *err) {
  memset(ak, 0, sizeof *ak);
  ak->handle = ESYS_TR_NONE;
  if (alg != RT_ALG_NONE)
    return create_load(tpm, ek, alg, ak, err);
  rt_code code = create_load(tpm, ek, RT_ALG_ECC_P256, ak, err);
  if (code != RT_E_INVALID)
    return code;
  /* TPMs without ECC (older firmware) still do RSA. Only a refused
   * template falls back: a failing or vanished TPM is reported as such. */
  rt_info("ECC P-256 AK not possible (%s); using RSA 2048", err->msg);
  return create_load(tpm, ek, RT_ALG_RSA_2048, ak, err);
}

void rt_ak_close(rt_tpm *tpm, rt_ak *ak) {
  rt_tpm_flush(tpm, &ak->handle);
}

rt_code rt_ak_activate(rt_tpm *tpm, const rt_ek *ek, const rt_ak *ak, const TPM2B_ID_OBJECT *blob,
                       const TPM2B_ENCRYPTED_SECRET *enc, TPM2B_DIGEST **secret, rt_err *err) {
  *secret = NULL;
  ESYS_TR session = ESYS_TR_NONE;
  rt_code code = rt_ek_auth(tpm, ek, &session, err);
  if (code != RT_OK)
    return code;
  /* The AK (ADMIN role, no adminWithPolicy) takes its empty password; the
   * EK (USER role) its policy. */
  TSS2_RC rc = Esys_ActivateCredential(tpm->esys, ak->handle, ek->handle, ESYS_TR_PASSWORD, session,
                                       ESYS_TR_NONE, blob, enc, secret);
  rt_tpm_flush(tpm, &session);
  if (rc != TSS2_RC_SUCCESS)
    return rt_tpm_rc(err, rc, "ActivateCredential (the challenge is not for this TPM and AK)");
  return RT_OK;
}
