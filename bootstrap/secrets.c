#include "secrets.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "idkey.h"
#include "rt_pcr_session.h"
#include "rt_pcrsel.h"
#include "rt_secret_proof.h"

/* The object loaded under the EK: a fresh EK session for the one command. */
static rt_code load_under_ek(rt_tpm *tpm, const rt_ek *ek, const TPM2B_PUBLIC *pub,
                             const TPM2B_PRIVATE *priv, ESYS_TR *obj, rt_err *err) {
  ESYS_TR session = ESYS_TR_NONE;
  *obj = ESYS_TR_NONE;
  rt_code code = rt_ek_auth(tpm, ek, &session, err);
  if (code != RT_OK)
    return code;
  TSS2_RC rc =
      Esys_Load(tpm->esys, ek->handle, session, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub, obj);
  rt_tpm_flush(tpm, &session);
  if (rc != TSS2_RC_SUCCESS)
    return rt_tpm_rc(err, rc, "loading the secret under the EK");
  return RT_OK;
}

rt_code rt_secret_import(rt_tpm *tpm, const rt_ek *ek, const TPM2B_PUBLIC *pub,
                         const TPM2B_PRIVATE *dup, const TPM2B_ENCRYPTED_SECRET *seed,
                         TPM2B_PRIVATE *priv, rt_err *err) {
  memset(priv, 0, sizeof *priv);
  ESYS_TR session = ESYS_TR_NONE;
  rt_code code = rt_ek_auth(tpm, ek, &session, err);
  if (code != RT_OK)
    return code;
  /* Only the outer wrapper (the seed shared with the EK) protects the
   * object: no inner symmetric key. */
  TPM2B_DATA no_key = {.size = 0};
  TPMT_SYM_DEF_OBJECT no_inner = {.algorithm = TPM2_ALG_NULL};
  TPM2B_PRIVATE *out = NULL;
  TSS2_RC rc = Esys_Import(tpm->esys, ek->handle, session, ESYS_TR_NONE, ESYS_TR_NONE, &no_key, pub,
                           dup, seed, &no_inner, &out);
  rt_tpm_flush(tpm, &session);
  if (rc != TSS2_RC_SUCCESS)
    return rt_tpm_rc(err, rc,
                     "Import under the EK (the secret was made for another TPM, or altered)");
  *priv = *out;
  Esys_Free(out);
  return RT_OK;
}

rt_code rt_secret_open_ek(rt_tpm *tpm, rt_ek_choice choice, const TPM2B_PUBLIC *pub,
                          const TPM2B_PRIVATE *priv, rt_ek *ek, rt_err *err) {
  static const rt_ek_choice order[] = {RT_EK_RSA, RT_EK_ECC};
  rt_err why = {0};
  int tried = 0;
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    if (choice != RT_EK_AUTO && choice != order[i])
      continue;
    rt_code code = rt_ek_open(tpm, order[i], NULL, ek, &why);
    if (code == RT_E_NOT_FOUND)
      continue;
    if (code != RT_OK) {
      *err = why;
      return code;
    }
    tried++;
    /* The blob's integrity is bound to its parent: only the right EK
     * loads it. */
    ESYS_TR obj = ESYS_TR_NONE;
    code = load_under_ek(tpm, ek, pub, priv, &obj, &why);
    rt_tpm_flush(tpm, &obj);
    if (code == RT_OK)
      return RT_OK;
    rt_ek_close(tpm, ek);
  }
  if (tried == 0)
    return rt_err_set(err, RT_E_NOT_FOUND, "no EK of the requested kind: %s", why.msg);
  return rt_err_set(err, RT_E_NOT_FOUND,
                    "the secret does not load under %s of this TPM (it was made for another "
                    "TPM, or its files were altered): %s",
                    tried > 1 ? "any EK" : "the EK", why.msg);
}

void rt_secret_wipe(uint8_t *data, size_t len) {
  if (data == NULL)
    return;
  OPENSSL_cleanse(data, len);
  free(data);
}

