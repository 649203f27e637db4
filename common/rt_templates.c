#include "rt_templates.h"

#include <string.h>

/* PolicySecret(TPM_RH_ENDORSEMENT): the authPolicy of the TCG default EKs
 * (EK Credential Profile, B.3.3). */
static const uint8_t ek_policy_sha256[32] = {
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
    0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa};

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
