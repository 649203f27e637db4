/* The one place that decides what the issuing CA's CRL says: the registry's
 * revoked certificates at a given time, signed by the issuer (crl.h).
 * `serve --crl-file` (serve_crl.c) and the `crl` command both build it
 * here, so they publish the same list.
 *
 * Entries: every certificate revoked in the registry whose notAfter is not
 * yet past (RFC 5280 3.3 lets an expired certificate leave the list).
 * thisUpdate = now, nextUpdate = now + period. crlNumber = now x 2^32 + the
 * number of certificates ever revoked: certificates are never unrevoked, so
 * the number grows with the clock and with every revocation, equal numbers
 * mean equal lists, and every replica (and the `crl` command) computes the
 * same number without sharing a counter. It assumes the clock does not go
 * back. */
#ifndef RT_VERIFIER_CRL_REGISTRY_H
#define RT_VERIFIER_CRL_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "issuer.h"
#include "rt_err.h"
#include "store.h"

/* Default and bounds of the CRL's validity (--crl-period). */
#define RT_CRL_PERIOD_DEFAULT "24h"
#define RT_CRL_PERIOD_MIN_S 60
#define RT_CRL_PERIOD_MAX_S (30 * 86400)

/* The CRL in PEM (*pem malloc'd, *len bytes); *revoked (may be NULL) gets
 * the number of certificates ever revoked, the count its number holds. */
rt_code rt_crl_from_registry(rt_store *s, const rt_issuer *issuer, time_t now, int64_t period_s,
                             char **pem, size_t *len, int64_t *revoked, rt_err *err);

/* Writes the CRL to path atomically (rt_file_write_atomic), mode 0644: a
 * CRL is public. */
rt_code rt_crl_write(const char *path, const char *pem, size_t len, rt_err *err);

#endif
