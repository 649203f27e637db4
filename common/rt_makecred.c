#include "rt_makecred.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "rt_kdf.h"
#include "rt_tpm_pub.h"

/* The secret-sharing label of credential protection, with its NUL: OAEP
 * takes it as bytes, KDFe adds the NUL itself. */
#define IDENTITY "IDENTITY"

/* Largest digest (SHA-512) and AES key. */
#define MAX_DIGEST 64
#define MAX_SYM_KEY 32

/* The EK must be able to receive a credential: an RSA or ECC restricted
 * decryption key whose symmetric definition we can reproduce. */
static rt_code check_ek(const TPMT_PUBLIC *ek, const TPMT_SYM_DEF_OBJECT **sym, rt_err *err) {
  if (ek->type != TPM2_ALG_RSA && ek->type != TPM2_ALG_ECC)
    return rt_err_set(err, RT_E_INVALID,
                      "EK: unsupported key type 0x%04x (RSA and ECC EKs are supported)",
                      (unsigned)ek->type);
  TPMA_OBJECT attrs = ek->objectAttributes;
  if (!(attrs & TPMA_OBJECT_RESTRICTED) || !(attrs & TPMA_OBJECT_DECRYPT) ||
      (attrs & TPMA_OBJECT_SIGN_ENCRYPT))
    return rt_err_set(err, RT_E_INVALID, "EK: not a restricted decryption key (attributes 0x%08x)",
                      (unsigned)attrs);
  if (rt_tpm_hash_name(ek->nameAlg) == NULL)
    return rt_err_set(err, RT_E_INVALID, "EK: unsupported nameAlg 0x%04x", (unsigned)ek->nameAlg);
  *sym = ek->type == TPM2_ALG_RSA ? &ek->parameters.rsaDetail.symmetric
                                  : &ek->parameters.eccDetail.symmetric;
  if ((*sym)->algorithm != TPM2_ALG_AES || (*sym)->mode.aes != TPM2_ALG_CFB ||
      ((*sym)->keyBits.aes != 128 && (*sym)->keyBits.aes != 192 && (*sym)->keyBits.aes != 256))
    return rt_err_set(err, RT_E_INVALID,
                      "EK: unsupported symmetric definition 0x%04x/%u/0x%04x (AES-CFB is "
                      "supported)",
                      (unsigned)(*sym)->algorithm, (unsigned)(*sym)->keyBits.aes,
                      (unsigned)(*sym)->mode.aes);
  return RT_OK;
}

/* RSA secret sharing: a random seed, RSA-OAEP encrypted to the EK with
 * hash = nameAlg and the label "IDENTITY\0". */
static rt_code seed_rsa(EVP_PKEY *ek_key, const char *md, uint8_t *seed, size_t seed_len,
                        TPM2B_ENCRYPTED_SECRET *enc, rt_err *err) {
  if (RAND_bytes(seed, (int)seed_len) != 1)
    return rt_ossl_err(err, "random seed");
  uint8_t label[] = IDENTITY; /* sizeof includes the NUL */
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, OSSL_PKEY_RSA_PAD_MODE_OAEP,
                                       0),
      OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, (char *)md, 0),
      OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, (char *)md, 0),
      OSSL_PARAM_construct_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, label, sizeof label),
      OSSL_PARAM_construct_end(),
  };
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ek_key, NULL);
  size_t out_len = sizeof enc->secret;
  rt_code code = RT_OK;
  if (ctx == NULL || EVP_PKEY_encrypt_init_ex(ctx, params) != 1 ||
      EVP_PKEY_encrypt(ctx, enc->secret, &out_len, seed, seed_len) != 1)
    code = rt_ossl_err(err, "RSA-OAEP seed encryption");
  else
    enc->size = (UINT16)out_len;
  EVP_PKEY_CTX_free(ctx);
  return code;
}

/* ECC secret sharing: an ephemeral key on the EK's curve, Z = x of the ECDH
 * product, seed = KDFe(nameAlg, Z, "IDENTITY", ephemeral.x, EK.x); the
 * ephemeral public point is the encrypted secret. */
