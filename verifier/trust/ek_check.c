#include "ek_check.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509_vfy.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_spki.h"
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

static rt_code spki_sha256(EVP_PKEY *key, uint8_t out[32], rt_err *err) {
  unsigned char *spki = NULL;
  int spki_len = key != NULL ? rt_spki_der(key, &spki) : -1;
  unsigned int dlen = 0;
  rt_code code = RT_OK;
  if (spki_len <= 0 || !EVP_Digest(spki, (size_t)spki_len, out, &dlen, EVP_sha256(), NULL))
    code = rt_err_set(err, RT_E_CRYPTO, "cannot hash the EK public key");
  OPENSSL_free(spki);
  return code;
}

rt_code rt_ek_key(const TPMT_PUBLIC *ek, EVP_PKEY **key, uint8_t sha256[32], rt_err *err) {
  rt_code code = rt_tpm_pub_to_evp(ek, key, err);
  if (code == RT_OK)
    code = spki_sha256(*key, sha256, err);
  if (code != RT_OK) {
    EVP_PKEY_free(*key);
    *key = NULL;
  }
  return code;
}

rt_code rt_ek_key_sha256(const TPMT_PUBLIC *ek, uint8_t out[32], rt_err *err) {
  EVP_PKEY *key = NULL;
  rt_code code = rt_ek_key(ek, &key, out, err);
  EVP_PKEY_free(key);
  return code;
}

rt_code rt_ek_cert_key_sha256(X509 *cert, uint8_t out[32], rt_err *err) {
  return spki_sha256(X509_get0_pubkey(cert), out, err);
}

/* The untrusted intermediates, parsed. */
static rt_code parse_all(const rt_cert_der *intermediates, size_t n, STACK_OF(X509) * *out,
                         rt_err *err) {
  *out = sk_X509_new_null();
  if (*out == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    X509 *x = parse(&intermediates[i]);
    if (x == NULL)
      return rt_err_set(err, RT_E_INVALID, "EK intermediate %zu is not a DER certificate", i);
    sk_X509_push(*out, x);
  }
  return RT_OK;
}

/* One X509_verify_cert of leaf. On a failure for a missing issuer,
 * *orphan is (a reference to) the certificate whose issuer is missing. */
static rt_code verify_once(const rt_ca_set *roots, X509 *leaf, STACK_OF(X509) * untrusted,
                           const rt_ek_opts *opts, X509 **orphan, rt_err *err) {
  rt_code code = RT_OK;
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  if (ctx == NULL || X509_STORE_CTX_init(ctx, rt_ca_set_store(roots), leaf, untrusted) != 1 ||
      X509_STORE_CTX_set_app_data(ctx, (void *)opts) != 1) {
    code = rt_err_set(err, RT_E_NOMEM, "cannot set up the EK chain check");
  } else {
    X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
    if (X509_verify_cert(ctx) != 1) {
      int e = X509_STORE_CTX_get_error(ctx);
      code = rt_err_set(err, RT_E_CRYPTO,
                        "EK certificate does not chain to a trusted manufacturer CA: %s (depth %d)",
                        X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(ctx));
      X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
      if ((e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
           e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT) &&
          cur != NULL && X509_up_ref(cur) == 1)
        *orphan = cur;
    }
  }
  ERR_clear_error();
  X509_STORE_CTX_free(ctx);
  return code;
}

/* Most issuers fetched for one chain (a manufacturer's chain has one or two
 * intermediates). */
#define MAX_AIA_FETCHES 3

/* The issuers fetched for one chain, kept in the cache once it verifies. */
typedef struct {
  char url[MAX_AIA_FETCHES][1024];
  X509 *cert[MAX_AIA_FETCHES]; /* owned by the untrusted stack */
  int n;
} fetched;

/* The missing issuer of orphan from its AIA URL, pushed onto untrusted and
 * noted in f unless it came from the cache. */
