#include "ek_check.h"

#include <dirent.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rt_file.h"
#include "rt_tpm_pub.h"

#define MAX_CA_FILE (4u * 1024u * 1024u)

struct rt_ek_roots {
  X509_STORE *store;
  size_t count;
};

rt_code rt_cert_file_each(const char *path, rt_cert_der_cb cb, void *arg, rt_err *err) {
  uint8_t *data = NULL;
  size_t len = 0;
  rt_code code = rt_file_read(path, MAX_CA_FILE, &data, &len, err);
  if (code != RT_OK)
    return code;
  size_t pem_certs = 0;
  int more = 1;
  BIO *bio = BIO_new_mem_buf(data, (int)len);
  X509 *x;
  while (more && bio != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    unsigned char *der = NULL;
    int dlen = i2d_X509(x, &der);
    X509_free(x);
    if (dlen > 0) {
      pem_certs++;
      more = cb(der, (size_t)dlen, arg);
    }
    OPENSSL_free(der);
  }
  BIO_free(bio);
  ERR_clear_error();
  if (pem_certs == 0)
    cb(data, len, arg);
  free(data);
  return RT_OK;
}

/* Counts, per file, the certificates the caller's callback took. */
typedef struct {
  rt_cert_take_cb take;
  void *arg;
  size_t taken;
} path_walk;

static int take_one(const uint8_t *der, size_t len, void *arg) {
  path_walk *w = arg;
  if (w->take(der, len, w->arg))
    w->taken++;
  return 1;
}

static rt_code take_file(path_walk *w, const char *what, const char *path, rt_err *err) {
  size_t before = w->taken;
  rt_code code = rt_cert_file_each(path, take_one, w, err);
  if (code == RT_OK && w->taken == before)
    code = rt_err_set(err, RT_E_INVALID, "%s %s holds no certificate (PEM or DER)", what, path);
  return code;
}

rt_code rt_cert_path_each(const char *path, const char *what, rt_cert_take_cb take, void *arg,
                          rt_err *err) {
  path_walk w = {take, arg, 0};
  struct stat st;
  if (stat(path, &st) != 0)
    return rt_err_set(err, RT_E_IO, "%s %s: cannot access it", what, path);
  if (!S_ISDIR(st.st_mode))
    return take_file(&w, what, path, err);
  DIR *d = opendir(path);
  if (d == NULL)
    return rt_err_set(err, RT_E_IO, "%s %s: cannot read the directory", what, path);
  rt_code code = RT_OK;
  struct dirent *e;
  while (code == RT_OK && (e = readdir(d)) != NULL) {
    /* Hidden files and notes (README.md next to the CAs) are not CAs. */
    size_t nl = strlen(e->d_name);
    if (e->d_name[0] == '.' || (nl > 3 && strcmp(e->d_name + nl - 3, ".md") == 0) ||
        (nl > 4 && strcmp(e->d_name + nl - 4, ".txt") == 0))
      continue;
    char file[4096];
    snprintf(file, sizeof file, "%s/%s", path, e->d_name);
    if (stat(file, &st) == 0 && S_ISREG(st.st_mode))
      code = take_file(&w, what, file, err);
  }
  closedir(d);
  if (code == RT_OK && w.taken == 0)
    code = rt_err_set(err, RT_E_INVALID, "%s directory %s holds no certificate", what, path);
  return code;
}

/* Adds one CA certificate to the store (a DER file is taken as it parses:
 * trailing bytes after the certificate are tolerated in CA files). */
static bool add_cert(const uint8_t *der, size_t len, void *arg) {
  rt_ek_roots *roots = arg;
  const unsigned char *p = der;
  X509 *x = d2i_X509(NULL, &p, (long)len);
  bool taken = x != NULL && X509_STORE_add_cert(roots->store, x) == 1;
  if (taken)
    roots->count++;
  X509_free(x);
  ERR_clear_error();
  return taken;
}

rt_code rt_ek_roots_load(const char *path, rt_ek_roots **out, rt_err *err) {
  *out = NULL;
  rt_ek_roots *roots = calloc(1, sizeof *roots);
  if (roots == NULL || (roots->store = X509_STORE_new()) == NULL) {
    free(roots);
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  }
  rt_code code = rt_cert_path_each(path, "EK CA", add_cert, roots, err);
  if (code != RT_OK) {
    rt_ek_roots_free(roots);
    return code;
  }
  *out = roots;
  return RT_OK;
}

void rt_ek_roots_free(rt_ek_roots *roots) {
  if (roots == NULL)
    return;
  X509_STORE_free(roots->store);
  free(roots);
}

size_t rt_ek_roots_count(const rt_ek_roots *roots) {
  return roots->count;
}

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

static rt_code verify_leaf(const rt_ek_roots *roots, X509 *leaf, const rt_cert_der *intermediates,
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
      X509_STORE_CTX_init(ctx, roots->store, leaf, untrusted) != 1 ||
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

rt_code rt_ek_check(const rt_ek_roots *roots, const TPMT_PUBLIC *ek, const rt_cert_der *certs,
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

rt_code rt_ek_check_cert(const rt_ek_roots *roots, const rt_cert_der *cert,
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
