/* Objects for TPM2_Import and their outer wrapper (rt_dup.h). The wrapper
 * itself (seed, KDFs, AES-CFB, HMAC) is rt_seed.c, shared with
 * MakeCredential; this file builds the object and its plaintext. */
#include "rt_dup.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "rt_kdf.h"
#include "rt_seed.h"
#include "rt_templates.h"
#include "rt_tpm_pub.h"

/* The TPM's MAX_SYM_DATA: the most a sealed data object holds (tss2's
 * TPM2_MAX_SYM_DATA, 256, is only the buffer size). */
#define MAX_SEALED 128

/* What Import refuses (fixedTPM, fixedParent) and what only an inner
 * wrapper may carry (encryptedDuplication), and what must not be claimed of
 * material made outside the TPM (sensitiveDataOrigin). */
#define NOT_IMPORTABLE                                                                             \
  (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |              \
   TPMA_OBJECT_ENCRYPTEDDUPLICATION)

/* Without a policy the object opens with its (empty) password; with one,
 * neither the user nor the admin role accepts a password, so every use
 * needs a session satisfying the policy. */
static rt_code set_policy(TPMT_PUBLIC *pub, const TPM2B_DIGEST *policy, rt_err *err) {
  if (policy == NULL) {
    pub->objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
    return RT_OK;
  }
  /* The TPM accepts an authPolicy of nameAlg's digest size only. */
  if (policy->size != rt_tpm_hash_size(pub->nameAlg))
    return rt_err_set(err, RT_E_INVALID, "policy digest of %u bytes (the SHA-256 nameAlg needs 32)",
                      (unsigned)policy->size);
  pub->objectAttributes |= TPMA_OBJECT_ADMINWITHPOLICY;
  pub->authPolicy = *policy;
  return RT_OK;
}

static rt_code sha256(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len, uint8_t *out,
                      rt_err *err) {
  EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  rt_code code = RT_OK;
  if (md == NULL || ctx == NULL || EVP_DigestInit_ex2(ctx, md, NULL) != 1 ||
      EVP_DigestUpdate(ctx, a, a_len) != 1 || EVP_DigestUpdate(ctx, b, b_len) != 1 ||
      EVP_DigestFinal_ex(ctx, out, NULL) != 1)
    code = rt_ossl_err(err, "SHA-256");
  EVP_MD_CTX_free(ctx);
  EVP_MD_free(md);
  return code;
}

rt_code rt_import_sealed(const uint8_t *data, size_t len, const TPM2B_DIGEST *policy,
                         rt_import_object *out, rt_err *err) {
  if (out != NULL)
    memset(out, 0, sizeof *out);
  if (data == NULL || out == NULL)
    return rt_err_set(err, RT_E_INVALID, "sealed object: missing argument");
  if (len == 0 || len > MAX_SEALED)
    return rt_err_set(err, RT_E_INVALID, "sealed object: %zu bytes of data (1 to %d)", len,
                      MAX_SEALED);
  TPMT_PUBLIC *pub = &out->pub.publicArea;
  TPMT_SENSITIVE *s = &out->sensitive;
  pub->type = TPM2_ALG_KEYEDHASH;
  pub->nameAlg = TPM2_ALG_SHA256;
  /* noDA: the password is empty, there is nothing to guess, and a wrong
   * password tried on this object must not count towards the TPM's
   * lockout. Neither sign nor decrypt: a sealed data object. */
  pub->objectAttributes = TPMA_OBJECT_NODA;
  pub->parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
  rt_code code = set_policy(pub, policy, err);

  /* The TPM checks unique = H_nameAlg(seedValue || data) on load: the seed
   * is random so the public area reveals nothing about the data. */
  s->sensitiveType = TPM2_ALG_KEYEDHASH;
  s->seedValue.size = TPM2_SHA256_DIGEST_SIZE;
  s->sensitive.bits.size = (UINT16)len;
  memcpy(s->sensitive.bits.buffer, data, len);
  if (code == RT_OK && RAND_bytes(s->seedValue.buffer, s->seedValue.size) != 1)
    code = rt_ossl_err(err, "random seedValue");
  if (code == RT_OK)
    code = sha256(s->seedValue.buffer, s->seedValue.size, data, len, pub->unique.keyedHash.buffer,
                  err);
  if (code != RT_OK) {
    OPENSSL_cleanse(out, sizeof *out);
    rt_err_prefix(err, "sealed object: ");
    return code;
  }
  pub->unique.keyedHash.size = TPM2_SHA256_DIGEST_SIZE;
  return RT_OK;
}

