/* Objects made outside the TPM and sent to it in the TPM2_Import format
 * (TPM 2.0 Part 1 §23.3 "Protected Storage", duplication with an outer
 * wrapper), the way the verifier delivers secrets only one TPM can open:
 *
 *   - the object: a public area (its name binds it) and a sensitive area
 *     (the secret, or an RSA private key's prime);
 *   - the outer wrapper to the new parent (the machine's EK): a seed shared
 *     by RSA-OAEP with the label "DUPLICATE" (RSA EK) or by ECDH with an
 *     ephemeral key and KDFe "DUPLICATE" (ECC EK); symKey = KDFa(nameAlg of
 *     the parent, seed, "STORAGE", name, -, bits of the parent's symmetric
 *     key); HMAC key = KDFa(nameAlg, seed, "INTEGRITY", -, -, digest size);
 *     duplicate = TPM2B(outerHMAC) || AES-CFB(symKey, IV 0,
 *     TPM2B(marshalled TPMT_SENSITIVE)), outerHMAC = HMAC(HMAC key,
 *     encrypted part || name).
 *
 * TPM2_Import(parent = EK, objectPublic = pub, duplicate, inSymSeed = seed,
 * symmetricAlg = TPM2_ALG_NULL) then returns the object's private blob for
 * this TPM, which TPM2_Load accepts under the same EK. Every structure goes
 * through Tss2_MU_*; KDFs, AES, HMAC, OAEP and ECDH through OpenSSL EVP. */
#ifndef RT_DUP_H
#define RT_DUP_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "rt_err.h"

/* An object to import. The sensitive area holds secret material: callers
 * wipe it (OPENSSL_cleanse) when done. */
typedef struct {
  TPM2B_PUBLIC pub;
  TPMT_SENSITIVE sensitive;
} rt_import_object;

/* The policy digest of TPM2_PolicyPCR alone (starting from the zero digest)
 * with hash alg: H(0...0 || TPM_CC_PolicyPCR || marshalled sel ||
 * H(values)), values being the selected PCRs' values concatenated in the
 * order the TPM reads them (banks as listed in sel, indexes ascending). */
rt_code rt_policy_pcr_digest(TPMI_ALG_HASH alg, const TPML_PCR_SELECTION *sel,
                             const uint8_t *values, size_t values_len, TPM2B_DIGEST *out,
                             rt_err *err);

/* H(values) with hash alg: TPM2_PolicyPCR's pcrDigest, the digest a TSS2
 * key file's PolicyPCR policy carries (rt_tss2key.h). */
rt_code rt_pcr_values_digest(TPMI_ALG_HASH alg, const uint8_t *values, size_t values_len,
                             TPM2B_DIGEST *out, rt_err *err);

/* A sealed data object (TPM2_ALG_KEYEDHASH, scheme NULL) holding len bytes
 * (1..128) of data, nameAlg SHA-256. policy NULL: opened with an empty
 * password (userWithAuth); else only with a session satisfying the policy
 * digest (e.g. rt_policy_pcr_digest). Never fixedTPM/fixedParent (Import
 * refuses those), sensitiveDataOrigin clear (the data comes from outside),
 * seedValue random (RAND_bytes). */
rt_code rt_import_sealed(const uint8_t *data, size_t len, const TPM2B_DIGEST *policy,
                         rt_import_object *out, rt_err *err);

/* An RSA (2048, 3072 or 4096 bit) private key as a TPM signing key with the
 * attributes of rattest's RSA identity keys (sign and decrypt, scheme NULL:
 * the provider picks PKCS#1 or PSS per handshake) minus fixedTPM,
 * fixedParent and sensitiveDataOrigin; nameAlg SHA-256. The sensitive part
 * is the prime p. policy as for rt_import_sealed. Two-prime keys with the
 * exponent 65537 only: the one every TPM must accept. */
rt_code rt_import_rsa(EVP_PKEY *rsa, const TPM2B_DIGEST *policy, rt_import_object *out,
                      rt_err *err);

/* Wraps obj for import under parent (an RSA or ECC restricted decryption
 * key with AES-CFB, e.g. the EK: the same checks as rt_make_credential).
 * Fills the TPM2B_PRIVATE duplicate and the encrypted seed that
 * TPM2_Import takes. Outputs are zeroed on failure. */
rt_code rt_dup_wrap(const TPMT_PUBLIC *parent, const rt_import_object *obj,
                    TPM2B_PRIVATE *duplicate, TPM2B_ENCRYPTED_SECRET *seed, rt_err *err);

#endif
