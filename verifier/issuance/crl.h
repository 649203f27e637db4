/* The issuing CA's certificate revocation list (RFC 5280 section 5), built
 * and signed by OpenSSL's X509_CRL API from the revoked certificates the
 * caller lists (the registry's: verifier/cli/crl_registry.c).
 *
 * A CRL is version 2, issued by the issuing CA (issuer name, AKI keyid,
 * SHA-256 signature by its key), with thisUpdate, nextUpdate, a crlNumber,
 * and one entry per revoked certificate: its serial, its revocation time
 * and, when the revocation's reason is an RFC 5280 reason name (matched
 * without case: keyCompromise, cACompromise, affiliationChanged,
 * superseded, cessationOfOperation, certificateHold, privilegeWithdrawn,
 * aACompromise), a reasonCode extension; any other reason, "unspecified"
 * included, has none (RFC 5280 5.3.1: absent rather than unspecified). */
#ifndef RT_VERIFIER_CRL_H
#define RT_VERIFIER_CRL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "issuer.h"
#include "rt_err.h"

typedef struct {
  const char *serial_hex; /* 1-40 hex digits */
  time_t revoked_at;
  const char *reason; /* free text; may be NULL */
} rt_crl_entry;

typedef struct {
  uint64_t number; /* crlNumber */
  time_t this_update;
  time_t next_update; /* > this_update */
} rt_crl_params;

/* The reasonCode for a reason text: CRL_REASON_* of an RFC 5280 name, or
 * CRL_REASON_NONE (-1) for anything else (the entry has no reasonCode). */
int rt_crl_reason_code(const char *reason);

/* Builds and signs the CRL; *pem is its PEM text, malloc'd, *pem_len bytes.
 * RT_E_INVALID for a serial that is not hex or times out of order,
 * RT_E_CRYPTO for OpenSSL failures. */
rt_code rt_crl_build(const rt_issuer *issuer, const rt_crl_entry *entries, size_t n,
                     const rt_crl_params *params, char **pem, size_t *pem_len, rt_err *err);

#endif
