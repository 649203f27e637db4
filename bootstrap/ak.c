#include "ak.h"

#include <openssl/rand.h>
#include <string.h>

#include "rt_log.h"

/* CreatePrimary of the AK template in the endorsement hierarchy: one
 * command, no session (the hierarchy's empty authorization, the one
 * PolicySecret for the EK needs too). A random unique makes it a key of
 * this run only, as a child created under the EK was. */
static rt_code create_primary(rt_tpm *tpm, rt_key_alg alg, rt_ak *ak, rt_err *err) {
  TPM2B_PUBLIC tmpl = rt_template_ak(alg);
  TPMU_PUBLIC_ID *u = &tmpl.publicArea.unique;
  uint8_t *unique = alg == RT_ALG_RSA_2048 ? u->rsa.buffer : u->ecc.x.buffer;
  if (alg == RT_ALG_RSA_2048)
    u->rsa.size = 32;
  else
    u->ecc.x.size = 32;
  if (RAND_bytes(unique, 32) != 1)
    return rt_err_set(err, RT_E_CRYPTO, "no random bytes for the AK");
  TPM2B_SENSITIVE_CREATE sens;
  memset(&sens, 0, sizeof sens);
  TPM2B_DATA outside = {.size = 0};
  TPML_PCR_SELECTION pcrs = {.count = 0};
  TPM2B_PUBLIC *pub = NULL;
  TPM2B_NAME *name = NULL;
  TSS2_RC rc = Esys_CreatePrimary(tpm->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                  ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs, &ak->handle, &pub,
                                  NULL, NULL, NULL);
  if (rc != TSS2_RC_SUCCESS) {
    ak->handle = ESYS_TR_NONE;
    rt_tpm_rc(err, rc, "creating the AK in the endorsement hierarchy");
    /* The TPM's own refusal of a parameter: a template it cannot make. */
    return (rc & ~0xffffu) == 0 && (rc & TPM2_RC_FMT1) && (rc & TPM2_RC_P) ? RT_E_INVALID
                                                                           : RT_E_TPM;
  }
  rc = Esys_TR_GetName(tpm->esys, ak->handle, &name);
  if (rc != TSS2_RC_SUCCESS) {
    Esys_Free(pub);
    rt_tpm_flush(tpm, &ak->handle);
    return rt_tpm_rc(err, rc, "reading the AK name");
  }
  ak->pub = *pub;
  ak->name = *name;
  Esys_Free(pub);
  Esys_Free(name);
  return RT_OK;
}

rt_code rt_ak_create(rt_tpm *tpm, rt_key_alg alg, rt_ak *ak, rt_err *err) {
  memset(ak, 0, sizeof *ak);
  ak->handle = ESYS_TR_NONE;
  if (alg != RT_ALG_NONE)
    return create_primary(tpm, alg, ak, err);
  rt_code code = create_primary(tpm, RT_ALG_ECC_P256, ak, err);
  if (code != RT_E_INVALID)
    return code;
  /* TPMs without ECC (older firmware) still do RSA. Only a refused
   * template falls back: a failing or vanished TPM is reported as such. */
  rt_info("ECC P-256 AK not possible (%s); using RSA 2048", err->msg);
  return create_primary(tpm, RT_ALG_RSA_2048, ak, err);
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
  /* The session's last use: without continueSession the TPM ends it when
   * the command succeeds, so no FlushContext follows. */
  if (session != ESYS_TR_PASSWORD &&
      Esys_TRSess_SetAttributes(tpm->esys, session, 0, TPMA_SESSION_CONTINUESESSION) !=
          TSS2_RC_SUCCESS) {
    rt_tpm_flush(tpm, &session);
    return rt_err_set(err, RT_E_INTERNAL, "cannot set the EK session's attributes");
  }
  /* The AK (ADMIN role, no adminWithPolicy) takes its empty password; the
   * EK (USER role) its policy. */
  TSS2_RC rc = Esys_ActivateCredential(tpm->esys, ak->handle, ek->handle, ESYS_TR_PASSWORD, session,
                                       ESYS_TR_NONE, blob, enc, secret);
  if (rc != TSS2_RC_SUCCESS) {
    /* A refusal leaves the session (a lost answer may not: then the flush
     * only warns). */
    rt_tpm_flush(tpm, &session);
    return rt_tpm_rc(err, rc, "ActivateCredential (the challenge is not for this TPM and AK)");
  }
  if (session != ESYS_TR_PASSWORD)
    rt_tpm_tr_close(tpm, &session);
  return RT_OK;
}
