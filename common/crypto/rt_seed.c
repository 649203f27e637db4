#include "rt_seed.h"

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

/* Largest digest (SHA-512), AES key and label ("DUPLICATE" and its NUL with
 * room to spare). */
#define MAX_DIGEST 64
#define MAX_SYM_KEY 32
#define MAX_LABEL 16

rt_code rt_seed_check_parent(const TPMT_PUBLIC *parent, const char *who, rt_err *err) {
  if (parent->type != TPM2_ALG_RSA && parent->type != TPM2_ALG_ECC)
    return rt_err_set(err, RT_E_INVALID,
                      "%s: unsupported key type 0x%04x (RSA and ECC keys are supported)", who,
                      (unsigned)parent->type);
  TPMA_OBJECT attrs = parent->objectAttributes;
  if (!(attrs & TPMA_OBJECT_RESTRICTED) || !(attrs & TPMA_OBJECT_DECRYPT) ||
      (attrs & TPMA_OBJECT_SIGN_ENCRYPT))
    return rt_err_set(err, RT_E_INVALID, "%s: not a restricted decryption key (attributes 0x%08x)",
                      who, (unsigned)attrs);
  if (rt_tpm_hash_name(parent->nameAlg) == NULL)
    return rt_err_set(err, RT_E_INVALID, "%s: unsupported nameAlg 0x%04x", who,
                      (unsigned)parent->nameAlg);
  const TPMT_SYM_DEF_OBJECT *sym = parent->type == TPM2_ALG_RSA
                                       ? &parent->parameters.rsaDetail.symmetric
                                       : &parent->parameters.eccDetail.symmetric;
  /* The TPM derives symKey for its own symmetric definition: we must be
   * able to reproduce it. */
  if (sym->algorithm != TPM2_ALG_AES || sym->mode.aes != TPM2_ALG_CFB ||
      (sym->keyBits.aes != 128 && sym->keyBits.aes != 192 && sym->keyBits.aes != 256))
    return rt_err_set(err, RT_E_INVALID,
                      "%s: unsupported symmetric definition 0x%04x/%u/0x%04x (AES-CFB is "
                      "supported)",
                      who, (unsigned)sym->algorithm, (unsigned)sym->keyBits.aes,
                      (unsigned)sym->mode.aes);
  return RT_OK;
}

/* RSA secret sharing: a random seed, RSA-OAEP encrypted to the parent with
 * hash = nameAlg and the label with its NUL (OAEP takes it as bytes). */
static rt_code seed_rsa(EVP_PKEY *key, const char *md, const char *label, uint8_t *seed,
                        size_t seed_len, TPM2B_ENCRYPTED_SECRET *enc, rt_err *err) {
  if (RAND_bytes(seed, (int)seed_len) != 1)
    return rt_ossl_err(err, "random seed");
  uint8_t oaep_label[MAX_LABEL];
  size_t label_len = strlen(label) + 1;
  if (label_len > sizeof oaep_label)
    return rt_err_set(err, RT_E_INTERNAL, "secret sharing label too long");
  memcpy(oaep_label, label, label_len);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, OSSL_PKEY_RSA_PAD_MODE_OAEP,
                                       0),
      OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, (char *)md, 0),
      OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, (char *)md, 0),
      OSSL_PARAM_construct_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, oaep_label, label_len),
      OSSL_PARAM_construct_end(),
  };
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
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

/* ECC secret sharing: an ephemeral key on the parent's curve, Z = x of the
 * ECDH product, seed = KDFe(nameAlg, Z, label, ephemeral.x, parent.x); the
 * ephemeral public point is the encrypted secret. */
