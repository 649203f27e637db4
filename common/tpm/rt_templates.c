#include "rt_templates.h"

#include <string.h>

/* PolicySecret(TPM_RH_ENDORSEMENT): the authPolicy of the TCG default EKs
 * (EK Credential Profile, B.3.3). */
static const uint8_t ek_policy_sha256[32] = {
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
    0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa};

/* PolicyB of the high-range EK templates (EK Credential Profile 2.5, B.4):
 * PolicyOR of PolicySecret(endorsement) and PolicyAuthorizeNV, one digest
 * per name algorithm. swtpm's P-384 EK carries the SHA-384 one. */
static const uint8_t ek_policy_b_sha256[32] = {
    0xca, 0x3d, 0x0a, 0x99, 0xa2, 0xb9, 0x39, 0x06, 0xf7, 0xa3, 0x34, 0x24, 0x14, 0xef, 0xcf, 0xb3,
    0xa3, 0x85, 0xd4, 0x4c, 0xd1, 0xfd, 0x45, 0x90, 0x89, 0xd1, 0x9b, 0x50, 0x71, 0xc0, 0xb7, 0xa0};
static const uint8_t ek_policy_b_sha384[48] = {
    0xb2, 0x6e, 0x7d, 0x28, 0xd1, 0x1a, 0x50, 0xbc, 0x53, 0xd8, 0x82, 0xbc, 0xf5, 0xfd, 0x3a, 0x1a,
    0x07, 0x41, 0x48, 0xbb, 0x35, 0xd3, 0xb4, 0xe4, 0xcb, 0x1c, 0x0a, 0xd9, 0xbd, 0xe4, 0x19, 0xca,
    0xcb, 0x47, 0xba, 0x09, 0x69, 0x96, 0x46, 0x15, 0x0f, 0x9f, 0xc0, 0x00, 0xf3, 0xf8, 0x0e, 0x12};
static const uint8_t ek_policy_b_sha512[64] = {
    0xb8, 0x22, 0x1c, 0xa6, 0x9e, 0x85, 0x50, 0xa4, 0x91, 0x4d, 0xe3, 0xfa, 0xa6, 0xa1, 0x8c, 0x07,
    0x2c, 0xc0, 0x12, 0x08, 0x07, 0x3a, 0x92, 0x8d, 0x5d, 0x66, 0xd5, 0x9e, 0xf7, 0x9e, 0x49, 0xa4,
    0x29, 0xc4, 0x1a, 0x6b, 0x26, 0x95, 0x71, 0xd5, 0x7e, 0xdb, 0x25, 0xfb, 0xdb, 0x18, 0x38, 0x42,
    0x56, 0x08, 0xb4, 0x13, 0xcd, 0x61, 0x6a, 0x5f, 0x6d, 0xb5, 0xb6, 0x07, 0x1a, 0xf9, 0x9b, 0xea};

const char *rt_key_alg_name(rt_key_alg alg) {
  switch (alg) {
  case RT_ALG_ECC_P256:
    return "ecc-p256";
  case RT_ALG_RSA_2048:
    return "rsa-2048";
  case RT_ALG_NONE:
    break;
  }
  return NULL;
}

rt_key_alg rt_key_alg_parse(const char *name) {
  if (name == NULL)
    return RT_ALG_NONE;
  if (strcmp(name, "ecc-p256") == 0)
    return RT_ALG_ECC_P256;
  if (strcmp(name, "rsa-2048") == 0)
    return RT_ALG_RSA_2048;
  return RT_ALG_NONE;
}

rt_key_alg rt_key_alg_of(const TPMT_PUBLIC *pub) {
  if (pub->type == TPM2_ALG_ECC && pub->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256)
    return RT_ALG_ECC_P256;
  if (pub->type == TPM2_ALG_RSA && pub->parameters.rsaDetail.keyBits == 2048)
    return RT_ALG_RSA_2048;
  return RT_ALG_NONE;
}

TPM2B_PUBLIC rt_template_ek(rt_key_alg alg) {
  TPM2B_PUBLIC t;
  memset(&t, 0, sizeof t);
  TPMT_PUBLIC *p = &t.publicArea;
  p->nameAlg = TPM2_ALG_SHA256;
  p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                        TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
                        TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
  p->authPolicy.size = sizeof ek_policy_sha256;
  memcpy(p->authPolicy.buffer, ek_policy_sha256, sizeof ek_policy_sha256);
  if (alg == RT_ALG_RSA_2048) {
    p->type = TPM2_ALG_RSA;
    p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
    p->parameters.rsaDetail.symmetric.keyBits.aes = 128;
    p->parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
    p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
    p->parameters.rsaDetail.keyBits = 2048;
    p->parameters.rsaDetail.exponent = 0;
    /* The profile fixes the unique field to 256 zero bytes. */
    p->unique.rsa.size = 256;
  } else {
    p->type = TPM2_ALG_ECC;
    p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
    p->parameters.eccDetail.symmetric.keyBits.aes = 128;
    p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
    p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
    p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    p->unique.ecc.x.size = 32;
    p->unique.ecc.y.size = 32;
  }
  return t;
}

