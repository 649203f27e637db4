#include "ca_set.h"

#include <openssl/err.h>
#include <stdbool.h>
#include <stdlib.h>

struct rt_ca_set {
  X509_STORE *store;
  STACK_OF(X509) * all;
};

/* Adds one CA certificate (a DER file is taken as it parses: trailing bytes
 * after the certificate are tolerated in CA files). */
static bool add_cert(const uint8_t *der, size_t len, void *arg) {
  rt_ca_set *set = arg;
  const unsigned char *p = der;
  X509 *x = d2i_X509(NULL, &p, (long)len);
  bool taken =
      x != NULL && X509_STORE_add_cert(set->store, x) == 1 && sk_X509_push(set->all, x) > 0;
  if (taken)
    x = NULL; /* the stack owns it now */
  X509_free(x);
  ERR_clear_error();
  return taken;
}

rt_code rt_ca_set_load(const char *path, const char *what, rt_ca_set **out, rt_err *err) {
  *out = NULL;
  rt_ca_set *set = calloc(1, sizeof *set);
  if (set == NULL || (set->store = X509_STORE_new()) == NULL ||
      (set->all = sk_X509_new_null()) == NULL) {
    rt_ca_set_free(set);
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  }
  rt_code code = rt_cert_path_each(path, what, add_cert, set, err);
  if (code != RT_OK) {
    rt_ca_set_free(set);
    return code;
  }
  *out = set;
  return RT_OK;
}

void rt_ca_set_free(rt_ca_set *set) {
  if (set == NULL)
    return;
  X509_STORE_free(set->store);
  sk_X509_pop_free(set->all, X509_free);
  free(set);
}

size_t rt_ca_set_count(const rt_ca_set *set) {
  return (size_t)sk_X509_num(set->all);
}

X509_STORE *rt_ca_set_store(const rt_ca_set *set) {
  return set->store;
}

STACK_OF(X509) * rt_ca_set_certs(const rt_ca_set *set) {
  return set->all;
}
