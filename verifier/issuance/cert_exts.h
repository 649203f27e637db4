/* The extensions of the certificates the issuer signs (issuer.h lists
 * them), those that never change built once when the issuer is loaded:
 * OpenSSL's v3 config parser, which made them for every certificate, cost
 * more per enrollment than what the values are. Read-only once built: any
 * number of threads may add them at once. */
#ifndef RT_VERIFIER_CERT_EXTS_H
#define RT_VERIFIER_CERT_EXTS_H

#include <openssl/x509.h>
#include <stdbool.h>

#include "rt_err.h"

typedef struct rt_cert_exts rt_cert_exts;

/* The fixed extensions for certificates issued by issuer_cert: its SKI is
 * the AKI keyid of each. */
rt_code rt_cert_exts_new(X509 *issuer_cert, rt_cert_exts **out, rt_err *err);

void rt_cert_exts_free(rt_cert_exts *e);

/* Adds to x, in this order: BasicConstraints CA:FALSE and KeyUsage
 * digitalSignature (both critical), the EKU (tcg-kp-AIKCertificate for an
 * AK, else clientAuth, and serverAuth when server_auth), the SKI of x's
 * public key (set before: RFC 5280 method 1, SHA-1 of the key's BIT
 * STRING) and the AKI. */
rt_code rt_cert_exts_add(const rt_cert_exts *e, X509 *x, bool ak, bool server_auth, rt_err *err);

#endif