/* What a PCR-policy refusal says changed since. */
#define SEALED_SINCE "the secret was sealed"
#define KEY_SINCE "the key was delivered"

rt_code rt_secret_unseal(rt_tpm *tpm, const rt_ek *ek, const TPM2B_PUBLIC *pub,
                         const TPM2B_PRIVATE *priv, const TPML_PCR_SELECTION *pcr_sel,
                         uint8_t **data, size_t *len, rt_err *err) {
  *data = NULL;
  *len = 0;
  const TPMT_PUBLIC *p = &pub->publicArea;
  int with_pcrs = pcr_sel != NULL && pcr_sel->count > 0;
  char sel_text[192] = "";
  if (with_pcrs)
    rt_pcrsel_format(pcr_sel, sel_text, sizeof sel_text);
  /* Refused before the TPM is asked, so that a policy failure below can
   * only mean the PCR values: the object must be sealed data, and the
   * authorization asked for must be the one the object takes. */
  if (p->type != TPM2_ALG_KEYEDHASH || (p->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT) ||
      (p->objectAttributes & TPMA_OBJECT_DECRYPT))
    return rt_err_set(err, RT_E_INVALID, "not a sealed data object (keyedHash, no sign/decrypt)");
  if (with_pcrs && p->authPolicy.size == 0)
    return rt_err_set(err, RT_E_INVALID,
                      "the secret has no policy, yet a PCR selection (%s) is recorded for it",
                      sel_text);
  if (!with_pcrs && !(p->objectAttributes & TPMA_OBJECT_USERWITHAUTH))
    return rt_err_set(err, RT_E_INVALID,
                      "the secret opens only with its policy, and no PCR selection is recorded "
                      "for it");

  ESYS_TR obj = ESYS_TR_NONE, session = ESYS_TR_PASSWORD;
  TPM2B_SENSITIVE_DATA *out = NULL;
  rt_code code = load_under_ek(tpm, ek, pub, priv, &obj, err);
  if (code != RT_OK)
    return code;
  /* The policy digest is computed with the object's name algorithm. */
  if (with_pcrs &&
      (code = rt_pcr_session_start(tpm, p->nameAlg, pcr_sel, SEALED_SINCE, &session, err)) != RT_OK)
    goto out;
  TSS2_RC rc = Esys_Unseal(tpm->esys, obj, session, ESYS_TR_NONE, ESYS_TR_NONE, &out);
  if (rc != TSS2_RC_SUCCESS) {
    code = with_pcrs ? rt_pcr_session_fail(rc, pcr_sel, SEALED_SINCE, "Unseal", err)
                     : rt_tpm_rc(err, rc, "Unseal");
    goto out;
  }
  *data = malloc(out->size ? out->size : 1);
  if (*data == NULL) {
    code = rt_err_set(err, RT_E_NOMEM, "out of memory");
    goto out;
  }
  memcpy(*data, out->buffer, out->size);
  *len = out->size;
out:
  if (out != NULL) {
    OPENSSL_cleanse(out->buffer, sizeof out->buffer);
    Esys_Free(out);
  }
  rt_tpm_flush(tpm, &session);
  rt_tpm_flush(tpm, &obj);
  return code;
}

/* What the provider needs to use the key as an identity: it picks PKCS#1 or
 * PSS itself, and signs with the empty password or, for a key bound to PCR
 * values, in a PolicyPCR session over the recorded selection. The two must
 * agree with the key: a recorded selection for a key that opens with its
 * password binds nothing, and a policy key without one cannot sign. */
