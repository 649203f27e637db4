#include "ek.h"

#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "ek_fetch.h"
#include "rt_ek_parent.h"
#include "rt_log.h"
#include "rt_templates.h"
#include "rt_tpm_meta.h"
#include "rt_tpm_pub.h"

/* One kind of EK: where its certificate and persistent key live, and how
 * to recreate it when it is not persistent (no template: persistent only). */
static const struct ek_kind {
  rt_ek_choice family;
  uint32_t cert_index;
  uint32_t persistent;
  rt_key_alg template_alg;
  const char *label;
} kinds[] = {
    {RT_EK_RSA, RT_NV_EK_CERT_RSA2048, RT_EK_HANDLE_RSA2048, RT_ALG_RSA_2048, "RSA 2048"},
    {RT_EK_ECC, RT_NV_EK_CERT_ECC_P256, RT_EK_HANDLE_ECC_P256, RT_ALG_ECC_P256, "ECC P-256"},
    {RT_EK_ECC, RT_NV_EK_CERT_ECC_P384, RT_EK_HANDLE_ECC_P384, RT_ALG_NONE, "ECC P-384"},
};

static EVP_PKEY *cert_key(const rt_nv_cert *c) {
  const unsigned char *p = c->der;
  X509 *x = d2i_X509(NULL, &p, (long)c->len);
  if (x == NULL)
    return NULL;
  EVP_PKEY *k = X509_get_pubkey(x);
  X509_free(x);
  return k;
}

static const rt_nv_cert *find_cert(const rt_ek *ek, uint32_t index) {
  for (size_t i = 0; i < ek->n_certs; i++)
    if (ek->certs[i].nv_index == index)
      return &ek->certs[i];
  return NULL;
}

/* The certificate of kind k from NV into ek->certs: RT_E_NOT_FOUND when
 * the TPM has none. Only the kinds tried are read: Begin needs the one of
 * the EK it names. */
static rt_code read_cert(rt_tpm *tpm, const struct ek_kind *k, rt_ek *ek, rt_err *err) {
  if (find_cert(ek, k->cert_index) != NULL)
    return RT_OK;
  if (ek->n_certs == RT_MAX_EK_CERTS)
    return rt_err_set(err, RT_E_NOT_FOUND, "no room for another EK certificate");
  uint8_t *der = NULL;
  size_t len = 0;
  rt_code code = rt_tpm_nv_read(tpm, k->cert_index, &der, &len, err);
  if (code == RT_OK)
    ek->certs[ek->n_certs++] = (rt_nv_cert){k->cert_index, der, len};
  return code;
}

/* The persistent EK at handle, if one is there. */
static rt_code open_persistent(rt_tpm *tpm, uint32_t handle, ESYS_TR *tr, TPM2B_PUBLIC *pub,
                               rt_err *err) {
  rt_code code = rt_tpm_open_persistent(tpm, handle, tr, pub, err);
  if (code != RT_OK && code != RT_E_NOT_FOUND)
    rt_err_prefix(err, "the persistent EK: ");
  return code;
}

/* The EK of kind k whose public key is the certified one: the persistent
 * EK when it matches, else one created from the TCG template (*transient).
 * RT_E_NOT_FOUND when there is neither; what did not match is closed or
 * flushed again. */
static rt_code open_certified(rt_tpm *tpm, const struct ek_kind *k, EVP_PKEY *certified,
                              ESYS_TR *tr, TPM2B_PUBLIC *pub, int *transient, rt_err *err) {
  *transient = 0;
  rt_code code = open_persistent(tpm, k->persistent, tr, pub, err);
  if (code == RT_OK && !rt_tpm_pub_matches(&pub->publicArea, certified)) {
    /* Someone else's key at the EK handle: do not prove with it. */
    rt_warn("persistent key 0x%08x does not match the %s EK certificate", (unsigned)k->persistent,
            k->label);
    rt_tpm_tr_close(tpm, tr);
    code = RT_E_NOT_FOUND;
  }
  if (code == RT_E_NOT_FOUND && k->template_alg != RT_ALG_NONE) {
    code = rt_ek_create(tpm, k->template_alg, tr, pub, err);
    *transient = code == RT_OK;
    if (code == RT_OK && !rt_tpm_pub_matches(&pub->publicArea, certified)) {
      rt_warn("the %s EK from the TCG template does not match its certificate", k->label);
      rt_tpm_flush(tpm, tr);
      code = RT_E_NOT_FOUND;
    }
  }
  return code;
}

/* Opens the EK of kind k into ek when the TPM holds a certificate for it
 * and the key matches; RT_E_NOT_FOUND when this kind cannot prove the TPM. */
static rt_code open_kind(rt_tpm *tpm, const struct ek_kind *k, rt_ek *ek, rt_err *err) {
  rt_code code = read_cert(tpm, k, ek, err);
  if (code != RT_OK)
    return code;
  const rt_nv_cert *cert = find_cert(ek, k->cert_index);
  EVP_PKEY *certified = cert_key(cert);
  if (certified == NULL) {
    rt_warn("EK certificate in NV 0x%08x does not parse; skipped", (unsigned)k->cert_index);
    return RT_E_NOT_FOUND;
  }
  ESYS_TR tr = ESYS_TR_NONE;
  TPM2B_PUBLIC pub;
  int transient = 0;
  code = open_certified(tpm, k, certified, &tr, &pub, &transient, err);
  EVP_PKEY_free(certified);
  if (code != RT_OK)
    return code;
  ek->handle = tr;
  ek->transient = transient;
  ek->template_alg = k->template_alg;
  ek->pub = pub;
  ek->cert = cert;
  rt_debug("using the %s EK (%s), certificate NV 0x%08x", k->label,
           transient ? "from template" : "persistent", (unsigned)k->cert_index);
  return RT_OK;
}

