/* EK intermediates from the Authority Information Access caIssuers URL of a
 * certificate whose issuer is missing (`serve --ek-aia-fetch`). A fetched
 * certificate is only an untrusted helper for chain building: the chain must
 * still end at a configured --ek-ca root. Fetching lets a client steer the
 * verifier's outbound requests, so it is off unless the operator turns it
 * on, http:// only (redirects too), bounded in size and time. */
#ifndef RT_VERIFIER_AIA_FETCH_H
#define RT_VERIFIER_AIA_FETCH_H

#include <openssl/x509.h>
#include <stddef.h>

#include "rt_err.h"

#define RT_AIA_MAX_SIZE (64u * 1024u)
#define RT_AIA_TIMEOUT_MS 5000L

typedef struct {
  /* Where fetched certificates are kept, one file per URL named by the
   * SHA-256 of the URL (DER, 0600, written atomically), and served from
   * before any fetch; NULL: no cache. */
  const char *cache_dir;
  size_t max_size; /* bytes, RT_AIA_MAX_SIZE when 0 */
  long timeout_ms; /* the whole transfer, RT_AIA_TIMEOUT_MS when 0 */
} rt_aia_opts;

/* The --ek-aia-cache directory must exist and be writable: checked when a
 * command starts rather than found out at the first fetch. */
rt_code rt_aia_cache_check(const char *dir, rt_err *err);

/* The first http:// caIssuers URL of x's AIA extension into url (cap
 * bytes); RT_E_NOT_FOUND when it names none. */
rt_code rt_aia_ca_issuers(X509 *x, char *url, size_t cap, rt_err *err);

/* The CA certificate at url: from the cache (*cached 1), else fetched.
 * DER, PEM or PKCS#7 certs-only; it must be a CA (basicConstraints cA). Every refusal is
 * RT_E_CRYPTO with a message naming the URL and why (not http, timed out,
 * larger than the limit, HTTP error, not a certificate, not a CA). */
rt_code rt_aia_get(const rt_aia_opts *o, const char *url, X509 **out, int *cached, rt_err *err);

/* Keeps a fetched certificate in the cache, if there is one. Called once
 * the chain it helped build verified, so that clients cannot fill the
 * cache with certificates that lead nowhere; a failure is only a warning. */
void rt_aia_cache_put(const rt_aia_opts *o, const char *url, X509 *x);

#endif
