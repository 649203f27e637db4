#include "mfr_ca.h"

#include <errno.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_file.h"
#include "rt_kdf.h"

#define CA_KEY_BITS 3072
#define DAY (24L * 3600L)

static rt_code add_ext(X509 *cert, X509 *issuer, int nid, const char *value, rt_err *err) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  int ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok ? RT_OK : rt_ossl_err(err, "certificate extension");
}

/* A certificate for key named cn, signed by signer (issuer NULL: self-signed),
 * valid from a day ago for `days`; extensions as for a CA or an EK. */
static rt_code make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *signer, long days,
                         int is_ca, X509 **out, rt_err *err) {
  X509 *x = X509_new();
  uint8_t serial[16];
  BIGNUM *bn = NULL;
  X509_NAME *name = X509_NAME_new();
  rt_code code = RT_OK;
  if (x == NULL || name == NULL || RAND_bytes(serial, sizeof serial) != 1)
    code = rt_ossl_err(err, "new certificate");
  serial[0] &= 0x7f;
  if (code == RT_OK &&
      ((bn = BN_bin2bn(serial, sizeof serial, NULL)) == NULL ||
       BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL || X509_set_version(x, 2) != 1 ||
       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) !=
           1 ||
       X509_set_subject_name(x, name) != 1 ||
       X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) != 1 ||
       X509_gmtime_adj(X509_getm_notBefore(x), -DAY) == NULL ||
       X509_gmtime_adj(X509_getm_notAfter(x), days * DAY) == NULL || X509_set_pubkey(x, key) != 1))
    code = rt_ossl_err(err, "certificate fields");
  X509 *iss = issuer ? issuer : x;
  if (code == RT_OK)
    code = add_ext(x, iss, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE",
                   err);
  if (code == RT_OK)
    code = add_ext(x, iss, NID_key_usage,
                   is_ca ? "critical,keyCertSign,cRLSign" : "critical,keyEncipherment", err);
  if (code == RT_OK)
    code = add_ext(x, iss, NID_subject_key_identifier, "hash", err);
  if (code == RT_OK && issuer != NULL)
    code = add_ext(x, iss, NID_authority_key_identifier, "keyid:always", err);
  if (code == RT_OK && X509_sign(x, signer, EVP_sha256()) <= 0)
    code = rt_ossl_err(err, "signing the certificate");
  BN_free(bn);
  X509_NAME_free(name);
  if (code != RT_OK) {
    X509_free(x);
    return code;
  }
  *out = x;
  return RT_OK;
}

/* PEM of certificates or of a key into path with mode. */
static rt_code write_pem(const char *path, X509 *a, X509 *b, EVP_PKEY *key, mode_t mode,
                         rt_err *err) {
  BIO *bio = BIO_new(BIO_s_mem());
  char *data = NULL;
  long len = 0;
  int ok = bio != NULL;
  if (ok && a != NULL)
    ok = PEM_write_bio_X509(bio, a) == 1 && PEM_write_bio_X509(bio, b) == 1;
  if (ok && key != NULL)
    ok = PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1;
  if (ok)
    len = BIO_get_mem_data(bio, &data);
  rt_code code = ok && len > 0 ? rt_file_write_atomic(path, data, (size_t)len, mode, err)
                               : rt_ossl_err(err, "PEM encoding");
  if (len > 0)
    OPENSSL_cleanse(data, (size_t)len);
  BIO_free(bio);
  return code;
}

static rt_code create(const char *certs, const char *keyfile, lg_mfr_ca *ca, rt_err *err) {
  EVP_PKEY *root_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)CA_KEY_BITS);
  ca->issuer_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)CA_KEY_BITS);
  rt_code code = root_key && ca->issuer_key ? RT_OK : rt_ossl_err(err, "CA key generation");
  if (code == RT_OK)
    code =
        make_cert(root_key, "rattest-loadgen EK Root CA", NULL, root_key, 7300, 1, &ca->root, err);
  if (code == RT_OK)
    code = make_cert(ca->issuer_key, "rattest-loadgen EK Intermediate CA", ca->root, root_key, 7300,
                     1, &ca->issuer, err);
  if (code == RT_OK)
    code = write_pem(keyfile, NULL, NULL, ca->issuer_key, 0600, err);
  if (code == RT_OK)
    code = write_pem(certs, ca->root, ca->issuer, NULL, 0644, err);
  EVP_PKEY_free(root_key);
  return code;
}

