/* The outer wrapper that credential protection (TPM 2.0 Part 1 §24,
 * TPM2_MakeCredential, label "IDENTITY") and duplication (Part 1 §23.3.2,
 * TPM2_Import, label "DUPLICATE") share, done once for both
 * (rt_makecred.c, rt_dup.c):
 *
 *   seed      random, digest size of the parent's nameAlg, shared with the
 *             parent by RSA-OAEP (label) or ECDH + KDFe (label);
 *   symKey    KDFa(nameAlg, seed, "STORAGE", name, -, parent's AES bits);
 *   hmacKey   KDFa(nameAlg, seed, "INTEGRITY", -, -, digest bits);
 *   enc       AES-CFB(symKey, IV 0, plain);
 *   out       TPM2B_DIGEST(HMAC_nameAlg(hmacKey, enc || name)) || enc.
 *
 * Internal to common/: callers check their own payload and add their own
 * error prefix. */
#ifndef RT_SEED_H
#define RT_SEED_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "rt_err.h"

/* AES-CFB with IV 0 (the TPM's outer wrapper never uses an IV; the key is
 * fresh for every seed), encrypt 1 or decrypt 0 (a software TPM: the
 * load generator), len bytes from in to out. */
rt_code rt_seed_aes_cfb(int encrypt, unsigned bits, const uint8_t *key, const uint8_t *in,
                        size_t len, uint8_t *out, rt_err *err);

/* The parent (the EK, or any storage key) must be able to receive a seed:
 * an RSA or ECC restricted decryption key, not a signing key, with an
 * AES-CFB (128/192/256) symmetric definition and a SHA-1/256/384/512
 * nameAlg. `who` names it in messages ("EK", "parent"). */
rt_code rt_seed_check_parent(const TPMT_PUBLIC *parent, const char *who, rt_err *err);

/* Wraps plain for parent as above (checking parent first). label:
 * "IDENTITY" or "DUPLICATE". Writes the result to out (at most out_max
 * bytes, length in *out_len) and the encrypted seed to enc_seed. Seed and
 * derived keys are wiped before returning; on failure *out_len is 0 and
 * out and enc_seed are zeroed. */
rt_code rt_seed_outer_wrap(const TPMT_PUBLIC *parent, const char *who, const char *label,
                           const TPM2B_NAME *name, const uint8_t *plain, size_t plain_len,
                           uint8_t *out, size_t out_max, size_t *out_len,
                           TPM2B_ENCRYPTED_SECRET *enc_seed, rt_err *err);

/* The same with parent's key already made by rt_tpm_pub_to_evp (which
 * checked an ECC point), for a caller that needed it before: the
 * verifier's Begin converts the EK once for every use. parent_key NULL:
 * as rt_seed_outer_wrap. */
rt_code rt_seed_outer_wrap_key(const TPMT_PUBLIC *parent, EVP_PKEY *parent_key, const char *who,
                               const char *label, const TPM2B_NAME *name, const uint8_t *plain,
                               size_t plain_len, uint8_t *out, size_t out_max, size_t *out_len,
                               TPM2B_ENCRYPTED_SECRET *enc_seed, rt_err *err);

#endif
