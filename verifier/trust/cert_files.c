#include "cert_files.h"

#include <dirent.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rt_file.h"

/* Largest certificate file read: CA bundles are a few KiB each. */
#define MAX_CA_FILE (4u * 1024u * 1024u)

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

typedef struct {
  rt_cert_der *out;
  size_t max, n;
} cert_list;

/* Keeps a copy of each certificate while there is room. */
static int keep_cert(const uint8_t *der, size_t len, void *arg) {
  cert_list *l = arg;
  if (l->n == l->max)
    return 0;
  uint8_t *copy = malloc(len ? len : 1);
  if (copy == NULL)
    return 0;
  memcpy(copy, der, len);
  l->out[l->n++] = (rt_cert_der){copy, len};
  return 1;
}

rt_code rt_cert_file_read(const char *path, rt_cert_der *out, size_t max, size_t *n, rt_err *err) {
  cert_list l = {out, max, *n};
  rt_code code = rt_cert_file_each(path, keep_cert, &l, err);
  if (code == RT_OK && l.n == *n)
    code = rt_err_set(err, RT_E_INVALID, "%s: too many certificates", path);
  *n = l.n;
  return code;
}

void rt_cert_der_free(rt_cert_der *c, size_t n) {
  for (size_t i = 0; i < n; i++)
    free((void *)c[i].der);
}
