#include "secret_receive.h"

#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "idkey.h"
#include "rt_dup.h"
#include "rt_pcrsel.h"
#include "rt_secret_proof.h"
#include "rt_templates.h"
#include "rt_tpm_pub.h"
#include "secret_store.h"
#include "secrets.h"

/* The EK's persistent handle, the parent an rsa-key's key file names. A
 * transient EK (made from the template) has none: the TCG handle for its
 * kind, where a provisioned TPM keeps that same key. */
static uint32_t ek_parent(rt_tpm *tpm, const rt_ek *ek) {
  TPM2_HANDLE h = 0;
  if (Esys_TR_GetTpmHandle(tpm->esys, ek->handle, &h) == TSS2_RC_SUCCESS && (h >> 24) == 0x81)
    return h;
  if (ek->pub.publicArea.type == TPM2_ALG_RSA)
    return RT_EK_HANDLE_RSA2048;
  return ek->pub.publicArea.parameters.eccDetail.curveID == TPM2_ECC_NIST_P384
             ? RT_EK_HANDLE_ECC_P384
             : RT_EK_HANDLE_ECC_P256;
}

/* Checked before the key goes into the TPM: a certificate for another key
 * must not cost the previous key its handle. */
static rt_code cert_for(const TPM2B_PUBLIC *pub, const rt_secret_delivery *d, rt_err *err) {
  const rt_bytes *c = d->n_certs > 0 ? &d->certs[0] : NULL;
  const unsigned char *p = c ? c->data : NULL;
  X509 *x = p ? d2i_X509(NULL, &p, (long)c->len) : NULL;
  int ok = x != NULL && p == c->data + c->len &&
           rt_tpm_pub_matches(&pub->publicArea, X509_get0_pubkey(x));
  X509_free(x);
  if (!ok)
    return rt_err_set(err, RT_E_INVALID, "the certificate does not parse or is for another key");
  return RT_OK;
}

