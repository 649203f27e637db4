/* The test manufacturer CA: an RSA-3072 root and intermediate, as a TPM
 * vendor's EK chain is built, that certifies the emulated machines' EKs.
 * The verifier trusts it through --ek-ca DIR/ek-ca.pem. */
#ifndef LG_MFR_CA_H
#define LG_MFR_CA_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_err.h"

/* Files in the CA directory: the certificates the verifier trusts (root
 * then intermediate, PEM) and the intermediate's key (0600). */
#define LG_CA_CERTS "ek-ca.pem"
#define LG_CA_KEY "ek-ca-key.pem"

typedef struct {
  X509 *root, *issuer; /* issuer: the intermediate that signs EK certificates */
  EVP_PKEY *issuer_key;
} lg_mfr_ca;

/* Loads the CA from dir, or makes it there (0700 directory if absent,
 * files written atomically) when dir holds neither file. */
rt_code lg_mfr_ca_open(const char *dir, lg_mfr_ca *ca, rt_err *err);
void lg_mfr_ca_free(lg_mfr_ca *ca);

/* An EK certificate (DER, OPENSSL_free) for ek_key, signed by the
 * intermediate; serial from RAND_bytes. Thread-safe on a loaded CA. */
rt_code lg_mfr_ca_issue(const lg_mfr_ca *ca, EVP_PKEY *ek_key, const char *cn, uint8_t **der,
                        size_t *der_len, rt_err *err);

#endif