static rt_code seed_ecc(const TPMT_PUBLIC *ek, EVP_PKEY *ek_key, uint8_t *seed, size_t seed_len,
                        TPM2B_ENCRYPTED_SECRET *enc, rt_err *err) {
  EVP_PKEY *eph = NULL;
  EVP_PKEY_CTX *gen = EVP_PKEY_CTX_new_from_pkey(NULL, ek_key, NULL);
  EVP_PKEY_CTX *dh = NULL;
  BIGNUM *x = NULL, *y = NULL;
  uint8_t z[66];
  size_t z_len = sizeof z;
  size_t field = (size_t)(EVP_PKEY_get_bits(ek_key) + 7) / 8;
  TPMS_ECC_POINT point = {0};
  size_t off = 0;
  rt_code code = RT_OK;
  /* The EK key is the template: the ephemeral key gets its group. */
  if (gen == NULL || EVP_PKEY_keygen_init(gen) != 1 || EVP_PKEY_keygen(gen, &eph) != 1)
    code = rt_ossl_err(err, "ephemeral ECC key");
  else if ((dh = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL)) == NULL ||
           EVP_PKEY_derive_init(dh) != 1 || EVP_PKEY_derive_set_peer(dh, ek_key) != 1 ||
           EVP_PKEY_derive(dh, z, &z_len) != 1)
    code = rt_ossl_err(err, "ECDH with the EK");
  else if (field > sizeof point.x.buffer ||
           EVP_PKEY_get_bn_param(eph, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
           EVP_PKEY_get_bn_param(eph, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1 ||
           BN_bn2binpad(x, point.x.buffer, (int)field) < 0 ||
           BN_bn2binpad(y, point.y.buffer, (int)field) < 0)
    code = rt_ossl_err(err, "ephemeral ECC point");
  if (code == RT_OK) {
    point.x.size = point.y.size = (UINT16)field;
    TSS2_RC rc = Tss2_MU_TPMS_ECC_POINT_Marshal(&point, enc->secret, sizeof enc->secret, &off);
    if (rc != TSS2_RC_SUCCESS)
      code =
          rt_err_set(err, RT_E_INTERNAL, "marshalling the ephemeral point: %s", Tss2_RC_Decode(rc));
    else
      enc->size = (UINT16)off;
  }
  if (code == RT_OK)
    code = rt_kdfe(ek->nameAlg, z, z_len, IDENTITY, point.x.buffer, point.x.size,
                   ek->unique.ecc.x.buffer, ek->unique.ecc.x.size, seed, seed_len * 8, err);
  OPENSSL_cleanse(z, sizeof z);
  BN_free(x);
  BN_free(y);
  EVP_PKEY_CTX_free(dh);
  EVP_PKEY_CTX_free(gen);
  EVP_PKEY_free(eph);
  return code;
}

/* encIdentity = AES-CFB(symKey, IV = 0, plain). */
static rt_code aes_cfb(unsigned bits, const uint8_t *key, const uint8_t *plain, size_t len,
                       uint8_t *out, rt_err *err) {
  char name[16];
  snprintf(name, sizeof name, "AES-%u-CFB", bits);
  static const uint8_t iv[16] = {0};
  EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, name, NULL);
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n = 0, fin = 0;
  rt_code code = RT_OK;
  if (cipher == NULL || ctx == NULL || EVP_EncryptInit_ex2(ctx, cipher, key, iv, NULL) != 1 ||
      EVP_EncryptUpdate(ctx, out, &n, plain, (int)len) != 1 ||
      EVP_EncryptFinal_ex(ctx, out + n, &fin) != 1 || (size_t)(n + fin) != len)
    code = rt_ossl_err(err, name);
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(cipher);
  return code;
}

/* integrity = HMAC_nameAlg(key, enc_identity || name). */
static rt_code hmac(const char *md, const uint8_t *key, size_t key_len, const uint8_t *a,
                    size_t a_len, const TPM2B_NAME *name, uint8_t *out, size_t out_len,
                    rt_err *err) {
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)md, 0),
      OSSL_PARAM_construct_end(),
  };
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
  size_t n = 0;
  rt_code code = RT_OK;
  if (ctx == NULL || EVP_MAC_init(ctx, key, key_len, params) != 1 ||
      EVP_MAC_update(ctx, a, a_len) != 1 || EVP_MAC_update(ctx, name->name, name->size) != 1 ||
      EVP_MAC_final(ctx, out, &n, out_len) != 1 || n != out_len)
    code = rt_ossl_err(err, "integrity HMAC");
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return code;
}