TPM2B_PUBLIC rt_template_ek_ecc_p384(void) {
  TPM2B_PUBLIC t = rt_template_ek(RT_ALG_ECC_P256);
  TPMT_PUBLIC *p = &t.publicArea;
  p->nameAlg = TPM2_ALG_SHA384;
  p->objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
  p->authPolicy.size = sizeof ek_policy_b_sha384;
  memcpy(p->authPolicy.buffer, ek_policy_b_sha384, sizeof ek_policy_b_sha384);
  p->parameters.eccDetail.symmetric.keyBits.aes = 256;
  p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P384;
  p->unique.ecc.x.size = 0;
  p->unique.ecc.y.size = 0;
  return t;
}

rt_key_alg rt_ek_template_alg(uint32_t handle) {
  if (handle == RT_EK_HANDLE_RSA2048)
    return RT_ALG_RSA_2048;
  if (handle == RT_EK_HANDLE_ECC_P256)
    return RT_ALG_ECC_P256;
  return RT_ALG_NONE;
}

static int policy_is(const TPM2B_DIGEST *d, const uint8_t *want, size_t len) {
  return d->size == len && memcmp(d->buffer, want, len) == 0;
}

const char *rt_ek_shape_problem(const TPMT_PUBLIC *pub) {
  const TPMA_OBJECT attrs = pub->objectAttributes;
  if (!(attrs & TPMA_OBJECT_RESTRICTED) || !(attrs & TPMA_OBJECT_DECRYPT) ||
      (attrs & TPMA_OBJECT_SIGN_ENCRYPT))
    return "not a restricted decryption key";
  const TPMA_OBJECT fixed =
      TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_ADMINWITHPOLICY;
  if ((attrs & fixed) != fixed)
    return "not fixedTPM, fixedParent and adminWithPolicy like a TCG EK";
  if (pub->type != TPM2_ALG_RSA && pub->type != TPM2_ALG_ECC)
    return "neither RSA nor ECC";
  const TPM2B_DIGEST *p = &pub->authPolicy;
  /* Low range: PolicySecret(endorsement) only, so a user must run it. */
  if (!(pub->objectAttributes & TPMA_OBJECT_USERWITHAUTH))
    return pub->nameAlg == TPM2_ALG_SHA256 &&
                   policy_is(p, ek_policy_sha256, sizeof ek_policy_sha256)
               ? NULL
               : "its authPolicy is not the TCG EK policy";
  /* High range: userWithAuth with an empty authValue for USER role, PolicyB
   * for the administrator. */
  switch (pub->nameAlg) {
  case TPM2_ALG_SHA256:
    return policy_is(p, ek_policy_b_sha256, sizeof ek_policy_b_sha256)
               ? NULL
               : "its authPolicy is not the TCG EK policy";
  case TPM2_ALG_SHA384:
    return policy_is(p, ek_policy_b_sha384, sizeof ek_policy_b_sha384)
               ? NULL
               : "its authPolicy is not the TCG EK policy";
  case TPM2_ALG_SHA512:
    return policy_is(p, ek_policy_b_sha512, sizeof ek_policy_b_sha512)
               ? NULL
               : "its authPolicy is not the TCG EK policy";
  default:
    return "its name algorithm is not one of the EK profile's";
  }
}

/* A signing key (no symmetric part, no KDF) of alg with the given
 * attributes; `scheme` ECDSA/RSASSA with SHA-256 when restricted keys need it,
 * TPM2_ALG_NULL to let each signature choose. */
static TPM2B_PUBLIC signing_template(rt_key_alg alg, TPMA_OBJECT attrs, int fixed_scheme) {
  TPM2B_PUBLIC t;
  memset(&t, 0, sizeof t);
  TPMT_PUBLIC *p = &t.publicArea;
  p->nameAlg = TPM2_ALG_SHA256;
  p->objectAttributes = attrs;
  if (alg == RT_ALG_RSA_2048) {
    p->type = TPM2_ALG_RSA;
    p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p->parameters.rsaDetail.scheme.scheme = fixed_scheme ? TPM2_ALG_RSASSA : TPM2_ALG_NULL;
    if (fixed_scheme)
      p->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
    p->parameters.rsaDetail.keyBits = 2048;
  } else {
    p->type = TPM2_ALG_ECC;
    p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p->parameters.eccDetail.scheme.scheme = fixed_scheme ? TPM2_ALG_ECDSA : TPM2_ALG_NULL;
    if (fixed_scheme)
      p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  }
  return t;
}

TPM2B_PUBLIC rt_template_ak(rt_key_alg alg) {
  /* A restricted signing key must carry its scheme: the TPM then signs only
   * digests it computed itself (quotes, certifications). */
  return signing_template(alg, RT_AK_ATTRS, 1);
}

TPM2B_PUBLIC rt_template_key(rt_key_alg alg) {
  /* Scheme NULL: the caller picks hash and padding per signature (TLS 1.2
   * and 1.3 ask for different ones). */
  return signing_template(alg, RT_KEY_ATTRS | (alg == RT_ALG_RSA_2048 ? TPMA_OBJECT_DECRYPT : 0),
                          0);
}
