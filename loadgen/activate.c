#include "activate.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "rt_kdf.h"
#include "rt_seed.h"
#include "rt_tpm_pub.h"

#define MAX_DIGEST 64
#define MAX_SYM_KEY 32

/* RSA: seed = OAEP-decrypt(EK, label "IDENTITY" with its NUL, nameAlg). */
static rt_code seed_rsa(const lg_machine *m, const TPM2B_ENCRYPTED_SECRET *enc, uint8_t *seed,
                        size_t seed_len, rt_err *err) {
  char label[] = "IDENTITY";
  const char *md = rt_tpm_hash_name(m->ek_pub.publicArea.nameAlg);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, OSSL_PKEY_RSA_PAD_MODE_OAEP,
                                       0),
      OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, (char *)md, 0),
      OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, (char *)md, 0),
      OSSL_PARAM_construct_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, label, sizeof label),
      OSSL_PARAM_construct_end(),
  };
  uint8_t out[512];
  size_t out_len = sizeof out;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, m->ek, NULL);
  rt_code code = RT_OK;
  if (ctx == NULL || EVP_PKEY_decrypt_init_ex(ctx, params) != 1 ||
      EVP_PKEY_decrypt(ctx, out, &out_len, enc->secret, enc->size) != 1)
    code = rt_ossl_err(err, "RSA-OAEP seed decryption");
  else if (out_len != seed_len)
    code = rt_err_set(err, RT_E_CRYPTO, "the seed has %zu bytes, not %zu", out_len, seed_len);
  else
    memcpy(seed, out, seed_len);
  OPENSSL_cleanse(out, sizeof out);
  EVP_PKEY_CTX_free(ctx);
  return code;
}

/* ECC: the ephemeral point as a key (rt_tpm_pub_to_evp checks it is on the
 * EK's curve), Z = x of EK * point, seed = KDFe(Z, "IDENTITY", point.x,
 * EK.x). */
static rt_code seed_ecc(const lg_machine *m, const TPM2B_ENCRYPTED_SECRET *enc, uint8_t *seed,
                        size_t seed_len, rt_err *err) {
  const TPMT_PUBLIC *ek = &m->ek_pub.publicArea;
  TPMT_PUBLIC peer = *ek;
  size_t off = 0;
  if (Tss2_MU_TPMS_ECC_POINT_Unmarshal(enc->secret, enc->size, &off, &peer.unique.ecc) !=
          TSS2_RC_SUCCESS ||
      off != enc->size)
    return rt_err_set(err, RT_E_INVALID, "the encrypted secret is not an ECC point");
  EVP_PKEY *pt = NULL;
  rt_code code = rt_tpm_pub_to_evp(&peer, &pt, err);
  if (code != RT_OK)
    return code;
  uint8_t z[66];
  size_t z_len = sizeof z;
  EVP_PKEY_CTX *dh = EVP_PKEY_CTX_new_from_pkey(NULL, m->ek, NULL);
  if (dh == NULL || EVP_PKEY_derive_init(dh) != 1 || EVP_PKEY_derive_set_peer(dh, pt) != 1 ||
      EVP_PKEY_derive(dh, z, &z_len) != 1)
    code = rt_ossl_err(err, "ECDH with the ephemeral point");
  else
    code =
        rt_kdfe(ek->nameAlg, z, z_len, "IDENTITY", peer.unique.ecc.x.buffer, peer.unique.ecc.x.size,
                ek->unique.ecc.x.buffer, ek->unique.ecc.x.size, seed, seed_len * 8, err);
  OPENSSL_cleanse(z, sizeof z);
  EVP_PKEY_CTX_free(dh);
  EVP_PKEY_free(pt);
  return code;
}

/* HMAC_nameAlg(hmac_key, enc || name) equals integrity, in constant time. */
static rt_code check_integrity(TPMI_ALG_HASH alg, const uint8_t *key, size_t key_len,
                               const uint8_t *enc, size_t enc_len, const TPM2B_NAME *name,
                               const TPM2B_DIGEST *integrity, rt_err *err) {
  uint8_t mac[MAX_DIGEST];
  size_t n = 0;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)rt_tpm_hash_name(alg), 0),
      OSSL_PARAM_construct_end(),
  };
  EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
  rt_code code = RT_OK;
  if (ctx == NULL || EVP_MAC_init(ctx, key, key_len, params) != 1 ||
      EVP_MAC_update(ctx, enc, enc_len) != 1 || EVP_MAC_update(ctx, name->name, name->size) != 1 ||
      EVP_MAC_final(ctx, mac, &n, sizeof mac) != 1)
    code = rt_ossl_err(err, "integrity HMAC");
  else if (n != integrity->size || CRYPTO_memcmp(mac, integrity->buffer, n) != 0)
    code = rt_err_set(err, RT_E_CRYPTO,
                      "the credential's integrity check fails (not for this "
                      "EK and AK)");
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(hmac);
  return code;
}

