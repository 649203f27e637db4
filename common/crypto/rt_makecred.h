/* TPM2_MakeCredential in software (TPM 2.0 Part 1 §24 "Credential
 * Protection"): wraps a secret so that only the TPM holding the EK's private
 * key, with the object of the given name loaded, releases it through
 * TPM2_ActivateCredential. */
#ifndef RT_MAKECRED_H
#define RT_MAKECRED_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "rt_err.h"

/* ek: the EK public area, an RSA or ECC (NIST P-256/P-384/P-521) restricted
 * decryption key with an AES-CFB symmetric definition and a SHA-1/256/384/512
 * nameAlg. object_name: the name of the credentialed object (the AK).
 * secret: 1 to digest-size-of-nameAlg bytes.
 *
 * The seed is shared with the EK by RSA-OAEP or by ECDH with an ephemeral
 * key, as TPM2_MakeCredential does; blob is the TPM2B_ID_OBJECT
 * (integrity HMAC, encrypted secret) and enc_secret the encrypted seed (the
 * OAEP ciphertext or the ephemeral point), both as ActivateCredential takes
 * them. Bad arguments are RT_E_INVALID; on failure both outputs are zeroed. */
rt_code rt_make_credential(const TPMT_PUBLIC *ek, const TPM2B_NAME *object_name,
                           const uint8_t *secret, size_t secret_len, TPM2B_ID_OBJECT *blob,
                           TPM2B_ENCRYPTED_SECRET *enc_secret, rt_err *err);

/* The same with ek's key already made by rt_tpm_pub_to_evp (the verifier's
 * Begin, which converts the EK once); ek_key NULL: as above. */
rt_code rt_make_credential_key(const TPMT_PUBLIC *ek, EVP_PKEY *ek_key,
                               const TPM2B_NAME *object_name, const uint8_t *secret,
                               size_t secret_len, TPM2B_ID_OBJECT *blob,
                               TPM2B_ENCRYPTED_SECRET *enc_secret, rt_err *err);

#endif