static rt_code fetch_issuer(const rt_aia_opts *aia, X509 *orphan, STACK_OF(X509) * untrusted,
                            fetched *f, rt_err *err) {
  char *url = f->url[f->n];
  X509 *issuer = NULL;
  int cached = 0;
  rt_code code = rt_aia_ca_issuers(orphan, url, sizeof f->url[0], err);
  /* The same URL again: what it gave was not the issuer after all. */
  for (int i = 0; code == RT_OK && i < f->n; i++)
    if (strcmp(f->url[i], url) == 0)
      code =
          rt_err_set(err, RT_E_CRYPTO, "AIA %s: no path to a root with the certificate there", url);
  if (code == RT_OK)
    code = rt_aia_get(aia, url, &issuer, &cached, err);
  if (code != RT_OK)
    return code;
  if (sk_X509_push(untrusted, issuer) <= 0) {
    X509_free(issuer);
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  }
  if (!cached)
    f->cert[f->n] = issuer;
  f->n++;
  return RT_OK;
}

/* verify_once, and while an issuer is missing and opts->aia allows, the
 * issuer from the orphan's AIA URL as one more untrusted certificate. A
 * refusal after a fetch says what was fetched from where. */
static rt_code verify_chain(const rt_ca_set *roots, X509 *leaf, STACK_OF(X509) * untrusted,
                            const rt_ek_opts *opts, rt_err *err) {
  fetched f = {.n = 0};
  for (;;) {
    X509 *orphan = NULL;
    rt_code code = verify_once(roots, leaf, untrusted, opts, &orphan, err);
    if (code != RT_E_CRYPTO || orphan == NULL || opts == NULL || opts->aia == NULL ||
        f.n == MAX_AIA_FETCHES) {
      X509_free(orphan);
      if (code == RT_E_CRYPTO && f.n > 0)
        rt_err_prefix(err, "with the issuer from AIA %s (no path to a root): ", f.url[f.n - 1]);
      for (int i = 0; code == RT_OK && i < f.n; i++)
        if (f.cert[i] != NULL)
          rt_aia_cache_put(opts->aia, f.url[i], f.cert[i]);
      return code;
    }
    rt_err why;
    code = fetch_issuer(opts->aia, orphan, untrusted, &f, &why);
    X509_free(orphan);
    if (code != RT_OK) {
      rt_err chain = *err;
      return rt_err_set(err, code == RT_E_NOMEM ? code : RT_E_CRYPTO, "%s; the missing issuer: %s",
                        chain.msg, why.msg);
    }
  }
}

/* Verifies leaf's chain and fills the outputs (ek_key_sha256 and info may
 * be NULL); takes nothing over. */
static rt_code verify_leaf(const rt_ca_set *roots, X509 *leaf, const rt_cert_der *intermediates,
                           size_t n_intermediates, const rt_ek_opts *opts,
                           uint8_t ek_key_sha256[32], rt_ek_info *info, rt_err *err) {
  STACK_OF(X509) *untrusted = NULL;
  rt_code code = parse_all(intermediates, n_intermediates, &untrusted, err);
  if (code == RT_OK)
    code = verify_chain(roots, leaf, untrusted, opts, err);
  /* The identity of the EK: the hash of its public key as certified. */
  if (code == RT_OK && ek_key_sha256 != NULL)
    code = spki_sha256(X509_get0_pubkey(leaf), ek_key_sha256, err);
  if (code == RT_OK && info != NULL)
    rt_ek_info_read(leaf, info);
  ERR_clear_error();
  sk_X509_pop_free(untrusted, X509_free);
  return code;
}

rt_code rt_ek_check(const rt_ca_set *roots, EVP_PKEY *ek, const rt_cert_der *certs, size_t n_certs,
                    const rt_cert_der *intermediates, size_t n_intermediates,
                    const rt_ek_opts *opts, size_t *which, uint8_t ek_key_sha256[32],
                    rt_ek_info *info, rt_err *err) {
  X509 *leaf = NULL;
  for (size_t i = 0; i < n_certs && ek != NULL && leaf == NULL; i++) {
    X509 *x = parse(&certs[i]);
    if (x == NULL)
      continue; /* a broken extra certificate does not hide a good one */
    EVP_PKEY *k = X509_get0_pubkey(x);
    if (k != NULL && EVP_PKEY_eq(ek, k) == 1) {
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
  /* An RSA key has one encoding: the identity rt_ek_key hashed is the
   * certificate's. An EC certificate may encode its point compressed (or
   * its curve by explicit parameters), which rt_spki keeps: hashed again
   * from the certificate, as rt_ek_cert_key_sha256 does. */
  bool same = EVP_PKEY_is_a(X509_get0_pubkey(leaf), "RSA");
  rt_code code = verify_leaf(roots, leaf, intermediates, n_intermediates, opts,
                             same ? NULL : ek_key_sha256, info, err);
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
