/* The TPM's key derivation functions (TPM 2.0 Part 1 §11.4.10), computed with
 * OpenSSL's EVP_KDF implementations, plus the mapping from TPM hash algorithm
 * identifiers to OpenSSL digests that the TPM crypto files share.
 *
 * Only SHA-1, SHA-256, SHA-384 and SHA-512 (rt_hash.h's TPM algorithms) are
 * supported. Output lengths are whole bytes: every key rattest derives is. */
#ifndef RT_KDF_H
#define RT_KDF_H

#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "rt_err.h"

/* OpenSSL digest name of a TPM hash algorithm ("SHA256"), or NULL when the
 * algorithm is not one of the supported ones. */
const char *rt_tpm_hash_name(TPMI_ALG_HASH alg);

/* Digest size in bytes of a supported TPM hash algorithm, 0 otherwise. */
size_t rt_tpm_hash_size(TPMI_ALG_HASH alg);

/* Sets err to RT_E_CRYPTO "<what> failed: <OpenSSL's reason>" and clears
 * OpenSSL's error queue; returns RT_E_CRYPTO. */
rt_code rt_ossl_err(rt_err *err, const char *what);

/* KDFa: SP 800-108 counter mode with HMAC-<hash>, laid out as the TPM does:
 * HMAC(key, [i]32 || label || 0x00 || context_u || context_v || [bits]32).
 * `label` is a C string without the terminating NUL (the 0x00 separator is
 * the NUL the TPM's labels carry), e.g. "STORAGE". Contexts may be NULL when
 * their length is 0. Writes out_bits / 8 bytes to out; out_bits must be a
 * positive multiple of 8. */
rt_code rt_kdfa(TPMI_ALG_HASH hash, const uint8_t *key, size_t key_len, const char *label,
                const uint8_t *context_u, size_t context_u_len, const uint8_t *context_v,
                size_t context_v_len, uint8_t *out, size_t out_bits, rt_err *err);

/* KDFe: SP 800-56C one-step KDF with <hash>, laid out as the TPM does:
 * H([i]32 || z || label || 0x00 || party_u || party_v). `label` is a C string
 * ("IDENTITY"); its terminating NUL is part of the hashed data. Same rules
 * for out_bits and NULL party info as rt_kdfa. */
rt_code rt_kdfe(TPMI_ALG_HASH hash, const uint8_t *z, size_t z_len, const char *label,
                const uint8_t *party_u, size_t party_u_len, const uint8_t *party_v,
                size_t party_v_len, uint8_t *out, size_t out_bits, rt_err *err);

#endif
