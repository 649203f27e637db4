#include "platform_ca.h"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rt_platform_name_text(const X509_NAME *name, char *out, size_t len) {
  out[0] = '\0';
  BIO *b = BIO_new(BIO_s_mem());
  if (b == NULL)
    return;
  if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
    int n = BIO_read(b, out, (int)len - 1);
    out[n > 0 ? n : 0] = '\0';
  }
  BIO_free(b);
}

/* May this certificate sign platform certificates? */
static const char *signer_refusal(X509 *x, bool need_ca) {
  if (X509_check_ca(x) != 0)
    return NULL;
  if (need_ca)
    return "is not a CA";
  /* An attribute authority need not be a CA (RFC 5755), but its key must
   * be meant for signatures. */
  uint32_t ku = X509_get_key_usage(x);
  if (ku != UINT32_MAX && !(ku & (KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN)))
    return "has a key usage that does not allow signatures";
  return NULL;
}

/* The signer's own chain, at `now`, up to a configured root. */
static rt_code verify_chain(const rt_ca_set *ca, X509 *signer, time_t now, const char *who,
                            rt_err *err) {
  rt_code code = RT_OK;
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  if (ctx == NULL ||
      X509_STORE_CTX_init(ctx, rt_ca_set_store(ca), signer, rt_ca_set_certs(ca)) != 1) {
    X509_STORE_CTX_free(ctx);
    return rt_err_set(err, RT_E_NOMEM, "cannot set up the platform CA chain check");
  }
  X509_STORE_CTX_set_time(ctx, 0, now);
  if (X509_verify_cert(ctx) != 1) {
    int e = X509_STORE_CTX_get_error(ctx);
    code = rt_err_set(err, RT_E_CRYPTO,
                      "platform CA \"%s\" does not chain to a trusted platform root: %s (depth %d)",
                      who, X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(ctx));
  }
  X509_STORE_CTX_free(ctx);
  ERR_clear_error();
  return code;
}

rt_code rt_platform_ca_check_signer(const rt_ca_set *ca, const X509_NAME *issuer, bool need_ca,
                                    time_t now, rt_platform_sig_check sig_check, void *arg,
                                    rt_err *err) {
  char who[256];
  rt_platform_name_text(issuer, who, sizeof who);
  rt_code code = rt_err_set(err, RT_E_CRYPTO,
                            "unknown issuer: no configured platform CA is named \"%s\"", who);
  for (int i = 0; i < sk_X509_num(rt_ca_set_certs(ca)); i++) {
    X509 *x = sk_X509_value(rt_ca_set_certs(ca), i);
    if (X509_NAME_cmp(X509_get_subject_name(x), issuer) != 0)
      continue;
    const char *refusal = signer_refusal(x, need_ca);
    if (refusal != NULL) {
      code = rt_err_set(err, RT_E_CRYPTO, "platform CA \"%s\" %s", who, refusal);
      continue;
    }
    code = verify_chain(ca, x, now, who, err);
    if (code != RT_OK)
      continue;
    EVP_PKEY *key = X509_get0_pubkey(x);
    if (key != NULL && sig_check(key, arg) == 1) {
      ERR_clear_error();
      return RT_OK;
    }
    ERR_clear_error();
    code = rt_err_set(err, RT_E_CRYPTO,
                      "bad signature: the platform certificate's signature does not verify with "
                      "the key of platform CA \"%s\"",
                      who);
  }
  return code;
}
