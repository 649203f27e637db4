/* The platform CAs (--platform-ca, an rt_ca_set apart from the EK CAs):
 * finding the certificate that signed a TCG platform certificate, and
 * checking its chain up to a platform root. */
#ifndef RT_VERIFIER_PLATFORM_CA_H
#define RT_VERIFIER_PLATFORM_CA_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "ca_set.h"
#include "rt_err.h"

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
rt_code rt_platform_ca_check_signer(const rt_ca_set *ca, const X509_NAME *issuer, bool need_ca,
                                    time_t now, rt_platform_sig_check sig_check, void *arg,
                                    rt_err *err);

#endif
