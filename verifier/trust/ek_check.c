#include "ek_check.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_tpm_pub.h"

static X509 *parse(const rt_cert_der *d) {
  const unsigned char *p = d->der;
  X509 *x = d2i_X509(NULL, &p, (long)d->len);
  /* Trailing bytes after the certificate are not a certificate. */
  if (x != NULL && p != d->der + d->len) {
    X509_free(x);
    x = NULL;
  }
  return x;
}

/* Lets through exactly one error when the policy says so: the EK
 * certificate itself (depth 0) past its notAfter. */
static int verify_cb(int ok, X509_STORE_CTX *ctx) {
  const rt_ek_opts *opts = X509_STORE_CTX_get_app_data(ctx);
  if (!ok && opts != NULL && opts->expiry_advisory &&
      X509_STORE_CTX_get_error(ctx) == X509_V_ERR_CERT_HAS_EXPIRED &&
      X509_STORE_CTX_get_error_depth(ctx) == 0)
    return 1;
  return ok;
}

/* Verifies leaf's chain and fills the outputs; takes nothing over. */
static rt_code spki_sha256(EVP_PKEY *key, uint8_t out[32], rt_err *err) {
  unsigned char *spki = NULL;
  int spki_len = key != NULL ? i2d_PUBKEY(key, &spki) : -1;
  unsigned int dlen = 0;
  rt_code code = RT_OK;
  if (spki_len <= 0 || !EVP_Digest(spki, (size_t)spki_len, out, &dlen, EVP_sha256(), NULL))
    code = rt_err_set(err, RT_E_CRYPTO, "cannot hash the EK public key");
  OPENSSL_free(spki);
  return code;
}

rt_code rt_ek_key_sha256(const TPMT_PUBLIC *ek, uint8_t out[32], rt_err *err) {
  EVP_PKEY *key = NULL;
  rt_code code = rt_tpm_pub_to_evp(ek, &key, err);
  if (code == RT_OK)
    code = spki_sha256(key, out, err);
  EVP_PKEY_free(key);
  return code;
}

static rt_code verify_leaf(const rt_ca_set *roots, X509 *leaf, const rt_cert_der *intermediates,
                           size_t n_intermediates, const rt_ek_opts *opts,
                           uint8_t ek_key_sha256[32], rt_ek_info *info, rt_err *err) {
  rt_code code = RT_OK;
  X509_STORE_CTX *ctx = NULL;
  STACK_OF(X509) *untrusted = sk_X509_new_null();
  for (size_t i = 0; untrusted != NULL && i < n_intermediates; i++) {
    X509 *x = parse(&intermediates[i]);
    if (x == NULL) {
      code = rt_err_set(err, RT_E_INVALID, "EK intermediate %zu is not a DER certificate", i);
      goto out;
    }
    sk_X509_push(untrusted, x);
  }
  ctx = X509_STORE_CTX_new();
  if (untrusted == NULL || ctx == NULL ||
      X509_STORE_CTX_init(ctx, rt_ca_set_store(roots), leaf, untrusted) != 1 ||
      X509_STORE_CTX_set_app_data(ctx, (void *)opts) != 1) {
    code = rt_err_set(err, RT_E_NOMEM, "cannot set up the EK chain check");
    goto out;
  }
  X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
  if (X509_verify_cert(ctx) != 1) {
    int e = X509_STORE_CTX_get_error(ctx);
    code = rt_err_set(err, RT_E_CRYPTO,
                      "EK certificate does not chain to a trusted manufacturer CA: %s (depth %d)",
                      X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(ctx));
    goto out;
  }
  /* The identity of the EK: the hash of its public key as certified. */
  code = spki_sha256(X509_get0_pubkey(leaf), ek_key_sha256, err);
  if (code == RT_OK && info != NULL)
    rt_ek_info_read(leaf, info);
out:
  ERR_clear_error();
  X509_STORE_CTX_free(ctx);
  sk_X509_pop_free(untrusted, X509_free);
  return code;
}

rt_code rt_ek_check(const rt_ca_set *roots, const TPMT_PUBLIC *ek, const rt_cert_der *certs,
                    size_t n_certs, const rt_cert_der *intermediates, size_t n_intermediates,
                    const rt_ek_opts *opts, size_t *which, uint8_t ek_key_sha256[32],
                    rt_ek_info *info, rt_err *err) {
  X509 *leaf = NULL;
  for (size_t i = 0; i < n_certs && leaf == NULL; i++) {
    X509 *x = parse(&certs[i]);
    if (x == NULL)
      continue; /* a broken extra certificate does not hide a good one */
    EVP_PKEY *k = X509_get0_pubkey(x);
    if (k != NULL && rt_tpm_pub_matches(ek, k)) {
      leaf = x;
      *which = i;
    } else {
      X509_free(x);
    }
  }
  ERR_clear_error();
  if (leaf == NULL)
    return rt_err_set(err, RT_E_NOT_FOUND,
                      n_certs == 0 ? "no EK certificate was sent"
                                   : "the EK public key is not the key of any EK certificate sent");
  rt_code code =
      verify_leaf(roots, leaf, intermediates, n_intermediates, opts, ek_key_sha256, info, err);
  X509_free(leaf);
  return code;
}

rt_code rt_ek_check_cert(const rt_ca_set *roots, const rt_cert_der *cert,
                         const rt_cert_der *intermediates, size_t n_intermediates,
                         const rt_ek_opts *opts, uint8_t ek_key_sha256[32], rt_ek_info *info,
                         rt_err *err) {
  X509 *leaf = parse(cert);
  if (leaf == NULL) {
    ERR_clear_error();
    return rt_err_set(err, RT_E_INVALID, "the EK certificate is not a DER certificate");
  }
  rt_code code =
      verify_leaf(roots, leaf, intermediates, n_intermediates, opts, ek_key_sha256, info, err);
  X509_free(leaf);
  return code;
}
