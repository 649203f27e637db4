/* TPM object templates rattest creates, and the attribute sets the verifier
 * demands of them: one definition so both sides agree. */
#ifndef RT_TEMPLATES_H
#define RT_TEMPLATES_H

#include <tss2/tss2_tpm2_types.h>

typedef enum {
  RT_ALG_NONE = 0,
  RT_ALG_ECC_P256,
  RT_ALG_RSA_2048,
} rt_key_alg;

/* "ecc-p256" / "rsa-2048" <-> enum; NULL / RT_ALG_NONE when unknown. */
const char *rt_key_alg_name(rt_key_alg alg);
rt_key_alg rt_key_alg_parse(const char *name);
/* The algorithm of a TPM public area, RT_ALG_NONE for anything else. */
rt_key_alg rt_key_alg_of(const TPMT_PUBLIC *pub);

/* TCG EK Credential Profile default EK templates (L-1 RSA 2048, L-2 ECC
 * P-256): used when the TPM has no persistent EK. They reproduce the key
 * the manufacturer certified. */
TPM2B_PUBLIC rt_template_ek(rt_key_alg alg);

/* The high-range ECC P-384 EK template (EK Credential Profile 2.5, H-3:
 * SHA-384, AES-256-CFB, userWithAuth, PolicyB), the EK swtpm makes at
 * 0x81010016; unique left zero-sized. Software EKs (rattest-loadgen) take
 * this shape. */
TPM2B_PUBLIC rt_template_ek_ecc_p384(void);

/* Persistent EK handles of the TCG EK Credential Profile: 0x81010000 to
 * 0x810100ff is the endorsement range, 0x81010001 holds the RSA 2048 EK
 * (template L-1), 0x81010002 the ECC P-256 one (L-2) and 0x81010016 the
 * high-range ECC P-384 one (H-3, no template here: persistent only). */
#define RT_EK_HANDLE_FIRST 0x81010000u
#define RT_EK_HANDLE_LAST 0x810100ffu
#define RT_EK_HANDLE_RSA2048 0x81010001u
#define RT_EK_HANDLE_ECC_P256 0x81010002u
#define RT_EK_HANDLE_ECC_P384 0x81010016u

/* The TCG default template that belongs at an EK handle: RT_ALG_RSA_2048 for
 * 0x81010001, RT_ALG_ECC_P256 for 0x81010002, RT_ALG_NONE otherwise. */
rt_key_alg rt_ek_template_alg(uint32_t handle);

/* Why pub is not shaped like a TCG EK, or NULL when it is: a restricted
 * decryption (storage) key, not a signing key, fixedTPM, fixedParent,
 * adminWithPolicy, whose authPolicy is the profile's PolicySecret(endorsement)
 * digest (PolicyA, SHA-256, low-range templates without userWithAuth) or
 * PolicyB of its name algorithm (high-range templates, with userWithAuth).
 * It says nothing about the hierarchy: see rt_ek_parent.h. */
const char *rt_ek_shape_problem(const TPMT_PUBLIC *pub);

/* Attestation key: restricted signing key with the attributes the verifier
 * demands (RT_AK_ATTRS), name algorithm SHA-256. */
#define RT_AK_ATTRS                                                                                \
  (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |              \
   TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT)
TPM2B_PUBLIC rt_template_ak(rt_key_alg alg);

/* The identity key: unrestricted signing key that never leaves the TPM. RSA
 * keys also get `decrypt` so the provider can produce RSA-PSS signatures with
 * exactly the salt length a TLS peer asks for (padding in software, raw RSA
 * in the TPM) — see docs/provider.md. */
#define RT_KEY_ATTRS                                                                               \
  (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |              \
   TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_SIGN_ENCRYPT)
TPM2B_PUBLIC rt_template_key(rt_key_alg alg);

#endif