static rt_code check_identity_key(const TPMT_PUBLIC *p, int with_pcrs, rt_err *err) {
  if (p->type != TPM2_ALG_RSA)
    return rt_err_set(err, RT_E_INVALID, "the delivered key is not an RSA key");
  uint16_t bits = p->parameters.rsaDetail.keyBits;
  if (bits != 2048 && bits != 3072 && bits != 4096)
    return rt_err_set(err, RT_E_INVALID, "the delivered RSA key has %u bits, not 2048/3072/4096",
                      (unsigned)bits);
  if ((p->objectAttributes & TPMA_OBJECT_RESTRICTED) ||
      !(p->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT))
    return rt_err_set(err, RT_E_INVALID,
                      "the delivered RSA key is not an unrestricted signing key (attributes "
                      "0x%08x)",
                      (unsigned)p->objectAttributes);
  int password = (p->objectAttributes & TPMA_OBJECT_USERWITHAUTH) != 0;
  if (with_pcrs && (password || p->authPolicy.size == 0))
    return rt_err_set(err, RT_E_INVALID,
                      "a PCR selection came with the delivered key, but the key %s",
                      password ? "also signs with its password" : "has no policy");
  if (!with_pcrs && (!password || p->authPolicy.size != 0))
    return rt_err_set(err, RT_E_INVALID,
                      "the delivered key has a policy (attributes 0x%08x), but no PCR selection "
                      "came with it",
                      (unsigned)p->objectAttributes);
  return RT_OK;
}

rt_code rt_secret_persist(rt_tpm *tpm, const rt_ek *ek, const TPM2B_PUBLIC *pub,
                          const TPM2B_PRIVATE *priv, const TPML_PCR_SELECTION *pcr_sel,
                          TPM2_HANDLE handle, const TPM2B_PUBLIC *ours, rt_err *err) {
  rt_code code = check_identity_key(&pub->publicArea, pcr_sel != NULL && pcr_sel->count > 0, err);
  if (code != RT_OK)
    return code;
  rt_idkey key = {.handle = ESYS_TR_NONE, .pub = *pub, .priv = *priv};
  code = load_under_ek(tpm, ek, pub, priv, &key.handle, err);
  if (code != RT_OK)
    return code;
  /* force 0: a delivered key never replaces what rattest did not put there. */
  code = rt_idkey_persist(tpm, &key, handle, ours, 0, err);
  rt_idkey_close(tpm, &key);
  return code;
}

rt_code rt_secret_sign_proof(rt_tpm *tpm, TPM2_HANDLE handle, const TPM2B_PUBLIC *pub,
                             const TPML_PCR_SELECTION *pcr_sel, const char *name,
                             const uint8_t *nonce, size_t nonce_len, TPMT_SIGNATURE *sig,
                             rt_err *err) {
  memset(sig, 0, sizeof *sig);
  TPM2B_DIGEST digest = {.size = 32};
  rt_code code = rt_secret_proof_digest(name, nonce, nonce_len, digest.buffer, err);
  if (code != RT_OK)
    return code;
  int with_pcrs = pcr_sel != NULL && pcr_sel->count > 0;
  ESYS_TR key = ESYS_TR_NONE, session = ESYS_TR_PASSWORD;
  TSS2_RC rc =
      Esys_TR_FromTPMPublic(tpm->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &key);
  if (rc != TSS2_RC_SUCCESS)
    return rt_tpm_rc(err, rc, "looking up the delivered key's persistent handle");
  /* The policy digest is computed with the key's name algorithm. */
  if (with_pcrs && (code = rt_pcr_session_start(tpm, pub->publicArea.nameAlg, pcr_sel, KEY_SINCE,
                                                &session, err)) != RT_OK) {
    rt_tpm_tr_close(tpm, &key);
    return code;
  }
  TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_RSASSA};
  scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
  /* Unrestricted key: a null ticket is enough. */
  TPMT_TK_HASHCHECK ticket = {.tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL};
  TPMT_SIGNATURE *out = NULL;
  rc = Esys_Sign(tpm->esys, key, session, ESYS_TR_NONE, ESYS_TR_NONE, &digest, &scheme, &ticket,
                 &out);
  rt_tpm_flush(tpm, &session);
  rt_tpm_tr_close(tpm, &key);
  if (rc != TSS2_RC_SUCCESS)
    return with_pcrs
               ? rt_pcr_session_fail(rc, pcr_sel, KEY_SINCE, "signing the proof of receipt", err)
               : rt_tpm_rc(err, rc, "signing the proof of receipt");
  *sig = *out;
  Esys_Free(out);
  return RT_OK;
}