static rt_code seed_ecc(const TPMT_PUBLIC *parent, EVP_PKEY *key, const char *label, uint8_t *seed,
                        size_t seed_len, TPM2B_ENCRYPTED_SECRET *enc, rt_err *err) {
  EVP_PKEY *eph = NULL;
  EVP_PKEY_CTX *gen = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
  EVP_PKEY_CTX *dh = NULL;
  BIGNUM *x = NULL, *y = NULL;
  uint8_t z[66];
  size_t z_len = sizeof z;
  size_t field = (size_t)(EVP_PKEY_get_bits(key) + 7) / 8;
  TPMS_ECC_POINT point = {0};
  size_t off = 0;
  rt_code code = RT_OK;
  /* The parent's key is the template: the ephemeral key gets its group. */
  if (gen == NULL || EVP_PKEY_keygen_init(gen) != 1 || EVP_PKEY_keygen(gen, &eph) != 1)
    code = rt_ossl_err(err, "ephemeral ECC key");
  /* No second validation of the peer (0): rt_tpm_pub_to_evp made key and
   * checked its point (share_seed), and OpenSSL's would be the full check,
   * a scalar multiplication as costly as the ECDH. */
  else if ((dh = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL)) == NULL ||
           EVP_PKEY_derive_init(dh) != 1 || EVP_PKEY_derive_set_peer_ex(dh, key, 0) != 1 ||
           EVP_PKEY_derive(dh, z, &z_len) != 1)
    code = rt_ossl_err(err, "ECDH with the parent key");
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
    code = rt_kdfe(parent->nameAlg, z, z_len, label, point.x.buffer, point.x.size,
                   parent->unique.ecc.x.buffer, parent->unique.ecc.x.size, seed, seed_len * 8, err);
  OPENSSL_cleanse(z, sizeof z);
  BN_free(x);
  BN_free(y);
  EVP_PKEY_CTX_free(dh);
  EVP_PKEY_CTX_free(gen);
  EVP_PKEY_free(eph);
  return code;
}

rt_code rt_seed_aes_cfb(int encrypt, unsigned bits, const uint8_t *key, const uint8_t *in,
                        size_t len, uint8_t *out, rt_err *err) {
  char name[16];
  snprintf(name, sizeof name, "AES-%u-CFB", bits);
  static const uint8_t iv[16] = {0};
  EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, name, NULL);
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n = 0, fin = 0;
  rt_code code = RT_OK;
  if (len > INT32_MAX || cipher == NULL || ctx == NULL ||
      EVP_CipherInit_ex2(ctx, cipher, key, iv, encrypt ? 1 : 0, NULL) != 1 ||
      EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1 ||
      EVP_CipherFinal_ex(ctx, out + n, &fin) != 1 || (size_t)(n + fin) != len)
    code = rt_ossl_err(err, name);
  EVP_CIPHER_CTX_free(ctx); /* wipes the key schedule */
  EVP_CIPHER_free(cipher);
  return code;
}

/* integrity = HMAC_nameAlg(key, enc || name). */
static rt_code hmac(const char *md, const uint8_t *key, size_t key_len, const uint8_t *enc,
                    size_t enc_len, const TPM2B_NAME *name, uint8_t *out, size_t out_len,
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
      EVP_MAC_update(ctx, enc, enc_len) != 1 || EVP_MAC_update(ctx, name->name, name->size) != 1 ||
      EVP_MAC_final(ctx, out, &n, out_len) != 1 || n != out_len)
    code = rt_ossl_err(err, "integrity HMAC");
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return code;
}

/* The seed, shared with the parent by the means its type allows; with
 * parent's key as given (rt_seed_outer_wrap_key) or made from parent. */
static rt_code share_seed(const TPMT_PUBLIC *parent, EVP_PKEY *given, const char *who,
                          const char *label, uint8_t *seed, size_t seed_len,
                          TPM2B_ENCRYPTED_SECRET *enc, rt_err *err) {
  EVP_PKEY *made = NULL;
  rt_code code = given != NULL ? RT_OK : rt_tpm_pub_to_evp(parent, &made, err);
  if (code != RT_OK) {
    rt_err_prefix(err, "%s: ", who);
    return code;
  }
  EVP_PKEY *key = given != NULL ? given : made;
  if (parent->type == TPM2_ALG_RSA)
    code = seed_rsa(key, rt_tpm_hash_name(parent->nameAlg), label, seed, seed_len, enc, err);
  else
    code = seed_ecc(parent, key, label, seed, seed_len, enc, err);
  EVP_PKEY_free(made);
  return code;
}

