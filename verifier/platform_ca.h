/* The platform CAs (--platform-ca): the certificates that may sign TCG
 * platform certificates, and the roots their chains must end at. Kept
 * apart from the EK CAs on purpose: a TPM manufacturer vouches for TPMs,
 * a platform manufacturer for machines, and trusting one for the other
 * would let a TPM vendor mint platform identities. */
#ifndef RT_VERIFIER_PLATFORM_CA_H
#define RT_VERIFIER_PLATFORM_CA_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "rt_err.h"

typedef struct rt_platform_ca rt_platform_ca;

/* Loads CA certificates (roots and intermediates, PEM or DER) from a file
 * or from every file of a directory (hidden files, *.md and *.txt skipped),
 * as --ek-ca does. A signer must chain to a self-signed certificate of
 * this set: an intermediate alone anchors nothing. */
rt_code rt_platform_ca_load(const char *path, rt_platform_ca **out, rt_err *err);
void rt_platform_ca_free(rt_platform_ca *ca);
size_t rt_platform_ca_count(const rt_platform_ca *ca);

/* An X.509 name as RFC 2253 text, cut to fit len (never fails). */
void rt_platform_name_text(const X509_NAME *name, char *out, size_t len);

/* Whether key made the signature of the certificate being checked. */
typedef int (*rt_platform_sig_check)(EVP_PKEY *key, void *arg);

/* Finds the signer of a certificate issued by `issuer`: a configured
 * certificate with that subject, allowed to sign (a CA when need_ca, else
 * a CA or a key usage allowing digitalSignature), whose chain verifies at
 * `now` up to a configured root, and whose key passes sig_check. Several
 * certificates may share a name (key rollover): each is tried. RT_OK when
 * one passes; RT_E_CRYPTO naming what failed otherwise (unknown issuer,
 * chain, signature). */
rt_code rt_platform_ca_check_signer(const rt_platform_ca *ca, const X509_NAME *issuer, bool need_ca,
                                    time_t now, rt_platform_sig_check sig_check, void *arg,
                                    rt_err *err);

#endif