/* From the seed: the integrity checked, then the secret decrypted and
 * unmarshalled (a TPM2B_DIGEST, exactly). */
static rt_code unwrap(const lg_machine *m, const uint8_t *seed, size_t dsize,
                      const TPM2B_ID_OBJECT *blob, TPM2B_DIGEST *secret, rt_err *err) {
  const TPMT_PUBLIC *ek = &m->ek_pub.publicArea;
  unsigned bits = ek->type == TPM2_ALG_RSA ? ek->parameters.rsaDetail.symmetric.keyBits.aes
                                           : ek->parameters.eccDetail.symmetric.keyBits.aes;
  TPM2B_DIGEST integrity;
  size_t off = 0;
  if (Tss2_MU_TPM2B_DIGEST_Unmarshal(blob->credential, blob->size, &off, &integrity) !=
      TSS2_RC_SUCCESS)
    return rt_err_set(err, RT_E_INVALID, "the credential blob has no integrity digest");
  const uint8_t *enc = blob->credential + off;
  size_t enc_len = blob->size - off;
  uint8_t hmac_key[MAX_DIGEST], sym_key[MAX_SYM_KEY], plain[sizeof(TPM2B_DIGEST)];
  rt_code code =
      rt_kdfa(ek->nameAlg, seed, dsize, "INTEGRITY", NULL, 0, NULL, 0, hmac_key, dsize * 8, err);
  if (code == RT_OK)
    code =
        check_integrity(ek->nameAlg, hmac_key, dsize, enc, enc_len, &m->ak_name, &integrity, err);
  if (code == RT_OK)
    code = rt_kdfa(ek->nameAlg, seed, dsize, "STORAGE", m->ak_name.name, m->ak_name.size, NULL, 0,
                   sym_key, bits, err);
  if (code == RT_OK && enc_len > sizeof plain)
    code = rt_err_set(err, RT_E_INVALID, "the encrypted credential is too long");
  if (code == RT_OK)
    code = rt_seed_aes_cfb(0, bits, sym_key, enc, enc_len, plain, err);
  off = 0;
  if (code == RT_OK &&
      (Tss2_MU_TPM2B_DIGEST_Unmarshal(plain, enc_len, &off, secret) != TSS2_RC_SUCCESS ||
       off != enc_len))
    code = rt_err_set(err, RT_E_INVALID, "the decrypted credential is not a TPM2B_DIGEST");
  OPENSSL_cleanse(hmac_key, sizeof hmac_key);
  OPENSSL_cleanse(sym_key, sizeof sym_key);
  OPENSSL_cleanse(plain, sizeof plain);
  return code;
}

rt_code lg_activate(const lg_machine *m, const ProtobufCBinaryData *blob_bytes,
                    const ProtobufCBinaryData *enc_bytes, TPM2B_DIGEST *secret, rt_err *err) {
  TPM2B_ID_OBJECT blob;
  TPM2B_ENCRYPTED_SECRET enc;
  size_t off = 0, off2 = 0;
  if (Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(blob_bytes->data, blob_bytes->len, &off, &blob) !=
          TSS2_RC_SUCCESS ||
      off != blob_bytes->len ||
      Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(enc_bytes->data, enc_bytes->len, &off2, &enc) !=
          TSS2_RC_SUCCESS ||
      off2 != enc_bytes->len)
    return rt_err_set(err, RT_E_INVALID, "the credential from the verifier does not parse");
  TPMI_ALG_HASH alg = m->ek_pub.publicArea.nameAlg;
  size_t dsize = rt_tpm_hash_size(alg);
  uint8_t seed[MAX_DIGEST];
  rt_code code = m->kind == LG_EK_RSA2048 ? seed_rsa(m, &enc, seed, dsize, err)
                                          : seed_ecc(m, &enc, seed, dsize, err);
  if (code == RT_OK)
    code = unwrap(m, seed, dsize, &blob, secret, err);
  OPENSSL_cleanse(seed, sizeof seed);
  if (code != RT_OK)
    rt_err_prefix(err, "activating the credential: ");
  return code;
}
