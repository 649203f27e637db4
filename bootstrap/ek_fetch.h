/* The EK certificate of a TPM that keeps none in NV (Intel PTT on many
 * platforms, AMD fTPM), from its manufacturer's EK certificate service
 * (`enroll --ek-cert-url`), as tpm2_getekcertificate looks it up. The
 * certificate is untrusted here as anywhere: it must certify this EK's
 * key, and the verifier still chains it to its --ek-ca roots. */
#ifndef RT_BOOTSTRAP_EK_FETCH_H
#define RT_BOOTSTRAP_EK_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "rt_tpm.h"

#define RT_EK_FETCH_MAX_SIZE (64u * 1024u)
#define RT_EK_FETCH_TIMEOUT_MS 10000L

/* The service's name for the EK pub into key (cap bytes, at least 80):
 * AMD's form when the TPM's manufacturer is AMD (the first 16 bytes of
 * SHA-256(00 00 22 22 || exponent || modulus), or of SHA-256(00 00 44 44 ||
 * x || y), in hex), else Intel's (base64url of SHA-256(modulus || 01 00 01),
 * or of SHA-256(x || y), its padding written %3D). */
rt_code rt_ek_fetch_key(rt_tpm *tpm, const TPMT_PUBLIC *pub, char *key, size_t cap, rt_err *err);

/* The DER certificate for pub at base_url/KEY (http or https, redirects
 * too, bounded in size and time): DER, PEM or Intel's JSON answer (its
 * "certificate", base64url). Refused, with a message naming the URL, when
 * the fetch fails, the answer holds no certificate, or the certificate is
 * for another key. */
rt_code rt_ek_fetch(rt_tpm *tpm, const char *base_url, const TPMT_PUBLIC *pub, uint8_t **der,
                    size_t *len, rt_err *err);

#endif
