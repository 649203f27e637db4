/* Bounded HTTP GETs (libcurl) for certificates that other parties publish:
 * an EK issuer at its AIA caIssuers URL (the verifier, --ek-aia-fetch), an
 * EK certificate at its manufacturer's service (the bootstrap,
 * --ek-cert-url). What comes back is untrusted: its size and time are
 * bounded here, its meaning is checked by the caller. */
#ifndef RT_HTTP_H
#define RT_HTTP_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_err.h"

typedef struct {
  /* curl's protocol list, e.g. "http" or "http,https"; the URL and every
   * redirect (at most 3) must use one of them. */
  const char *protocols;
  size_t max_size; /* bytes of body */
  long timeout_ms; /* the whole transfer, connection and redirects included */
} rt_http_limits;

/* The body of url's 200 answer: *data malloc'd (a NUL after the last byte,
 * not counted in *len). Refusals are RT_E_NET with a message "URL: why":
 * not an allowed scheme, timed out after N ms, too large (over N bytes),
 * HTTP status N, or curl's reason. No signals are used (threads). */
rt_code rt_http_get(const char *url, const rt_http_limits *lim, uint8_t **data, size_t *len,
                    rt_err *err);

/* One certificate from what such a service answers: DER (the whole input),
 * PEM (the first certificate) or a DER PKCS#7 certs-only message (its first
 * certificate); NULL when it is none of them. */
X509 *rt_http_cert_parse(const uint8_t *data, size_t len);

#endif
