/* What a verifier needs to check TPM output without a TPM: strict parsing of
 * TPM public areas, signatures and attestation structures (libtss2-mu), TPM
 * public keys as OpenSSL keys, object names, and signature verification.
 *
 * Parsers are strict: the input must be exactly one well-formed structure,
 * short input and trailing bytes are RT_E_INVALID. */
#ifndef RT_TPM_PUB_H
#define RT_TPM_PUB_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "rt_err.h"

/* Parses a marshalled TPM2B_PUBLIC (tpm2_readpublic -o, Esys outPublic). */
rt_code rt_tpm_pub_unmarshal(const uint8_t *buf, size_t len, TPM2B_PUBLIC *out, rt_err *err);

/* The public key of an RSA or ECC (NIST P-256, P-384, P-521) TPM object as a
 * new OpenSSL key (free with EVP_PKEY_free). RSA: 1024, 2048, 3072 or 4096
 * bits, the modulus exactly keyBits long, exponent 0 meaning 65537. ECC: the point must
 * be on the curve and not at infinity, which is all an ECDH peer key needs
 * on these curves: the key may be used as one without checking it again.
 * Anything else is RT_E_INVALID naming what was refused. */
rt_code rt_tpm_pub_to_evp(const TPMT_PUBLIC *pub, EVP_PKEY **out, rt_err *err);

/* rt_tpm_pub_to_evp in libctx with the property query propq for its fetches
 * (NULL, NULL: the default context, any provider). An OpenSSL provider
 * builds its keys' software copies so, in its child library context and
 * away from itself. */
rt_code rt_tpm_pub_to_evp_ex(const TPMT_PUBLIC *pub, OSSL_LIB_CTX *libctx, const char *propq,
                             EVP_PKEY **out, rt_err *err);

/* The object's name: nameAlg (2 bytes, big endian) || H_nameAlg(marshalled
 * TPMT_PUBLIC). */
rt_code rt_tpm_pub_name(const TPMT_PUBLIC *pub, TPM2B_NAME *name, rt_err *err);

/* 1 when pub holds the same public key as pkey (e.g. the EK public area and
 * the key of the EK certificate), 0 otherwise or when pub is unusable. */
int rt_tpm_pub_matches(const TPMT_PUBLIC *pub, EVP_PKEY *pkey);

/* The hash algorithm a signature was made with (TPM2_ALG_SHA256, ...), or
 * TPM2_ALG_NULL for schemes rt_tpm_sig_verify does not support. Callers
 * decide whether it is acceptable (e.g. refuse SHA-1) before or after
 * verifying. */
TPMI_ALG_HASH rt_tpm_sig_hash(const TPMT_SIGNATURE *sig);

/* Verifies sig over msg (the function hashes msg with the signature's hash
 * algorithm: SHA-1, SHA-256, SHA-384 or SHA-512). Schemes: RSASSA
 * (PKCS#1 v1.5) and RSAPSS (any salt length) with an RSA key, ECDSA with an
 * EC key. A scheme that does not fit the key, or an unsupported scheme or
 * hash, is RT_E_INVALID; a signature that does not verify is RT_E_CRYPTO
 * "signature does not verify". */
rt_code rt_tpm_sig_verify(EVP_PKEY *key, const TPMT_SIGNATURE *sig, const uint8_t *msg,
                          size_t msg_len, rt_err *err);

/* The r and s of a TPM ECDSA signature as the DER ECDSA-Sig-Value OpenSSL
 * signs and verifies (free *der with OPENSSL_free). */
rt_code rt_tpm_sig_ecdsa_der(const TPMS_SIGNATURE_ECC *ecc, uint8_t **der, size_t *der_len,
                             rt_err *err);

/* Parses a marshalled TPMT_SIGNATURE (tpm2_quote -s, Esys signature). */
rt_code rt_tpm_sig_unmarshal(const uint8_t *buf, size_t len, TPMT_SIGNATURE *out, rt_err *err);

/* Parses a marshalled TPM2B_ATTEST (tpm2_quote -m, Esys quoted/certifyInfo)
 * into the TPMS_ATTEST it holds, which must fill it exactly. *data and
 * *data_len point into buf at the attestationData bytes, the message the
 * signature covers. A structure whose magic is not TPM_GENERATED_VALUE was
 * not made by a TPM: RT_E_INVALID. */
rt_code rt_tpm_attest_unmarshal(const uint8_t *buf, size_t len, TPMS_ATTEST *out,
                                const uint8_t **data, size_t *data_len, rt_err *err);

#endif