/* n and e into pub, the first prime into s: all the TPM needs (it computes
 * q = n / p and checks the remainder). */
static rt_code rsa_parts(EVP_PKEY *rsa, TPMT_PUBLIC *pub, TPMT_SENSITIVE *s, rt_err *err) {
  int bits = EVP_PKEY_get_bits(rsa);
  if (bits != 2048 && bits != 3072 && bits != 4096)
    return rt_err_set(err, RT_E_INVALID, "RSA key of %d bits (2048, 3072 or 4096)", bits);
  BIGNUM *n = NULL, *e = NULL, *p = NULL, *r3 = NULL;
  rt_code code = RT_OK;
  if (EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
      EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
    code = rt_ossl_err(err, "reading the RSA public key");
  else if (EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_FACTOR1, &p) != 1)
    code = rt_err_set(err, RT_E_INVALID, "not an RSA private key (no prime)");
  /* The TPM holds two-prime keys only. */
  else if (EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_FACTOR3, &r3) == 1)
    code = rt_err_set(err, RT_E_INVALID, "multi-prime RSA key");
  /* 65537 is the one exponent every TPM must take (swtpm refuses 3 at
   * import): a blob the machine's TPM rejects would fail far from here. */
  else if (!BN_is_word(e, 65537))
    code = rt_err_set(err, RT_E_INVALID, "RSA exponent is not 65537");
  else if (BN_num_bytes(p) > bits / 16 || BN_num_bytes(n) != bits / 8)
    code = rt_err_set(err, RT_E_INVALID, "RSA prime or modulus of an unexpected size");
  if (code == RT_OK) {
    pub->parameters.rsaDetail.keyBits = (TPMI_RSA_KEY_BITS)bits;
    /* 0 is the TPM's way to write the default 65537. */
    pub->parameters.rsaDetail.exponent = 0;
    pub->unique.rsa.size = (UINT16)(bits / 8);
    s->sensitive.rsa.size = (UINT16)(bits / 16);
    if (BN_bn2binpad(n, pub->unique.rsa.buffer, bits / 8) < 0 ||
        BN_bn2binpad(p, s->sensitive.rsa.buffer, bits / 16) < 0)
      code = rt_ossl_err(err, "RSA key");
  }
  /* A public key has no prime and a two-prime key no third: the probes
   * leave OpenSSL errors behind. */
  ERR_clear_error();
  BN_free(n);
  BN_free(e);
  BN_clear_free(p);
  BN_clear_free(r3);
  return code;
}

rt_code rt_import_rsa(EVP_PKEY *rsa, const TPM2B_DIGEST *policy, rt_import_object *out,
                      rt_err *err) {
  if (out != NULL)
    memset(out, 0, sizeof *out);
  if (rsa == NULL || out == NULL)
    return rt_err_set(err, RT_E_INVALID, "RSA object: missing argument");
  /* "RSA" only: an RSA-PSS key is restricted to PSS, the TPM key is not. */
  if (!EVP_PKEY_is_a(rsa, "RSA"))
    return rt_err_set(err, RT_E_INVALID, "RSA object: a %s key is not an RSA key",
                      EVP_PKEY_get0_type_name(rsa) ? EVP_PKEY_get0_type_name(rsa) : "?");
  TPMT_PUBLIC *pub = &out->pub.publicArea;
  TPMT_SENSITIVE *s = &out->sensitive;
  pub->type = TPM2_ALG_RSA;
  pub->nameAlg = TPM2_ALG_SHA256;
  /* rattest's RSA identity key (sign, and decrypt for PSS with any salt
   * length, scheme NULL), less what imported material cannot claim; the
   * password or policy role comes from set_policy. */
  pub->objectAttributes =
      (RT_KEY_ATTRS | TPMA_OBJECT_DECRYPT) & ~(NOT_IMPORTABLE | TPMA_OBJECT_USERWITHAUTH);
  pub->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
  pub->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
  s->sensitiveType = TPM2_ALG_RSA;
  /* seedValue stays empty: only storage keys (parents) use one. */
  rt_code code = set_policy(pub, policy, err);
  if (code == RT_OK)
    code = rsa_parts(rsa, pub, s, err);
  if (code != RT_OK) {
    OPENSSL_cleanse(out, sizeof *out);
    rt_err_prefix(err, "RSA object: ");
    return code;
  }
  return RT_OK;
}

