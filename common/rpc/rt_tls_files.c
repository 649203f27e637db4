#include "rt_tls_files.h"

#include "rt_asn1_time.h"
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt_file.h"

/* PEM files this large are not TLS credentials. */
#define MAX_PEM_FILE (1024u * 1024u)

static X509 *first_cert(const char *pem, size_t len) {
  BIO *bio = BIO_new_mem_buf(pem, (int)len);
  if (bio == NULL)
    return NULL;
  X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  BIO_free(bio);
  return x;
}

rt_code rt_tls_pair_load(const char *cert_file, const char *key_file, rt_tls_pair *pair,
                         rt_err *err) {
  memset(pair, 0, sizeof *pair);
  if (cert_file == NULL || key_file == NULL)
    return rt_err_set(err, RT_E_INVALID, "a TLS certificate file and key file are required");
  uint8_t *cert = NULL, *key = NULL;
  size_t cert_len = 0, key_len = 0;
  rt_code code = rt_file_read(cert_file, MAX_PEM_FILE, &cert, &cert_len, err);
  if (code != RT_OK)
    return rt_err_prefix(err, "TLS certificate: ");
  /* The same rule as the issuer's and the token key: a private key others
   * can read is refused, not served. */
  code = rt_file_read_private(key_file, "TLS key", MAX_PEM_FILE, &key, &key_len, err);
  if (code != RT_OK) {
    free(cert);
    return code;
  }

  X509 *x = first_cert((const char *)cert, cert_len);
  BIO *kbio = BIO_new_mem_buf(key, (int)key_len);
  EVP_PKEY *pk = kbio ? PEM_read_bio_PrivateKey(kbio, NULL, NULL, NULL) : NULL;
  BIO_free(kbio);
  ERR_clear_error();
  if (x == NULL)
    code = rt_err_set(err, RT_E_INVALID, "%s holds no PEM certificate", cert_file);
  else if (pk == NULL)
    code =
        rt_err_set(err, RT_E_INVALID, "%s holds no PEM private key (or it is encrypted)", key_file);
  else if (X509_check_private_key(x, pk) != 1)
    code = rt_err_set(err, RT_E_INVALID, "TLS key %s does not match certificate %s", key_file,
                      cert_file);
  ERR_clear_error();
  X509_free(x);
  EVP_PKEY_free(pk);
  if (code != RT_OK) {
    free(cert);
    rt_file_free_secret(key, key_len);
    return code;
  }
  pair->cert_pem = (char *)cert;
  pair->key_pem = (char *)key;
  pair->key_len = key_len;
  return RT_OK;
}

void rt_tls_pair_free(rt_tls_pair *pair) {
  free(pair->cert_pem);
  rt_file_free_secret((uint8_t *)pair->key_pem, pair->key_len);
  memset(pair, 0, sizeof *pair);
}

rt_code rt_tls_ca_load(const char *ca_file, char **pem, rt_err *err) {
  *pem = NULL;
  uint8_t *data = NULL;
  size_t len = 0;
  rt_code code = rt_file_read(ca_file, MAX_PEM_FILE, &data, &len, err);
  if (code != RT_OK)
    return rt_err_prefix(err, "CA file: ");
  X509 *x = first_cert((const char *)data, len);
  ERR_clear_error();
  if (x == NULL) {
    free(data);
    return rt_err_set(err, RT_E_INVALID, "CA file %s holds no PEM certificate", ca_file);
  }
  X509_free(x);
  *pem = (char *)data;
  return RT_OK;
}

int64_t rt_tls_cert_not_after(const char *cert_file) {
  uint8_t *pem = NULL;
  size_t len = 0;
  rt_err err;
  if (rt_file_read(cert_file, MAX_PEM_FILE, &pem, &len, &err) != RT_OK)
    return 0;
  X509 *x = first_cert((const char *)pem, len);
  free(pem);
  time_t t = 0;
  if (x != NULL)
    (void)rt_asn1_time_unix(X509_get0_notAfter(x), &t);
  X509_free(x);
  ERR_clear_error();
  return (int64_t)t;
}