rt_code rt_make_credential(const TPMT_PUBLIC *ek, const TPM2B_NAME *object_name,
                           const uint8_t *secret, size_t secret_len, TPM2B_ID_OBJECT *blob,
                           TPM2B_ENCRYPTED_SECRET *enc_secret, rt_err *err) {
  if (blob != NULL)
    memset(blob, 0, sizeof *blob);
  if (enc_secret != NULL)
    memset(enc_secret, 0, sizeof *enc_secret);
  if (ek == NULL || object_name == NULL || secret == NULL || blob == NULL || enc_secret == NULL)
    return rt_err_set(err, RT_E_INVALID, "make credential: missing argument");
  if (object_name->size == 0 || object_name->size > sizeof object_name->name)
    return rt_err_set(err, RT_E_INVALID, "make credential: object name of %u bytes",
                      (unsigned)object_name->size);
  const TPMT_SYM_DEF_OBJECT *sym = NULL;
  rt_code code = check_ek(ek, &sym, err);
  if (code != RT_OK) {
    rt_err_prefix(err, "make credential: ");
    return code;
  }
  const char *md = rt_tpm_hash_name(ek->nameAlg);
  size_t dsize = rt_tpm_hash_size(ek->nameAlg);
  if (secret_len == 0 || secret_len > dsize)
    return rt_err_set(err, RT_E_INVALID,
                      "make credential: secret of %zu bytes (1 to %zu, the EK nameAlg digest "
                      "size)",
                      secret_len, dsize);
  EVP_PKEY *ek_key = NULL;
  code = rt_tpm_pub_to_evp(ek, &ek_key, err);
  if (code != RT_OK) {
    rt_err_prefix(err, "make credential: EK: ");
    return code;
  }

  uint8_t seed[MAX_DIGEST], sym_key[MAX_SYM_KEY], hmac_key[MAX_DIGEST], integrity[MAX_DIGEST];
  uint8_t plain[sizeof(UINT16) + MAX_DIGEST], enc_identity[sizeof plain];
  TPM2B_DIGEST inner = {0};
  size_t plain_len = 0;

  if (ek->type == TPM2_ALG_RSA)
    code = seed_rsa(ek_key, md, seed, dsize, enc_secret, err);
  else
    code = seed_ecc(ek, ek_key, seed, dsize, enc_secret, err);
  /* symKey = KDFa(nameAlg, seed, "STORAGE", name, -, symmetric key bits). */
  if (code == RT_OK)
    code = rt_kdfa(ek->nameAlg, seed, dsize, "STORAGE", object_name->name, object_name->size, NULL,
                   0, sym_key, sym->keyBits.aes, err);
  /* encIdentity encrypts the marshalled TPM2B_DIGEST of the secret. */
  if (code == RT_OK) {
    inner.size = (UINT16)secret_len;
    memcpy(inner.buffer, secret, secret_len);
    TSS2_RC rc = Tss2_MU_TPM2B_DIGEST_Marshal(&inner, plain, sizeof plain, &plain_len);
    if (rc != TSS2_RC_SUCCESS)
      code = rt_err_set(err, RT_E_INTERNAL, "marshalling the secret: %s", Tss2_RC_Decode(rc));
  }
  if (code == RT_OK)
    code = aes_cfb(sym->keyBits.aes, sym_key, plain, plain_len, enc_identity, err);
  /* HMACkey = KDFa(nameAlg, seed, "INTEGRITY", -, -, digest bits). */
  if (code == RT_OK)
    code =
        rt_kdfa(ek->nameAlg, seed, dsize, "INTEGRITY", NULL, 0, NULL, 0, hmac_key, dsize * 8, err);
  if (code == RT_OK)
    code = hmac(md, hmac_key, dsize, enc_identity, plain_len, object_name, integrity, dsize, err);
  /* blob = TPM2B_DIGEST(integrity) || encIdentity. */
  if (code == RT_OK) {
    TPM2B_DIGEST outer = {.size = (UINT16)dsize};
    memcpy(outer.buffer, integrity, dsize);
    size_t off = 0;
    TSS2_RC rc =
        Tss2_MU_TPM2B_DIGEST_Marshal(&outer, blob->credential, sizeof blob->credential, &off);
    if (rc != TSS2_RC_SUCCESS || off + plain_len > sizeof blob->credential) {
      code = rt_err_set(err, RT_E_INTERNAL, "credential blob does not fit");
    } else {
      memcpy(blob->credential + off, enc_identity, plain_len);
      blob->size = (UINT16)(off + plain_len);
    }
  }

  OPENSSL_cleanse(seed, sizeof seed);
  OPENSSL_cleanse(sym_key, sizeof sym_key);
  OPENSSL_cleanse(hmac_key, sizeof hmac_key);
  OPENSSL_cleanse(plain, sizeof plain);
  OPENSSL_cleanse(&inner, sizeof inner);
  EVP_PKEY_free(ek_key);
  if (code != RT_OK) {
    memset(blob, 0, sizeof *blob);
    memset(enc_secret, 0, sizeof *enc_secret);
    rt_err_prefix(err, "make credential: ");
    return code;
  }
  return RT_OK;
}