static rt_code load(const char *certs, const char *keyfile, lg_mfr_ca *ca, rt_err *err) {
  uint8_t *pem = NULL, *kpem = NULL;
  size_t len = 0, klen = 0;
  rt_code code = rt_file_read(certs, 1u << 20, &pem, &len, err);
  if (code == RT_OK)
    code = rt_file_read_private(keyfile, "test manufacturer CA key", 1u << 20, &kpem, &klen, err);
  if (code != RT_OK) {
    free(pem);
    return code;
  }
  BIO *b = BIO_new_mem_buf(pem, (int)len), *kb = BIO_new_mem_buf(kpem, (int)klen);
  if (b != NULL && kb != NULL) {
    ca->root = PEM_read_bio_X509(b, NULL, NULL, NULL);
    ca->issuer = PEM_read_bio_X509(b, NULL, NULL, NULL);
    ca->issuer_key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
  }
  BIO_free(b);
  BIO_free(kb);
  free(pem);
  rt_file_free_secret(kpem, klen);
  if (ca->root == NULL || ca->issuer == NULL || ca->issuer_key == NULL ||
      X509_check_private_key(ca->issuer, ca->issuer_key) != 1)
    return rt_ossl_err(err, "reading the test manufacturer CA (root, intermediate, its key)");
  return RT_OK;
}

rt_code lg_mfr_ca_open(const char *dir, lg_mfr_ca *ca, rt_err *err) {
  memset(ca, 0, sizeof *ca);
  char certs[4096], keyfile[4096];
  if (snprintf(certs, sizeof certs, "%s/%s", dir, LG_CA_CERTS) >= (int)sizeof certs ||
      snprintf(keyfile, sizeof keyfile, "%s/%s", dir, LG_CA_KEY) >= (int)sizeof keyfile)
    return rt_err_set(err, RT_E_INVALID, "%s: path too long", dir);
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return rt_err_set(err, RT_E_IO, "%s: %s", dir, strerror(errno));
  int have_certs = access(certs, F_OK) == 0, have_key = access(keyfile, F_OK) == 0;
  rt_code code;
  if (!have_certs && !have_key)
    code = create(certs, keyfile, ca, err);
  else if (have_certs && have_key)
    code = load(certs, keyfile, ca, err);
  else
    code = rt_err_set(err, RT_E_INVALID, "%s holds only one of %s and %s", dir, LG_CA_CERTS,
                      LG_CA_KEY);
  if (code != RT_OK) {
    lg_mfr_ca_free(ca);
    rt_err_prefix(err, "test manufacturer CA: ");
  }
  return code;
}

void lg_mfr_ca_free(lg_mfr_ca *ca) {
  X509_free(ca->root);
  X509_free(ca->issuer);
  EVP_PKEY_free(ca->issuer_key);
  memset(ca, 0, sizeof *ca);
}

rt_code lg_mfr_ca_issue(const lg_mfr_ca *ca, EVP_PKEY *ek_key, const char *cn, uint8_t **der,
                        size_t *der_len, rt_err *err) {
  X509 *x = NULL;
  *der = NULL;
  rt_code code = make_cert(ek_key, cn, ca->issuer, ca->issuer_key, 3650, 0, &x, err);
  if (code != RT_OK)
    return code;
  unsigned char *out = NULL;
  int n = i2d_X509(x, &out);
  X509_free(x);
  if (n <= 0)
    return rt_ossl_err(err, "EK certificate DER");
  *der = out;
  *der_len = (size_t)n;
  return RT_OK;
}