/* The object must be one Import takes without an inner wrapper, with its
 * sensitive area of the same type. */
static rt_code check_object(const rt_import_object *obj, rt_err *err) {
  const TPMT_PUBLIC *pub = &obj->pub.publicArea;
  if (pub->objectAttributes & NOT_IMPORTABLE)
    return rt_err_set(err, RT_E_INVALID,
                      "object attributes 0x%08x include fixedTPM, fixedParent, "
                      "sensitiveDataOrigin or encryptedDuplication",
                      (unsigned)pub->objectAttributes);
  if (obj->sensitive.sensitiveType != pub->type)
    return rt_err_set(err, RT_E_INVALID,
                      "sensitive area of type 0x%04x for an object of type 0x%04x",
                      (unsigned)obj->sensitive.sensitiveType, (unsigned)pub->type);
  return RT_OK;
}

rt_code rt_dup_wrap(const TPMT_PUBLIC *parent, const rt_import_object *obj,
                    TPM2B_PRIVATE *duplicate, TPM2B_ENCRYPTED_SECRET *seed, rt_err *err) {
  if (duplicate != NULL)
    memset(duplicate, 0, sizeof *duplicate);
  if (seed != NULL)
    memset(seed, 0, sizeof *seed);
  if (parent == NULL || obj == NULL || duplicate == NULL || seed == NULL)
    return rt_err_set(err, RT_E_INVALID, "duplicate: missing argument");
  TPM2B_NAME name;
  rt_code code = check_object(obj, err);
  if (code == RT_OK)
    code = rt_tpm_pub_name(&obj->pub.publicArea, &name, err);
  if (code != RT_OK) {
    rt_err_prefix(err, "duplicate: ");
    return code;
  }
  /* Without an inner wrapper the plaintext is the TPM2B_SENSITIVE: the
   * marshalled TPMT_SENSITIVE after its 2-byte size. */
  uint8_t plain[sizeof(TPM2B_SENSITIVE)];
  size_t body = 0, off = 0, dup_len = 0;
  TSS2_RC rc = Tss2_MU_TPMT_SENSITIVE_Marshal(&obj->sensitive, plain + sizeof(UINT16),
                                              sizeof plain - sizeof(UINT16), &body);
  if (rc == TSS2_RC_SUCCESS)
    rc = Tss2_MU_UINT16_Marshal((UINT16)body, plain, sizeof(UINT16), &off);
  if (rc != TSS2_RC_SUCCESS)
    code = rt_err_set(err, RT_E_INVALID, "the sensitive area does not marshal (%s)",
                      Tss2_RC_Decode(rc));
  else
    code = rt_seed_outer_wrap(parent, "parent", "DUPLICATE", &name, plain, off + body,
                              duplicate->buffer, sizeof duplicate->buffer, &dup_len, seed, err);
  OPENSSL_cleanse(plain, sizeof plain);
  if (code != RT_OK) {
    memset(duplicate, 0, sizeof *duplicate);
    memset(seed, 0, sizeof *seed);
    rt_err_prefix(err, "duplicate: ");
    return code;
  }
  duplicate->size = (UINT16)dup_len;
  return RT_OK;
}