static rt_code evict_new(rt_tpm *tpm, uint32_t handle) {
  ESYS_TR tr = ESYS_TR_NONE, gone = ESYS_TR_NONE;
  TSS2_RC rc =
      Esys_TR_FromTPMPublic(tpm->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
  if (rc == TSS2_RC_SUCCESS)
    rc = Esys_EvictControl(tpm->esys, ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                           ESYS_TR_NONE, handle, &gone);
  /* Either ESYS_TR may still be tracked; closing a dropped one only fails. */
  if (tr != ESYS_TR_NONE)
    (void)Esys_TR_Close(tpm->esys, &tr);
  if (gone != ESYS_TR_NONE)
    (void)Esys_TR_Close(tpm->esys, &gone);
  return rc == TSS2_RC_SUCCESS ? RT_OK : RT_E_TPM;
}

/* The pcrDigest of a PCR-bound key's file policy (rt_tss2key.h): H(the
 * selected PCRs now), after checking PolicyPCR(sel) over them is the
 * key's authPolicy, so the file says exactly what the key demands and
 * other tools replaying it get the same answer as the TPM. Called right
 * after the key signed in such a session: a mismatch means a PCR changed
 * in between. */
static rt_code bound_digest(rt_tpm *tpm, const TPMT_PUBLIC *pub, const TPML_PCR_SELECTION *sel,
                            TPM2B_DIGEST *out, rt_err *err) {
  rt_pcr_value *vals = NULL;
  size_t n = 0, len = 0;
  uint8_t concat[TPM2_NUM_PCR_BANKS * 24 * 64];
  rt_code code = rt_pcr_read_all(tpm, sel, &vals, &n, err);
  for (size_t i = 0; code == RT_OK && i < n; i++) {
    if (len + vals[i].value.size > sizeof concat)
      code = rt_err_set(err, RT_E_INVALID, "too many PCR values");
    else {
      memcpy(concat + len, vals[i].value.buffer, vals[i].value.size);
      len += vals[i].value.size;
    }
  }
  free(vals);
  TPM2B_DIGEST policy;
  if (code == RT_OK)
    code = rt_policy_pcr_digest(pub->nameAlg, sel, concat, len, &policy, err);
  if (code == RT_OK && (policy.size != pub->authPolicy.size ||
                        memcmp(policy.buffer, pub->authPolicy.buffer, policy.size) != 0)) {
    char text[192];
    rt_pcrsel_format(sel, text, sizeof text);
    code = rt_err_set(err, RT_E_INVALID,
                      "PCR policy not satisfied: a PCR in %s changed since the key was delivered",
                      text);
  }
  if (code == RT_OK)
    code = rt_pcr_values_digest(pub->nameAlg, concat, len, out, err);
  return code;
}

static rt_code receive_sealed(rt_tpm *tpm, const rt_ek *ek, rt_state *st, const char *state_dir,
                              const rt_secret_delivery *d, const TPM2B_PRIVATE *priv,
                              const uint8_t *nonce, size_t nonce_len, rt_bytes *proof,
                              rt_err *err) {
  uint8_t *data = NULL, mac[32];
  size_t len = 0;
  /* Opened once now: the proof shows the verifier it opens on this TPM
   * under these PCR values. */
  rt_code code = rt_secret_unseal(tpm, ek, &d->pub, priv, &d->pcrs, &data, &len, err);
  if (code == RT_OK) {
    code = rt_secret_proof_hmac(data, len, d->name, nonce, nonce_len, mac, err);
    rt_secret_wipe(data, len);
  }
  rt_secret_record r = {.name = d->name,
                        .type = RT_SECRET_TYPE_SEALED,
                        .pub = &d->pub,
                        .priv = priv,
                        .pcrs = &d->pcrs};
  if (code == RT_OK)
    code = rt_secret_store(st, state_dir, &r, err);
  if (code == RT_OK && (proof->data = malloc(sizeof mac)) == NULL)
    code = rt_err_set(err, RT_E_NOMEM, "out of memory");
  if (code == RT_OK) {
    memcpy(proof->data, mac, sizeof mac);
    proof->len = sizeof mac;
  }
  OPENSSL_cleanse(mac, sizeof mac);
  return code;
}

static rt_code receive_key(rt_tpm *tpm, const rt_ek *ek, rt_state *st, const char *state_dir,
                           const rt_identity *via, const rt_secret_delivery *d,
                           const TPM2B_PRIVATE *priv, const uint8_t *nonce, size_t nonce_len,
                           rt_bytes *proof, uint32_t *handle, rt_err *err) {
  if (via == NULL)
    return rt_err_set(err, RT_E_INVALID, "an rsa-key is received with an enrolled identity");
  rt_code code = cert_for(&d->pub, d, err);
  uint32_t h = 0;
  TPM2B_PUBLIC ours;
  int have_ours = 0;
  if (code == RT_OK)
    code = rt_secret_choose_handle(tpm, st, d->name, &d->pub, &h, &ours, &have_ours, err);
  if (code == RT_OK)
    code = rt_secret_persist(tpm, ek, &d->pub, priv, &d->pcrs, h, have_ours ? &ours : NULL, err);
  if (code != RT_OK)
    return code;
  TPMT_SIGNATURE sig;
  uint8_t buf[sizeof sig];
  size_t off = 0;
  TPM2B_DIGEST pcr_digest = {.size = 0};
  rt_secret_record r = {.name = d->name,
                        .type = RT_SECRET_TYPE_RSA_KEY,
                        .pub = &d->pub,
                        .priv = priv,
                        .pcrs = &d->pcrs,
                        .pcr_digest = &pcr_digest,
                        .handle = h,
                        .certs = d->certs,
                        .n_certs = d->n_certs,
                        .via = via,
                        .ek_handle = ek_parent(tpm, ek)};
  code = rt_secret_sign_proof(tpm, h, &d->pub, &d->pcrs, d->name, nonce, nonce_len, &sig, err);
  if (code == RT_OK && d->pcrs.count > 0)
    code = bound_digest(tpm, &d->pub.publicArea, &d->pcrs, &pcr_digest, err);
  if (code == RT_OK && Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, buf, sizeof buf, &off) != 0)
    code = rt_err_set(err, RT_E_INTERNAL, "marshalling TPMT_SIGNATURE failed");
  if (code == RT_OK)
    code = rt_secret_store(st, state_dir, &r, err);
  if (code == RT_OK && (proof->data = malloc(off)) == NULL)
    code = rt_err_set(err, RT_E_NOMEM, "out of memory");
  if (code != RT_OK) {
    /* Nothing recorded: the new key must not stay where the state expects
     * nothing or another key (it would count as foreign from then on). The
     * handle was free or ours: persist never replaces anything else. */
    evict_new(tpm, h);
    return code;
  }
  memcpy(proof->data, buf, off);
  proof->len = off;
  *handle = h;
  return RT_OK;
}

rt_code rt_secret_receive(rt_tpm *tpm, const rt_ek *ek, rt_state *st, const char *state_dir,
                          const rt_identity *via, const rt_secret_delivery *d, const uint8_t *nonce,
                          size_t nonce_len, rt_bytes *proof, uint32_t *handle, rt_err *err) {
  proof->data = NULL;
  proof->len = 0;
  *handle = 0;
  rt_code code = rt_name_check(d->name, err);
  if (code != RT_OK)
    return rt_err_prefix(err, "secret: ");
  if (rt_secret_type_name(d->type) == NULL)
    return rt_err_set(err, RT_E_INVALID, "secret %s: unknown type %d", d->name, (int)d->type);
  TPM2B_PRIVATE priv;
  code = rt_secret_import(tpm, ek, &d->pub, &d->dup, &d->seed, &priv, err);
  if (code == RT_OK)
    code = d->type == RT_SECRET_TYPE_SEALED
               ? receive_sealed(tpm, ek, st, state_dir, d, &priv, nonce, nonce_len, proof, err)
               : receive_key(tpm, ek, st, state_dir, via, d, &priv, nonce, nonce_len, proof, handle,
                             err);
  OPENSSL_cleanse(&priv, sizeof priv);
  if (code != RT_OK)
    rt_err_prefix(err, "secret %s: ", d->name);
  return code;
}