/* A TPM without a certificate for kind k in NV: the EK from the TCG
 * template, its certificate from the manufacturer's service at url
 * (kept with NV index 0: not read from NV). */
static rt_code open_fetched(rt_tpm *tpm, const struct ek_kind *k, const char *url, rt_ek *ek,
                            rt_err *err) {
  if (k->template_alg == RT_ALG_NONE || find_cert(ek, k->cert_index) != NULL ||
      ek->n_certs == RT_MAX_EK_CERTS || rt_tpm_nv_present(tpm, k->cert_index))
    return RT_E_NOT_FOUND;
  ESYS_TR tr = ESYS_TR_NONE;
  TPM2B_PUBLIC pub;
  uint8_t *der = NULL;
  size_t len = 0;
  if (rt_ek_create(tpm, k->template_alg, &tr, &pub, err) != RT_OK)
    return err->code;
  if (rt_ek_fetch(tpm, url, &pub.publicArea, &der, &len, err) != RT_OK) {
    rt_tpm_flush(tpm, &tr);
    return err->code;
  }
  ek->certs[ek->n_certs] = (rt_nv_cert){0, der, len};
  ek->cert = &ek->certs[ek->n_certs++];
  ek->handle = tr;
  ek->transient = 1;
  ek->template_alg = k->template_alg;
  ek->pub = pub;
  rt_debug("using the %s EK (from template), certificate from %s", k->label, url);
  return RT_OK;
}

/* The first kind the choice allows that open (open_kind or open_fetched)
 * accepts; RT_E_NOT_FOUND when none, another code when one failed. */
static rt_code open_first(rt_tpm *tpm, rt_ek_choice choice, const char *url, rt_ek *ek,
                          rt_err *err) {
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    if (choice != RT_EK_AUTO && choice != kinds[i].family)
      continue;
    rt_code code = url == NULL ? open_kind(tpm, &kinds[i], ek, err)
                               : open_fetched(tpm, &kinds[i], url, ek, err);
    if (code != RT_E_NOT_FOUND)
      return code;
  }
  return RT_E_NOT_FOUND;
}

rt_code rt_ek_open(rt_tpm *tpm, rt_ek_choice choice, const char *cert_url, rt_ek *ek, rt_err *err) {
  memset(ek, 0, sizeof *ek);
  ek->handle = ESYS_TR_NONE;
  rt_err why;
  rt_code code = open_first(tpm, choice, NULL, ek, &why);
  if (code == RT_E_NOT_FOUND && cert_url != NULL)
    code = open_first(tpm, choice, cert_url, ek, &why);
  if (code == RT_OK)
    return RT_OK;
  if (code != RT_E_NOT_FOUND) {
    *err = why;
    goto fail;
  }
  int any = 0;
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    any |= rt_tpm_nv_present(tpm, kinds[i].cert_index);
  code = rt_err_set(err, RT_E_NOT_FOUND,
                    !any ? "the TPM holds no EK certificate in NV%s"
                         : "no EK of the requested kind matches an EK certificate%s",
                    cert_url == NULL ? " (--ek-cert-url fetches it from the manufacturer)" : "");
fail:
  rt_ek_close(tpm, ek);
  return code;
}

/* The same object: the same name (the hash of the whole public area). */
static int same_object(const TPMT_PUBLIC *a, const TPMT_PUBLIC *b) {
  TPM2B_NAME na, nb;
  return rt_tpm_pub_name(a, &na, NULL) == RT_OK && rt_tpm_pub_name(b, &nb, NULL) == RT_OK &&
         na.size == nb.size && memcmp(na.name, nb.name, na.size) == 0;
}

void rt_ek_unload(rt_tpm *tpm, rt_ek *ek) {
  if (ek->transient)
    rt_tpm_flush(tpm, &ek->handle);
}

rt_code rt_ek_load(rt_tpm *tpm, rt_ek *ek, rt_err *err) {
  if (!ek->transient || ek->handle != ESYS_TR_NONE)
    return RT_OK;
  TPM2B_PUBLIC pub;
  if (rt_ek_create(tpm, ek->template_alg, &ek->handle, &pub, err) != RT_OK)
    return rt_err_prefix(err, "loading the EK again: ");
  if (!same_object(&pub.publicArea, &ek->pub.publicArea)) {
    rt_tpm_flush(tpm, &ek->handle);
    return rt_err_set(err, RT_E_TPM, "the EK made again from its template is another key");
  }
  return RT_OK;
}

void rt_ek_close(rt_tpm *tpm, rt_ek *ek) {
  if (ek->transient)
    rt_tpm_flush(tpm, &ek->handle);
  else
    rt_tpm_tr_close(tpm, &ek->handle);
  for (size_t i = 0; i < ek->n_certs; i++)
    free(ek->certs[i].der);
  memset(ek, 0, sizeof *ek);
  ek->handle = ESYS_TR_NONE;
}

rt_code rt_platform_cert_read(rt_tpm *tpm, uint8_t **der, size_t *len, rt_err *err) {
  rt_code code = rt_tpm_nv_read(tpm, RT_NV_PLATFORM_CERT, der, len, err);
  if (code == RT_E_NOT_FOUND) {
    rt_err_clear(err);
    *der = NULL;
    *len = 0;
    return RT_OK;
  }
  return code;
}

rt_code rt_ek_auth(rt_tpm *tpm, const rt_ek *ek, ESYS_TR *session, rt_err *err) {
  return rt_ek_auth_session(tpm, &ek->pub.publicArea, session, err);
}