rt_code rt_seed_outer_wrap(const TPMT_PUBLIC *parent, const char *who, const char *label,
                           const TPM2B_NAME *name, const uint8_t *plain, size_t plain_len,
                           uint8_t *out, size_t out_max, size_t *out_len,
                           TPM2B_ENCRYPTED_SECRET *enc_seed, rt_err *err) {
  return rt_seed_outer_wrap_key(parent, NULL, who, label, name, plain, plain_len, out, out_max,
                                out_len, enc_seed, err);
}

rt_code rt_seed_outer_wrap_key(const TPMT_PUBLIC *parent, EVP_PKEY *parent_key, const char *who,
                               const char *label, const TPM2B_NAME *name, const uint8_t *plain,
                               size_t plain_len, uint8_t *out, size_t out_max, size_t *out_len,
                               TPM2B_ENCRYPTED_SECRET *enc_seed, rt_err *err) {
  if (out_len != NULL)
    *out_len = 0;
  if (enc_seed != NULL)
    memset(enc_seed, 0, sizeof *enc_seed);
  if (parent == NULL || who == NULL || label == NULL || name == NULL || plain == NULL ||
      plain_len == 0 || out == NULL || out_len == NULL || enc_seed == NULL)
    return rt_err_set(err, RT_E_INVALID, "outer wrapper: missing argument");
  if (name->size == 0 || name->size > sizeof name->name)
    return rt_err_set(err, RT_E_INVALID, "outer wrapper: name of %u bytes", (unsigned)name->size);
  rt_code code = rt_seed_check_parent(parent, who, err);
  if (code != RT_OK)
    return code;
  const char *md = rt_tpm_hash_name(parent->nameAlg);
  size_t dsize = rt_tpm_hash_size(parent->nameAlg);
  unsigned sym_bits = parent->type == TPM2_ALG_RSA
                          ? parent->parameters.rsaDetail.symmetric.keyBits.aes
                          : parent->parameters.eccDetail.symmetric.keyBits.aes;
  /* out = [2-byte size][HMAC][enc]: enc is written in place, the HMAC
   * (which covers it) in front of it afterwards. */
  size_t head = sizeof(UINT16) + dsize;
  if (out_max < head || out_max - head < plain_len)
    return rt_err_set(err, RT_E_INVALID, "outer wrapper: %zu bytes do not fit in %zu", plain_len,
                      out_max);
  uint8_t *enc = out + head;

  uint8_t seed[MAX_DIGEST], sym_key[MAX_SYM_KEY], hmac_key[MAX_DIGEST];
  TPM2B_DIGEST integrity = {.size = (UINT16)dsize};
  code = share_seed(parent, parent_key, who, label, seed, dsize, enc_seed, err);
  if (code == RT_OK)
    code = rt_kdfa(parent->nameAlg, seed, dsize, "STORAGE", name->name, name->size, NULL, 0,
                   sym_key, sym_bits, err);
  if (code == RT_OK)
    code = rt_seed_aes_cfb(1, sym_bits, sym_key, plain, plain_len, enc, err);
  if (code == RT_OK)
    code = rt_kdfa(parent->nameAlg, seed, dsize, "INTEGRITY", NULL, 0, NULL, 0, hmac_key, dsize * 8,
                   err);
  if (code == RT_OK)
    code = hmac(md, hmac_key, dsize, enc, plain_len, name, integrity.buffer, dsize, err);
  if (code == RT_OK) {
    size_t off = 0;
    TSS2_RC rc = Tss2_MU_TPM2B_DIGEST_Marshal(&integrity, out, head, &off);
    if (rc != TSS2_RC_SUCCESS || off != head)
      code = rt_err_set(err, RT_E_INTERNAL, "outer wrapper: marshalling the HMAC: %s",
                        Tss2_RC_Decode(rc));
  }
  OPENSSL_cleanse(seed, sizeof seed);
  OPENSSL_cleanse(sym_key, sizeof sym_key);
  OPENSSL_cleanse(hmac_key, sizeof hmac_key);
  if (code != RT_OK) {
    OPENSSL_cleanse(out, out_max);
    memset(enc_seed, 0, sizeof *enc_seed);
    return code;
  }
  *out_len = head + plain_len;
  return RT_OK;
}
