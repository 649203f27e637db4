#include "keep.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>

#include "rt_file.h"

/* Appends the DER certificate as PEM. */
static int add_pem(BIO *bio, const ProtobufCBinaryData *der) {
  const unsigned char *p = der->data;
  X509 *x = d2i_X509(NULL, &p, (long)der->len);
  int ok = x != NULL && p == der->data + der->len && PEM_write_bio_X509(bio, x) == 1;
  X509_free(x);
  return ok;
}

/* Writes what bio holds to path, atomically. */
static rt_code write_bio(BIO *bio, const char *path, mode_t mode, rt_err *err) {
  char *data = NULL;
  long len = BIO_get_mem_data(bio, &data);
  if (len <= 0)
    return rt_err_set(err, RT_E_CRYPTO, "%s: nothing to write", path);
  return rt_file_write_atomic(path, data, (size_t)len, mode, err);
}

rt_code lg_keep_identity(const char *dir, const lg_machine *m, const Rattest__V1__FinishResponse *r,
                         rt_err *err) {
  char cert_path[4096], key_path[4096];
  if (snprintf(cert_path, sizeof cert_path, "%s/%s.pem", dir, m->name) >= (int)sizeof cert_path ||
      snprintf(key_path, sizeof key_path, "%s/%s-key.pem", dir, m->name) >= (int)sizeof key_path)
    return rt_err_set(err, RT_E_INVALID, "--write-certs: path too long");
  BIO *certs = BIO_new(BIO_s_mem()), *key = BIO_new(BIO_s_mem());
  int ok = certs != NULL && key != NULL && add_pem(certs, &r->key_certificate);
  for (size_t i = 0; ok && i < r->n_ca_chain; i++)
    ok = add_pem(certs, &r->ca_chain[i]);
  ok = ok && PEM_write_bio_PrivateKey(key, m->key, NULL, NULL, 0, NULL, NULL) == 1;
  rt_code code =
      ok ? RT_OK : rt_err_set(err, RT_E_CRYPTO, "--write-certs: cannot encode %s", m->name);
  if (code == RT_OK)
    code = write_bio(key, key_path, 0600, err);
  if (code == RT_OK)
    code = write_bio(certs, cert_path, 0644, err);
  BIO_free(certs);
  BIO_free_all(key);
  return code;
}
