/* Loads a TLS certificate chain and private key from PEM files and checks
 * them with OpenSSL first, so a wrong file is reported at start-up with its
 * name instead of as a failed handshake later. */
#ifndef RT_TLS_FILES_H
#define RT_TLS_FILES_H

#include <stdint.h>

#include "rt_err.h"

typedef struct {
  char *cert_pem; /* NUL-terminated */
  char *key_pem;  /* NUL-terminated; wiped when freed */
  unsigned long key_len;
} rt_tls_pair;

rt_code rt_tls_pair_load(const char *cert_file, const char *key_file, rt_tls_pair *pair,
                         rt_err *err);
void rt_tls_pair_free(rt_tls_pair *pair);
/* When the first certificate of cert_file expires, Unix time (0 when the
 * file cannot be read). */
int64_t rt_tls_cert_not_after(const char *cert_file);

/* Reads a PEM bundle that must hold at least one certificate (a CA file).
 * Returns the text NUL-terminated. */
rt_code rt_tls_ca_load(const char *ca_file, char **pem, rt_err *err);

#endif
