/* The verifier's TPM crypto without a TPM: strict parsers, TPM public keys as
 * OpenSSL keys, names, signatures, KDFa/KDFe known answers and the argument
 * checks of the software MakeCredential and TPM2_Import blobs (rt_dup). On
 * a real TPM: tests/test_makecredential.sh and tests/test_dup.sh. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "rt_dup.h"
#include "rt_kdf.h"
#include "rt_makecred.h"
#include "rt_spki.h"
#include "rt_templates.h"
#include "rt_test.h"
#include "rt_tpm_pub.h"

/* Hex string to bytes; returns the byte count. */
static size_t unhex(const char *hex, uint8_t *out, size_t max) {
  size_t n = strlen(hex) / 2;
  if (n > max)
    abort();
  for (size_t i = 0; i < n; i++) {
    unsigned v = 0;
    if (sscanf(hex + 2 * i, "%2x", &v) != 1)
      abort();
    out[i] = (uint8_t)v;
  }
  return n;
}

static int eq_hex(const uint8_t *got, size_t len, const char *want_hex) {
  uint8_t want[256];
  size_t n = unhex(want_hex, want, sizeof want);
  return n == len && memcmp(got, want, n) == 0;
}

static void fill(uint8_t *buf, size_t len, unsigned start) {
  for (size_t i = 0; i < len; i++)
    buf[i] = (uint8_t)(start + i);
}

/* Known answers computed independently with Python's hmac/hashlib:
 *   KDFa: HMAC(key, [i]32 || label || 00 || u || v || [bits]32), i = 1..
 *   KDFe: H([i]32 || z || label || 00 || u || v), i = 1.. */
static void test_kdf(void) {
  rt_err e = {0};
  uint8_t key[32], name[34], out[64];
  fill(key, sizeof key, 0);
  name[0] = 0x00, name[1] = 0x0b;
  memset(name + 2, 0xaa, 32);
  CHECK(rt_kdfa(TPM2_ALG_SHA256, key, 32, "STORAGE", name, sizeof name, NULL, 0, out, 128, &e) ==
            RT_OK,
        "%s", e.msg);
  CHECK(eq_hex(out, 16, "0415b32b6f43896a87e7b29be8f2ac14"), "KDFa KAT 1");
  /* Two HMAC blocks: the counter advances. */
  CHECK(rt_kdfa(TPM2_ALG_SHA256, key, 32, "INTEGRITY", NULL, 0, NULL, 0, out, 384, &e) == RT_OK,
        "%s", e.msg);
  CHECK(eq_hex(out, 48,
               "062b7f39dfd0e1c6b000f9a037b29cf44a3cbbd2316607e04f9761a91fad5a53da3f0f498aaf86d67"
               "4a9bfb727aaf060"),
        "KDFa KAT 2");
  /* Both contexts, SHA-1. */
  uint8_t k20[20], u[3] = {1, 2, 3}, v[4] = {4, 5, 6, 7};
  fill(k20, sizeof k20, 0);
  CHECK(rt_kdfa(TPM2_ALG_SHA1, k20, 20, "TEST", u, 3, v, 4, out, 160, &e) == RT_OK, "%s", e.msg);
  CHECK(eq_hex(out, 20, "65d1ac3e72ec9bc7d775707ac3c41bdcf869ad21"), "KDFa KAT 3");

  uint8_t z[32], pu[32], pv[32];
  fill(z, 32, 0x40), fill(pu, 32, 0x80), fill(pv, 32, 0xc0);
  CHECK(rt_kdfe(TPM2_ALG_SHA256, z, 32, "IDENTITY", pu, 32, pv, 32, out, 256, &e) == RT_OK, "%s",
        e.msg);
  CHECK(eq_hex(out, 32, "9f53cff09e5ecd8cd4c65583328cc7b8333ec9df5579459335a6a3b10392861d"),
        "KDFe KAT 1");
  CHECK(rt_kdfe(TPM2_ALG_SHA256, z, 32, "IDENTITY", pu, 32, pv, 32, out, 512, &e) == RT_OK, "%s",
        e.msg);
  CHECK(eq_hex(out, 64,
               "9f53cff09e5ecd8cd4c65583328cc7b8333ec9df5579459335a6a3b10392861d5adf5bb731fbe74f6"
               "caac824a2a5132c2bc8429b49d5f2debd47a9c926709c96"),
        "KDFe KAT 2 (two blocks)");
  uint8_t z48[48], u48[48], v48[48];
  fill(z48, 48, 0), memset(u48, 1, 48), memset(v48, 2, 48);
  CHECK(rt_kdfe(TPM2_ALG_SHA384, z48, 48, "IDENTITY", u48, 48, v48, 48, out, 384, &e) == RT_OK,
        "%s", e.msg);
  CHECK(eq_hex(out, 48,
               "f3beff6d86a2fa412b055a37173117db6da5eab219862574f89ee2df797982a7c2442ade40a6aad5f"
               "e445d5f477aaf94"),
        "KDFe KAT 3 (SHA-384)");

  /* Bad arguments. */
  CHECK(rt_kdfa(TPM2_ALG_SM3_256, key, 32, "X", NULL, 0, NULL, 0, out, 128, &e) == RT_E_INVALID,
        "SM3 accepted");
  CHECK_STR_CONTAINS(e.msg, "unsupported hash");
  CHECK(rt_kdfa(TPM2_ALG_SHA256, key, 32, "X", NULL, 0, NULL, 0, out, 12, &e) == RT_E_INVALID,
        "12 bits accepted");
  CHECK_STR_CONTAINS(e.msg, "whole bytes");
  CHECK(rt_kdfa(TPM2_ALG_SHA256, key, 32, "X", NULL, 0, NULL, 0, out, 0, &e) == RT_E_INVALID,
        "0 bits accepted");
  CHECK(rt_kdfa(TPM2_ALG_SHA256, NULL, 0, "X", NULL, 0, NULL, 0, out, 128, &e) == RT_E_INVALID,
        "no key accepted");
  CHECK(rt_kdfa(TPM2_ALG_SHA256, key, 32, "X", NULL, 5, NULL, 0, out, 128, &e) == RT_E_INVALID,
        "NULL context with a length accepted");
  CHECK(rt_kdfe(TPM2_ALG_NULL, z, 32, "IDENTITY", NULL, 0, NULL, 0, out, 256, &e) == RT_E_INVALID,
        "KDFe NULL hash accepted");
  CHECK_STR_CONTAINS(e.msg, "KDFe");
  CHECK(rt_kdfe(TPM2_ALG_SHA256, z, 32, NULL, NULL, 0, NULL, 0, out, 256, &e) == RT_E_INVALID,
        "KDFe without label accepted");

  CHECK(rt_tpm_hash_size(TPM2_ALG_SHA384) == 48 && rt_tpm_hash_size(TPM2_ALG_SM3_256) == 0,
        "hash sizes");
  CHECK(strcmp(rt_tpm_hash_name(TPM2_ALG_SHA1), "SHA1") == 0 && !rt_tpm_hash_name(TPM2_ALG_NULL),
        "hash names");
}

/* The TCG EK template attributes: restricted decryption, policy only. */
#define EK_ATTRS                                                                                   \
  (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |              \
   TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)

/* A TPM public area for an OpenSSL key (test fixture: the reverse of the
 * function under test, done by reading OpenSSL's parameters). */
static TPMT_PUBLIC rsa_public(EVP_PKEY *k) {
  TPMT_PUBLIC p = {0};
  BIGNUM *n = NULL, *ebn = NULL;
  p.type = TPM2_ALG_RSA;
  p.nameAlg = TPM2_ALG_SHA256;
  p.objectAttributes = EK_ATTRS;
  p.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
  p.parameters.rsaDetail.symmetric.keyBits.aes = 128;
  p.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
  p.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
  p.parameters.rsaDetail.keyBits = (TPMI_RSA_KEY_BITS)EVP_PKEY_get_bits(k);
  EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n);
  EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &ebn);
  p.unique.rsa.size = (UINT16)BN_num_bytes(n);
  BN_bn2bin(n, p.unique.rsa.buffer);
  p.parameters.rsaDetail.exponent = BN_get_word(ebn) == 65537 ? 0 : (UINT32)BN_get_word(ebn);
  BN_free(n);
  BN_free(ebn);
  return p;
}

static TPMT_PUBLIC ecc_public(EVP_PKEY *k, TPM2_ECC_CURVE curve) {
  TPMT_PUBLIC p = {0};
  BIGNUM *x = NULL, *y = NULL;
  int field = (EVP_PKEY_get_bits(k) + 7) / 8;
  p.type = TPM2_ALG_ECC;
  p.nameAlg = TPM2_ALG_SHA256;
  p.objectAttributes = EK_ATTRS;
  p.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
  p.parameters.eccDetail.symmetric.keyBits.aes = 128;
  p.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
  p.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
  p.parameters.eccDetail.curveID = curve;
  p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x);
  EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
  p.unique.ecc.x.size = p.unique.ecc.y.size = (UINT16)field;
  BN_bn2binpad(x, p.unique.ecc.x.buffer, field);
  BN_bn2binpad(y, p.unique.ecc.y.buffer, field);
  BN_free(x);
  BN_free(y);
  return p;
}

static void test_pub_unmarshal(const TPMT_PUBLIC *pub) {
  rt_err e = {0};
  TPM2B_PUBLIC in = {.publicArea = *pub}, out;
  uint8_t buf[sizeof(TPM2B_PUBLIC) + 8];
  size_t len = 0;
  CHECK(Tss2_MU_TPM2B_PUBLIC_Marshal(&in, buf, sizeof buf, &len) == TSS2_RC_SUCCESS, "marshal");
  CHECK(rt_tpm_pub_unmarshal(buf, len, &out, &e) == RT_OK, "%s", e.msg);
  CHECK(out.publicArea.type == pub->type && out.size == len - 2 &&
            out.publicArea.unique.rsa.size == pub->unique.rsa.size,
        "round trip");
  CHECK(rt_tpm_pub_unmarshal(buf, len - 1, &out, &e) == RT_E_INVALID, "short input accepted");
  CHECK_STR_CONTAINS(e.msg, "TPM2B_PUBLIC");
  CHECK(rt_tpm_pub_unmarshal(buf, 1, &out, &e) == RT_E_INVALID, "1 byte accepted");
  CHECK(rt_tpm_pub_unmarshal(buf, 0, &out, &e) == RT_E_INVALID, "empty input accepted");
  buf[len] = 0;
  CHECK(rt_tpm_pub_unmarshal(buf, len + 1, &out, &e) == RT_E_INVALID, "trailing byte accepted");
  CHECK_STR_CONTAINS(e.msg, "1 trailing bytes");
  /* The outer size claims one byte more than the public area holds, or one
   * byte less (libtss2-mu's TPM2B_PUBLIC unmarshaller checks neither). */
  buf[1]++;
  CHECK(rt_tpm_pub_unmarshal(buf, len + 1, &out, &e) == RT_E_INVALID,
        "size larger than the public area accepted");
  CHECK_STR_CONTAINS(e.msg, "1 trailing bytes");
  buf[1] -= 2;
  CHECK(rt_tpm_pub_unmarshal(buf, len - 1, &out, &e) == RT_E_INVALID,
        "size smaller than the public area accepted");
  CHECK_STR_CONTAINS(e.msg, "malformed or truncated");
  buf[1]++;
  CHECK(rt_tpm_pub_unmarshal(buf, len, &out, &e) == RT_OK, "restored: %s", e.msg);
  /* A malformed public area inside a consistent TPM2B (the TPM2B_PUBLIC
   * unmarshaller of tpm2-tss 3.2 drops the inner error). */
  buf[2] = 0x77, buf[3] = 0x77;
  CHECK(rt_tpm_pub_unmarshal(buf, len, &out, &e) == RT_E_INVALID, "unknown type accepted");
  CHECK_STR_CONTAINS(e.msg, "malformed");
  /* A zero-size TPM2B_PUBLIC. */
  uint8_t empty[2] = {0, 0};
  CHECK(rt_tpm_pub_unmarshal(empty, 2, &out, &e) == RT_E_INVALID, "empty public area accepted");
  CHECK(rt_tpm_pub_unmarshal(NULL, 4, &out, &e) == RT_E_INVALID, "NULL accepted");
}

static void test_to_evp(EVP_PKEY *rsa, EVP_PKEY *rsa2, EVP_PKEY *p256, EVP_PKEY *p384,
                        EVP_PKEY *p521) {
  rt_err e = {0};
  EVP_PKEY *k = NULL;
  TPMT_PUBLIC pr = rsa_public(rsa);
  CHECK(pr.parameters.rsaDetail.exponent == 0, "fixture: exponent 0 means 65537");
  CHECK(rt_tpm_pub_to_evp(&pr, &k, &e) == RT_OK, "RSA: %s", e.msg);
  CHECK(k != NULL && EVP_PKEY_eq(k, rsa) == 1, "RSA key differs");
  CHECK(k != NULL && EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA, "not an RSA key");
  EVP_PKEY_free(k);
  k = NULL;
  CHECK(rt_tpm_pub_matches(&pr, rsa) == 1, "RSA match");
  CHECK(rt_tpm_pub_matches(&pr, rsa2) == 0, "other RSA key matches");
  CHECK(rt_tpm_pub_matches(&pr, p256) == 0, "EC key matches an RSA public");
  CHECK(rt_tpm_pub_matches(&pr, NULL) == 0, "NULL matches");
  /* Explicit 65537 is the same key, another exponent is not. */
  TPMT_PUBLIC bad = pr;
  bad.parameters.rsaDetail.exponent = 65537;
  CHECK(rt_tpm_pub_matches(&bad, rsa) == 1, "explicit 65537");
  bad.parameters.rsaDetail.exponent = 3;
  CHECK(rt_tpm_pub_matches(&bad, rsa) == 0, "exponent 3 matches a 65537 key");
  bad.parameters.rsaDetail.exponent = 4;
  CHECK(rt_tpm_pub_to_evp(&bad, &k, &e) == RT_E_INVALID && k == NULL, "even exponent accepted");
  CHECK_STR_CONTAINS(e.msg, "exponent");
  bad = pr;
  bad.parameters.rsaDetail.keyBits = 1000;
  CHECK(rt_tpm_pub_to_evp(&bad, &k, &e) == RT_E_INVALID, "1000-bit RSA accepted");
  CHECK_STR_CONTAINS(e.msg, "RSA key size");
  bad = pr;
  bad.unique.rsa.size = 128;
  CHECK(rt_tpm_pub_to_evp(&bad, &k, &e) == RT_E_INVALID, "short modulus accepted");
  CHECK_STR_CONTAINS(e.msg, "keyBits");
  bad = pr;
  bad.unique.rsa.buffer[255] &= 0xfe;
  CHECK(rt_tpm_pub_to_evp(&bad, &k, &e) == RT_E_INVALID, "even modulus accepted");
  bad = pr;
  bad.unique.rsa.buffer[0] = 0;
  CHECK(rt_tpm_pub_to_evp(&bad, &k, &e) == RT_E_INVALID, "2040-bit modulus accepted as 2048");

  struct {
    EVP_PKEY *key;
    TPM2_ECC_CURVE curve;
    const char *name;
  } curves[] = {{p256, TPM2_ECC_NIST_P256, "P-256"},
                {p384, TPM2_ECC_NIST_P384, "P-384"},
                {p521, TPM2_ECC_NIST_P521, "P-521"}};
  for (size_t i = 0; i < sizeof curves / sizeof curves[0]; i++) {
    TPMT_PUBLIC pe = ecc_public(curves[i].key, curves[i].curve);
    CHECK(rt_tpm_pub_to_evp(&pe, &k, &e) == RT_OK, "%s: %s", curves[i].name, e.msg);
    CHECK(k != NULL && EVP_PKEY_eq(k, curves[i].key) == 1, "%s key differs", curves[i].name);
    EVP_PKEY_free(k);
    k = NULL;
    CHECK(rt_tpm_pub_matches(&pe, curves[i].key) == 1, "%s match", curves[i].name);
    /* A point off the curve. */
    bad = pe;
    bad.unique.ecc.y.buffer[bad.unique.ecc.y.size - 1] ^= 1;
    CHECK(rt_tpm_pub_to_evp(&bad, &k, &e) == RT_E_INVALID && k == NULL,
          "%s: off-curve point accepted", curves[i].name);
    CHECK_STR_CONTAINS(e.msg, "not a valid point");
    CHECK_STR_CONTAINS(e.msg, curves[i].name);
    CHECK(rt_tpm_pub_matches(&bad, curves[i].key) == 0, "off-curve point matches");
  }
  TPMT_PUBLIC pe = ecc_public(p256, TPM2_ECC_NIST_P256);
  CHECK(rt_tpm_pub_matches(&pe, p384) == 0, "P-256 public matches a P-384 key");
  /* Keys are copies of one blank key per curve (rt_ec_blank.c): making
   * one, or refusing a point, leaves nothing in it for the next key. */
  EVP_PKEY *p256b = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  TPMT_PUBLIC pb = ecc_public(p256b, TPM2_ECC_NIST_P256), off = pe;
  off.unique.ecc.x.buffer[0] ^= 1;
  EVP_PKEY *ka = NULL, *kb = NULL;
  CHECK(rt_tpm_pub_to_evp(&pe, &ka, &e) == RT_OK && rt_tpm_pub_to_evp(&off, &k, &e) != RT_OK &&
            rt_tpm_pub_to_evp(&pb, &kb, &e) == RT_OK,
        "two P-256 keys around a refused one: %s", e.msg);
  CHECK(EVP_PKEY_eq(ka, p256) == 1 && EVP_PKEY_eq(kb, p256b) == 1 && EVP_PKEY_eq(ka, kb) != 1,
        "each P-256 key is its own point");
  EVP_PKEY_free(ka);
  EVP_PKEY_free(kb);
  EVP_PKEY_free(p256b);
  k = NULL;
  /* Other curves, a P-256 point declared as P-384, coordinates too long,
   * the all-zero point, other key types. */
  bad = pe;
  bad.parameters.eccDetail.curveID = TPM2_ECC_BN_P256;
  CHECK(rt_tpm_pub_to_evp(&bad, &k, &e) == RT_E_INVALID, "BN P-256 accepted");
  CHECK_STR_CONTAINS(e.msg, "unsupported ECC curve 0x0010");
  bad.parameters.eccDetail.curveID = TPM2_ECC_SM2_P256;
  CHECK(rt_tpm_pub_to_evp(&bad, &k, &e) == RT_E_INVALID, "SM2 accepted");
  CHECK_STR_CONTAINS(e.msg, "unsupported ECC curve");
  bad.parameters.eccDetail.curveID = TPM2_ECC_NIST_P384;
  CHECK(rt_tpm_pub_to_evp(&bad, &k, &e) == RT_E_INVALID, "P-256 point as P-384 accepted");
  bad = pe;
  bad.unique.ecc.x.size = 33;
  CHECK(rt_tpm_pub_to_evp(&bad, &k, &e) == RT_E_INVALID, "33-byte x accepted");
  CHECK_STR_CONTAINS(e.msg, "do not fit");
  bad = pe;
  memset(bad.unique.ecc.x.buffer, 0, 32);
  memset(bad.unique.ecc.y.buffer, 0, 32);
  CHECK(rt_tpm_pub_to_evp(&bad, &k, &e) == RT_E_INVALID, "zero point accepted");
  /* x = p, the field's prime: a coordinate outside the field. */
  bad = pe;
  unhex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff", bad.unique.ecc.x.buffer,
        32);
  CHECK(rt_tpm_pub_to_evp(&bad, &k, &e) == RT_E_INVALID && k == NULL, "x = p accepted");
  CHECK_STR_CONTAINS(e.msg, "not a valid point");
  bad = pe;
  bad.type = TPM2_ALG_KEYEDHASH;
  CHECK(rt_tpm_pub_to_evp(&bad, &k, &e) == RT_E_INVALID, "keyedhash accepted");
  CHECK_STR_CONTAINS(e.msg, "unsupported TPM key type 0x0008");
  bad.type = TPM2_ALG_SYMCIPHER;
  CHECK(rt_tpm_pub_to_evp(&bad, &k, &e) == RT_E_INVALID, "symcipher accepted");
  CHECK(k == NULL, "key set on failure");
}

/* Names computed by swtpm (tpm2_readpublic) for EKs made from the TCG
 * templates: the standard ECC P-256 EK (tpm2_createek -G ecc256) and the
 * high-range ECC P-384 EK swtpm_setup creates. */
static void test_name(void) {
  rt_err e = {0};
  TPMT_PUBLIC p = {0};
  p.type = TPM2_ALG_ECC;
  p.nameAlg = TPM2_ALG_SHA256;
  p.objectAttributes = 0x300b2;
  p.authPolicy.size =
      (UINT16)unhex("837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa",
                    p.authPolicy.buffer, sizeof p.authPolicy.buffer);
  p.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
  p.parameters.eccDetail.symmetric.keyBits.aes = 128;
  p.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
  p.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
  p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  p.unique.ecc.x.size =
      (UINT16)unhex("a38ba857b5060dfa78a154c7e89b680cd017f25c3070c619cdea4a0992ccce20",
                    p.unique.ecc.x.buffer, sizeof p.unique.ecc.x.buffer);
  p.unique.ecc.y.size =
      (UINT16)unhex("fb61bb2a9aec29e840cf47b5f2b9bc1e9bec9b5145133c0f87cffa5410aa18cc",
                    p.unique.ecc.y.buffer, sizeof p.unique.ecc.y.buffer);
  TPM2B_NAME name = {0};
  CHECK(rt_tpm_pub_name(&p, &name, &e) == RT_OK, "%s", e.msg);
  CHECK(eq_hex(name.name, name.size,
               "000bd53b4968e8a361f525af1e565eb37f9c82335675bd898a295d65f793bd26bc61"),
        "P-256 EK name differs from the TPM's");
  EVP_PKEY *k = NULL;
  CHECK(rt_tpm_pub_to_evp(&p, &k, &e) == RT_OK, "TPM-made P-256 EK: %s", e.msg);
  EVP_PKEY_free(k);

  p.nameAlg = TPM2_ALG_SHA384;
  p.objectAttributes = 0x300f2;
  p.authPolicy.size = (UINT16)unhex("b26e7d28d11a50bc53d882bcf5fd3a1a074148bb35d3b4e4cb1c0ad9bde419"
                                    "cacb47ba09699646150f9fc000f3f80e12",
                                    p.authPolicy.buffer, sizeof p.authPolicy.buffer);
  p.parameters.eccDetail.symmetric.keyBits.aes = 256;
  p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P384;
  p.unique.ecc.x.size =
      (UINT16)unhex("2dabb5a2865d97fb30e51d87b12c17fe5e9ea763b5200bfe70170ca01cde37"
                    "c3c6859abee9fccc961fd9bf796981c671",
                    p.unique.ecc.x.buffer, sizeof p.unique.ecc.x.buffer);
  p.unique.ecc.y.size =
      (UINT16)unhex("1903220849470a1b25b7d5774fe13947411ee130fbb170a8c6a4ab9e82d084"
                    "291f30ef0c97716e4884abbd6396787139",
                    p.unique.ecc.y.buffer, sizeof p.unique.ecc.y.buffer);
  CHECK(rt_tpm_pub_name(&p, &name, &e) == RT_OK, "%s", e.msg);
  CHECK(eq_hex(name.name, name.size,
               "000c17c444740ed67a12d067ac7b9f1c6f4b28e21804d257c9ae3bbac8d72270f6811dbee858e6097"
               "00e4fc740330240157d"),
        "P-384 EK name differs from the TPM's");

  p.nameAlg = TPM2_ALG_NULL;
  CHECK(rt_tpm_pub_name(&p, &name, &e) == RT_E_INVALID, "NULL nameAlg accepted");
  CHECK_STR_CONTAINS(e.msg, "nameAlg");
  p.nameAlg = TPM2_ALG_SHA256;
  p.type = 0x7777;
  CHECK(rt_tpm_pub_name(&p, &name, &e) == RT_E_INVALID, "unknown type marshalled");
}

/* rt_spki's SubjectPublicKeyInfo is i2d_PUBKEY's to the byte (EK identities
 * and SKIs are hashes of it), through its own path for RSA and named-curve
 * EC keys (want_fast) and through OpenSSL's for others. */
static void check_spki(const char *what, EVP_PKEY *k, int want_fast) {
  unsigned char *mine = NULL, *theirs = NULL;
  int n = rt_spki_der(k, &mine), m = i2d_PUBKEY(k, &theirs);
  CHECK(n > 0 && n == m && memcmp(mine, theirs, (size_t)n) == 0, "%s: SPKI differs", what);
  X509_PUBKEY *pk = X509_PUBKEY_new();
  CHECK(rt_spki_fill(pk, k) == want_fast, "%s: fast path %d", what, want_fast);
  X509_PUBKEY_free(pk);
  X509 *x = X509_new();
  unsigned char *cert_spki = NULL;
  int c =
      rt_spki_set_cert_key(x, k) == 1 ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &cert_spki) : -1;
  CHECK(c == m && memcmp(cert_spki, theirs, (size_t)c) == 0, "%s: certificate key", what);
  OPENSSL_free(cert_spki);
  X509_free(x);
  OPENSSL_free(mine);
  OPENSSL_free(theirs);
}

static void test_spki(EVP_PKEY *rsa, EVP_PKEY *p256, EVP_PKEY *p384, EVP_PKEY *p521) {
  rt_err e;
  EVP_PKEY *keys[] = {rsa, p256, p384, p521};
  const char *names[] = {"RSA 2048", "P-256", "P-384", "P-521"};
  TPM2_ECC_CURVE curves[] = {0, TPM2_ECC_NIST_P256, TPM2_ECC_NIST_P384, TPM2_ECC_NIST_P521};
  for (size_t i = 0; i < 4; i++) {
    check_spki(names[i], keys[i], 1);
    /* And as the verifier builds them, from TPM public areas. */
    TPMT_PUBLIC pub = i == 0 ? rsa_public(rsa) : ecc_public(keys[i], curves[i]);
    EVP_PKEY *k = NULL;
    CHECK(rt_tpm_pub_to_evp(&pub, &k, &e) == RT_OK, "%s: %s", names[i], e.msg);
    if (k != NULL)
      check_spki(names[i], k, 1);
    EVP_PKEY_free(k);
  }
  /* An exponent other than 65537. */
  TPMT_PUBLIC pub = rsa_public(rsa);
  pub.parameters.rsaDetail.exponent = 3;
  EVP_PKEY *k = NULL;
  CHECK(rt_tpm_pub_to_evp(&pub, &k, &e) == RT_OK, "e=3: %s", e.msg);
  if (k != NULL)
    check_spki("RSA e=3", k, 1);
  EVP_PKEY_free(k);
  /* A point kept compressed; explicit curve parameters (OpenSSL's path). */
  k = EVP_PKEY_dup(p256);
  CHECK(k != NULL && EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                                    "compressed") == 1,
        "compressed P-256");
  check_spki("compressed P-256", k, 1);
  CHECK(EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_ENCODING, "explicit") == 1,
        "explicit P-256");
  check_spki("explicit P-256", k, 0);
  EVP_PKEY_free(k);
  k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  if (k != NULL)
    check_spki("Ed25519", k, 0);
  EVP_PKEY_free(k);
}

/* rt_tpm_pub_to_evp_ex builds in the library context and with the property
 * query it is given (what the provider's software copies rely on). */
static void test_to_evp_ex(EVP_PKEY *rsa, EVP_PKEY *p256) {
  rt_err e = {0};
  TPMT_PUBLIC pr = rsa_public(rsa), pe = ecc_public(p256, TPM2_ECC_NIST_P256);
  OSSL_LIB_CTX *with_default = OSSL_LIB_CTX_new(), *base_only = OSSL_LIB_CTX_new();
  OSSL_PROVIDER *dflt = OSSL_PROVIDER_load(with_default, "default");
  OSSL_PROVIDER *base = OSSL_PROVIDER_load(base_only, "base");
  CHECK(dflt != NULL && base != NULL, "fixture: providers");
  const TPMT_PUBLIC *pubs[] = {&pr, &pe};
  EVP_PKEY *keys[] = {rsa, p256};
  for (size_t i = 0; i < 2; i++) {
    EVP_PKEY *k = NULL;
    CHECK(rt_tpm_pub_to_evp_ex(pubs[i], with_default, "provider=default", &k, &e) == RT_OK,
          "key %zu in a library context: %s", i, e.msg);
    CHECK(k != NULL && EVP_PKEY_eq(k, keys[i]) == 1, "key %zu differs", i);
    CHECK(k != NULL && strcmp(OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(k)), "default") == 0,
          "key %zu not in the default provider", i);
    EVP_PKEY_free(k);
    k = NULL;
    CHECK(rt_tpm_pub_to_evp_ex(pubs[i], with_default, "provider=nosuch", &k, &e) != RT_OK &&
              k == NULL,
          "key %zu built against its property query", i);
    CHECK(rt_tpm_pub_to_evp_ex(pubs[i], base_only, NULL, &k, &e) != RT_OK && k == NULL,
          "key %zu built outside its library context", i);
  }
  OSSL_PROVIDER_unload(dflt);
  OSSL_PROVIDER_unload(base);
  OSSL_LIB_CTX_free(with_default);
  OSSL_LIB_CTX_free(base_only);
}

/* Signs msg with OpenSSL and wraps the result as the TPM would. */
static TPMT_SIGNATURE sign(EVP_PKEY *k, TPMI_ALG_SIG_SCHEME scheme, TPMI_ALG_HASH hash,
                           int pss_salt, const uint8_t *msg, size_t len) {
  TPMT_SIGNATURE s = {0};
  uint8_t der[1024];
  size_t der_len = sizeof der;
  EVP_MD_CTX *m = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pc = NULL;
  EVP_DigestSignInit_ex(m, &pc, rt_tpm_hash_name(hash), NULL, NULL, k, NULL);
  if (scheme == TPM2_ALG_RSAPSS) {
    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, pss_salt);
  }
  if (EVP_DigestSign(m, der, &der_len, msg, len) != 1)
    abort();
  EVP_MD_CTX_free(m);
  s.sigAlg = scheme;
  if (scheme == TPM2_ALG_ECDSA) {
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    int field = (EVP_PKEY_get_bits(k) + 7) / 8;
    s.signature.ecdsa.hash = hash;
    s.signature.ecdsa.signatureR.size = s.signature.ecdsa.signatureS.size = (UINT16)field;
    BN_bn2binpad(ECDSA_SIG_get0_r(es), s.signature.ecdsa.signatureR.buffer, field);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), s.signature.ecdsa.signatureS.buffer, field);
    ECDSA_SIG_free(es);
  } else {
    s.signature.rsassa.hash = hash;
    s.signature.rsassa.sig.size = (UINT16)der_len;
    memcpy(s.signature.rsassa.sig.buffer, der, der_len);
  }
  return s;
}

/* A TPM ECDSA signature as DER verifies as OpenSSL's own signature does,
 * also with r and s shorter than the field (leading zeros dropped). */
static void test_ecdsa_der(EVP_PKEY *p256) {
  rt_err e = {0};
  uint8_t msg[32] = {1, 2, 3};
  TPMT_SIGNATURE s = sign(p256, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, 0, msg, sizeof msg);
  uint8_t *der = NULL;
  size_t der_len = 0;
  CHECK(rt_tpm_sig_ecdsa_der(&s.signature.ecdsa, &der, &der_len, &e) == RT_OK, "%s", e.msg);
  EVP_MD_CTX *m = EVP_MD_CTX_new();
  CHECK(der != NULL && m != NULL && EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, p256) == 1 &&
            EVP_DigestVerify(m, der, der_len, msg, sizeof msg) == 1,
        "DER signature does not verify");
  EVP_MD_CTX_free(m);
  OPENSSL_free(der);
  TPMS_SIGNATURE_ECC small = {.hash = TPM2_ALG_SHA256};
  small.signatureR.size = small.signatureS.size = 1;
  small.signatureR.buffer[0] = 0x05;
  small.signatureS.buffer[0] = 0x80; /* an INTEGER with its sign byte */
  static const uint8_t want[] = {0x30, 0x07, 0x02, 0x01, 0x05, 0x02, 0x02, 0x00, 0x80};
  der = NULL;
  CHECK(rt_tpm_sig_ecdsa_der(&small, &der, &der_len, &e) == RT_OK, "%s", e.msg);
  CHECK(der != NULL && der_len == sizeof want && memcmp(der, want, sizeof want) == 0,
        "short r and s encoded wrongly");
  OPENSSL_free(der);
}

static void test_sig(EVP_PKEY *rsa, EVP_PKEY *rsa2, EVP_PKEY *p256, EVP_PKEY *p384) {
  rt_err e = {0};
  uint8_t msg[100];
  fill(msg, sizeof msg, 7);
  const TPMI_ALG_HASH hashes[] = {TPM2_ALG_SHA1, TPM2_ALG_SHA256, TPM2_ALG_SHA384, TPM2_ALG_SHA512};
  for (size_t i = 0; i < 4; i++) {
    TPMT_SIGNATURE s = sign(rsa, TPM2_ALG_RSASSA, hashes[i], 0, msg, sizeof msg);
    CHECK(rt_tpm_sig_verify(rsa, &s, msg, sizeof msg, &e) == RT_OK, "RSASSA 0x%x: %s", hashes[i],
          e.msg);
    CHECK(rt_tpm_sig_hash(&s) == hashes[i], "RSASSA hash reported");
    s = sign(p384, TPM2_ALG_ECDSA, hashes[i], 0, msg, sizeof msg);
    CHECK(rt_tpm_sig_verify(p384, &s, msg, sizeof msg, &e) == RT_OK, "ECDSA 0x%x: %s", hashes[i],
          e.msg);
    CHECK(rt_tpm_sig_hash(&s) == hashes[i], "ECDSA hash reported");
  }
  /* PSS: the TPM's salt length (digest size) and the maximum both verify. */
  TPMT_SIGNATURE pss =
      sign(rsa, TPM2_ALG_RSAPSS, TPM2_ALG_SHA256, RSA_PSS_SALTLEN_DIGEST, msg, sizeof msg);
  CHECK(rt_tpm_sig_verify(rsa, &pss, msg, sizeof msg, &e) == RT_OK, "PSS digest salt: %s", e.msg);
  CHECK(rt_tpm_sig_hash(&pss) == TPM2_ALG_SHA256, "PSS hash reported");
  TPMT_SIGNATURE pss_max =
      sign(rsa, TPM2_ALG_RSAPSS, TPM2_ALG_SHA384, RSA_PSS_SALTLEN_MAX, msg, sizeof msg);
  CHECK(rt_tpm_sig_verify(rsa, &pss_max, msg, sizeof msg, &e) == RT_OK, "PSS max salt: %s", e.msg);
  TPMT_SIGNATURE pss_as_pkcs1 = pss;
  pss_as_pkcs1.sigAlg = TPM2_ALG_RSASSA;
  CHECK(rt_tpm_sig_verify(rsa, &pss_as_pkcs1, msg, sizeof msg, &e) == RT_E_CRYPTO,
        "PSS signature accepted as RSASSA");

  TPMT_SIGNATURE rs = sign(rsa, TPM2_ALG_RSASSA, TPM2_ALG_SHA256, 0, msg, sizeof msg);
  TPMT_SIGNATURE es = sign(p256, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, 0, msg, sizeof msg);
  CHECK(rt_tpm_sig_verify(p256, &es, msg, sizeof msg, &e) == RT_OK, "ECDSA P-256: %s", e.msg);

  /* One flipped byte of the message, of the RSA signature, of r, of s. */
  uint8_t bad_msg[sizeof msg];
  memcpy(bad_msg, msg, sizeof msg);
  bad_msg[50] ^= 0x01;
  CHECK(rt_tpm_sig_verify(rsa, &rs, bad_msg, sizeof msg, &e) == RT_E_CRYPTO,
        "RSA: changed message verifies");
  CHECK_STR_CONTAINS(e.msg, "signature does not verify");
  CHECK(rt_tpm_sig_verify(p256, &es, bad_msg, sizeof msg, &e) == RT_E_CRYPTO,
        "ECDSA: changed message verifies");
  CHECK_STR_CONTAINS(e.msg, "signature does not verify");
  CHECK(rt_tpm_sig_verify(rsa, &pss, bad_msg, sizeof msg, &e) == RT_E_CRYPTO,
        "PSS: changed message verifies");
  CHECK(rt_tpm_sig_verify(rsa, &rs, msg, sizeof msg - 1, &e) == RT_E_CRYPTO,
        "RSA: truncated message verifies");
  TPMT_SIGNATURE bad = rs;
  bad.signature.rsassa.sig.buffer[10] ^= 0x80;
  CHECK(rt_tpm_sig_verify(rsa, &bad, msg, sizeof msg, &e) == RT_E_CRYPTO,
        "RSA: changed signature verifies");
  CHECK_STR_CONTAINS(e.msg, "signature does not verify");
  bad = rs;
  bad.signature.rsassa.sig.size--;
  CHECK(rt_tpm_sig_verify(rsa, &bad, msg, sizeof msg, &e) == RT_E_CRYPTO,
        "RSA: short signature verifies");
  bad = es;
  bad.signature.ecdsa.signatureR.buffer[5] ^= 0x01;
  CHECK(rt_tpm_sig_verify(p256, &bad, msg, sizeof msg, &e) == RT_E_CRYPTO,
        "ECDSA: changed r verifies");
  CHECK_STR_CONTAINS(e.msg, "signature does not verify");
  bad = es;
  bad.signature.ecdsa.signatureS.buffer[31] ^= 0x01;
  CHECK(rt_tpm_sig_verify(p256, &bad, msg, sizeof msg, &e) == RT_E_CRYPTO,
        "ECDSA: changed s verifies");
  bad = es;
  bad.signature.ecdsa.signatureR.size = 0;
  CHECK(rt_tpm_sig_verify(p256, &bad, msg, sizeof msg, &e) == RT_E_CRYPTO, "ECDSA: r = 0");
  /* The hash field is part of what is checked. */
  bad = rs;
  bad.signature.rsassa.hash = TPM2_ALG_SHA384;
  CHECK(rt_tpm_sig_verify(rsa, &bad, msg, sizeof msg, &e) == RT_E_CRYPTO,
        "RSA: wrong hash verifies");
  bad = es;
  bad.signature.ecdsa.hash = TPM2_ALG_SHA1;
  CHECK(rt_tpm_sig_verify(p256, &bad, msg, sizeof msg, &e) == RT_E_CRYPTO,
        "ECDSA: wrong hash verifies");

  /* Wrong key of the right type. */
  CHECK(rt_tpm_sig_verify(rsa2, &rs, msg, sizeof msg, &e) == RT_E_CRYPTO, "RSA: wrong key");
  CHECK_STR_CONTAINS(e.msg, "signature does not verify");
  CHECK(rt_tpm_sig_verify(p384, &es, msg, sizeof msg, &e) == RT_E_CRYPTO, "ECDSA: wrong key");

  /* Scheme and key do not fit. */
  CHECK(rt_tpm_sig_verify(p256, &rs, msg, sizeof msg, &e) == RT_E_INVALID, "RSASSA with EC key");
  CHECK_STR_CONTAINS(e.msg, "non-RSA key");
  CHECK(rt_tpm_sig_verify(p256, &pss, msg, sizeof msg, &e) == RT_E_INVALID, "RSAPSS with EC key");
  CHECK(rt_tpm_sig_verify(rsa, &es, msg, sizeof msg, &e) == RT_E_INVALID, "ECDSA with RSA key");
  CHECK_STR_CONTAINS(e.msg, "non-EC key");

  /* Unsupported schemes and hashes. */
  bad = es;
  bad.sigAlg = TPM2_ALG_ECSCHNORR;
  CHECK(rt_tpm_sig_verify(p256, &bad, msg, sizeof msg, &e) == RT_E_INVALID, "Schnorr accepted");
  CHECK_STR_CONTAINS(e.msg, "unsupported scheme 0x001c");
  CHECK(rt_tpm_sig_hash(&bad) == TPM2_ALG_NULL, "Schnorr hash");
  bad.sigAlg = TPM2_ALG_HMAC;
  CHECK(rt_tpm_sig_verify(p256, &bad, msg, sizeof msg, &e) == RT_E_INVALID, "HMAC accepted");
  bad = rs;
  bad.signature.rsassa.hash = TPM2_ALG_SM3_256;
  CHECK(rt_tpm_sig_verify(rsa, &bad, msg, sizeof msg, &e) == RT_E_INVALID, "SM3 accepted");
  CHECK_STR_CONTAINS(e.msg, "unsupported hash");
  bad.signature.rsassa.hash = TPM2_ALG_NULL;
  CHECK(rt_tpm_sig_verify(rsa, &bad, msg, sizeof msg, &e) == RT_E_INVALID, "NULL hash accepted");
  CHECK(rt_tpm_sig_verify(NULL, &rs, msg, sizeof msg, &e) == RT_E_INVALID, "NULL key");

  /* TPMT_SIGNATURE parsing is strict. */
  uint8_t buf[sizeof(TPMT_SIGNATURE) + 4];
  size_t len = 0;
  TPMT_SIGNATURE back;
  CHECK(Tss2_MU_TPMT_SIGNATURE_Marshal(&es, buf, sizeof buf, &len) == TSS2_RC_SUCCESS, "marshal");
  CHECK(rt_tpm_sig_unmarshal(buf, len, &back, &e) == RT_OK, "%s", e.msg);
  CHECK(rt_tpm_sig_verify(p256, &back, msg, sizeof msg, &e) == RT_OK, "parsed: %s", e.msg);
  CHECK(rt_tpm_sig_unmarshal(buf, len - 1, &back, &e) == RT_E_INVALID, "short signature");
  CHECK_STR_CONTAINS(e.msg, "TPMT_SIGNATURE");
  buf[len] = 0;
  CHECK(rt_tpm_sig_unmarshal(buf, len + 1, &back, &e) == RT_E_INVALID, "trailing byte");
  CHECK_STR_CONTAINS(e.msg, "trailing");
  buf[0] = 0x77; /* unknown sigAlg */
  CHECK(rt_tpm_sig_unmarshal(buf, len, &back, &e) == RT_E_INVALID, "unknown scheme parsed");
  CHECK(rt_tpm_sig_unmarshal(buf, 0, &back, &e) == RT_E_INVALID, "empty signature");
}

static void test_attest(EVP_PKEY *p256) {
  rt_err e = {0};
  TPMS_ATTEST a = {0};
  a.magic = TPM2_GENERATED_VALUE;
  a.type = TPM2_ST_ATTEST_QUOTE;
  a.qualifiedSigner.size = 34;
  a.extraData.size = 16;
  fill(a.extraData.buffer, 16, 0x30);
  a.clockInfo.clock = 12345;
  a.attested.quote.pcrSelect.count = 1;
  a.attested.quote.pcrSelect.pcrSelections[0].hash = TPM2_ALG_SHA256;
  a.attested.quote.pcrSelect.pcrSelections[0].sizeofSelect = 3;
  a.attested.quote.pcrSelect.pcrSelections[0].pcrSelect[0] = 0xff;
  a.attested.quote.pcrDigest.size = 32;

  TPM2B_ATTEST outer = {0};
  size_t inner_len = 0, len = 0;
  CHECK(Tss2_MU_TPMS_ATTEST_Marshal(&a, outer.attestationData, sizeof outer.attestationData,
                                    &inner_len) == TSS2_RC_SUCCESS,
        "marshal TPMS_ATTEST");
  outer.size = (UINT16)inner_len;
  uint8_t buf[sizeof(TPM2B_ATTEST) + 4];
  CHECK(Tss2_MU_TPM2B_ATTEST_Marshal(&outer, buf, sizeof buf, &len) == TSS2_RC_SUCCESS,
        "marshal TPM2B_ATTEST");

  TPMS_ATTEST got;
  const uint8_t *data = NULL;
  size_t data_len = 0;
  CHECK(rt_tpm_attest_unmarshal(buf, len, &got, &data, &data_len, &e) == RT_OK, "%s", e.msg);
  CHECK(data == buf + 2 && data_len == inner_len, "attestationData pointer/length");
  CHECK(got.type == TPM2_ST_ATTEST_QUOTE && got.clockInfo.clock == 12345 &&
            got.extraData.size == 16 && memcmp(got.extraData.buffer, a.extraData.buffer, 16) == 0,
        "fields");
  /* The signature covers attestationData: sign it, verify through the
   * pointer the parser returned. */
  TPMT_SIGNATURE s = sign(p256, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, 0, buf + 2, inner_len);
  CHECK(rt_tpm_sig_verify(p256, &s, data, data_len, &e) == RT_OK, "quote signature: %s", e.msg);

  CHECK(rt_tpm_attest_unmarshal(buf, len - 1, &got, &data, &data_len, &e) == RT_E_INVALID,
        "short TPM2B_ATTEST");
  CHECK_STR_CONTAINS(e.msg, "TPM2B_ATTEST");
  buf[len] = 0;
  CHECK(rt_tpm_attest_unmarshal(buf, len + 1, &got, &data, &data_len, &e) == RT_E_INVALID,
        "trailing byte after TPM2B_ATTEST");
  CHECK_STR_CONTAINS(e.msg, "trailing");
  /* A byte inside attestationData that TPMS_ATTEST does not use. */
  buf[1]++;
  CHECK(rt_tpm_attest_unmarshal(buf, len + 1, &got, &data, &data_len, &e) == RT_E_INVALID,
        "unused byte in attestationData");
  CHECK_STR_CONTAINS(e.msg, "TPMS_ATTEST");
  buf[1]--;
  /* attestationData one byte short of its TPMS_ATTEST. */
  buf[1]--;
  CHECK(rt_tpm_attest_unmarshal(buf, len - 1, &got, &data, &data_len, &e) == RT_E_INVALID,
        "truncated TPMS_ATTEST");
  buf[1]++;
  /* Not TPM_GENERATED_VALUE: not made by a TPM. */
  buf[2] ^= 0x01;
  CHECK(rt_tpm_attest_unmarshal(buf, len, &got, &data, &data_len, &e) == RT_E_INVALID,
        "bad magic accepted");
  CHECK_STR_CONTAINS(e.msg, "TPM_GENERATED");
  buf[2] ^= 0x01;
  /* A field longer than its structure allows: extraData (at 2 + magic 4 +
   * type 2 + qualifiedSigner 2+34) claims 200 of at most 64 bytes. */
  uint8_t big[sizeof buf + 256] = {0};
  memcpy(big, buf, len);
  size_t at = 2 + 4 + 2 + 2 + 34, big_len = len + 200 - 16;
  big[at] = 0, big[at + 1] = 200;
  big[0] = (uint8_t)((big_len - 2) >> 8), big[1] = (uint8_t)(big_len - 2);
  CHECK(rt_tpm_attest_unmarshal(big, big_len, &got, &data, &data_len, &e) == RT_E_INVALID,
        "200-byte extraData accepted");
  CHECK_STR_CONTAINS(e.msg, "malformed");
  /* Unknown attestation type. */
  buf[7] = 0x55;
  CHECK(rt_tpm_attest_unmarshal(buf, len, &got, &data, &data_len, &e) == RT_E_INVALID,
        "unknown type accepted");
}

static void test_makecred(EVP_PKEY *rsa, EVP_PKEY *p256, EVP_PKEY *p384) {
  rt_err e = {0};
  TPMT_PUBLIC ek = rsa_public(rsa), eke = ecc_public(p256, TPM2_ECC_NIST_P256);
  TPM2B_NAME name = {.size = 34};
  name.name[1] = 0x0b;
  fill(name.name + 2, 32, 0x10);
  uint8_t secret[65];
  fill(secret, sizeof secret, 0x61);
  TPM2B_ID_OBJECT blob;
  TPM2B_ENCRYPTED_SECRET enc;

  /* Shapes: TPM2B_DIGEST(HMAC) || encIdentity(2 + secret), and the OAEP
   * ciphertext or the ephemeral point. Two runs differ (fresh seed). */
  CHECK(rt_make_credential(&ek, &name, secret, 32, &blob, &enc, &e) == RT_OK, "RSA: %s", e.msg);
  CHECK(blob.size == 2 + 32 + 2 + 32 && blob.credential[0] == 0 && blob.credential[1] == 32,
        "RSA blob size %u", blob.size);
  CHECK(enc.size == 256, "RSA encrypted seed size %u", enc.size);
  TPM2B_ID_OBJECT blob2;
  TPM2B_ENCRYPTED_SECRET enc2;
  CHECK(rt_make_credential(&ek, &name, secret, 32, &blob2, &enc2, &e) == RT_OK, "RSA again");
  CHECK(memcmp(blob.credential, blob2.credential, blob.size) != 0 &&
            memcmp(enc.secret, enc2.secret, enc.size) != 0,
        "two credentials are equal: seed not random");
  CHECK(rt_make_credential(&eke, &name, secret, 1, &blob, &enc, &e) == RT_OK, "P-256: %s", e.msg);
  CHECK(blob.size == 2 + 32 + 2 + 1, "P-256 blob size %u", blob.size);
  CHECK(enc.size == 2 + 32 + 2 + 32 && enc.secret[1] == 32, "P-256 point size %u", enc.size);
  TPMT_PUBLIC ek384 = ecc_public(p384, TPM2_ECC_NIST_P384);
  ek384.nameAlg = TPM2_ALG_SHA384;
  ek384.parameters.eccDetail.symmetric.keyBits.aes = 256;
  CHECK(rt_make_credential(&ek384, &name, secret, 48, &blob, &enc, &e) == RT_OK, "P-384: %s",
        e.msg);
  CHECK(blob.size == 2 + 48 + 2 + 48 && enc.size == 2 + 48 + 2 + 48, "P-384 sizes %u %u", blob.size,
        enc.size);

  /* The secret: 1 to digest size of nameAlg bytes. */
  CHECK(rt_make_credential(&ek, &name, secret, 33, &blob, &enc, &e) == RT_E_INVALID,
        "33-byte secret for a SHA-256 EK");
  CHECK_STR_CONTAINS(e.msg, "secret of 33 bytes");
  CHECK(blob.size == 0 && enc.size == 0, "outputs not cleared on failure");
  CHECK(rt_make_credential(&ek384, &name, secret, 49, &blob, &enc, &e) == RT_E_INVALID,
        "49-byte secret for a SHA-384 EK");
  CHECK(rt_make_credential(&ek, &name, secret, 0, &blob, &enc, &e) == RT_E_INVALID, "empty secret");
  CHECK(rt_make_credential(&ek, &name, NULL, 4, &blob, &enc, &e) == RT_E_INVALID, "NULL secret");

  /* The EK must be a restricted decryption key. */
  TPMT_PUBLIC bad = ek;
  bad.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
  CHECK(rt_make_credential(&bad, &name, secret, 16, &blob, &enc, &e) == RT_E_INVALID,
        "unrestricted EK accepted");
  CHECK_STR_CONTAINS(e.msg, "not a restricted decryption key");
  bad = ek;
  bad.objectAttributes &= ~TPMA_OBJECT_DECRYPT;
  bad.objectAttributes |= TPMA_OBJECT_SIGN_ENCRYPT;
  CHECK(rt_make_credential(&bad, &name, secret, 16, &blob, &enc, &e) == RT_E_INVALID,
        "restricted signing key accepted as EK");
  CHECK_STR_CONTAINS(e.msg, "not a restricted decryption key");
  bad = eke;
  bad.objectAttributes |= TPMA_OBJECT_SIGN_ENCRYPT;
  CHECK(rt_make_credential(&bad, &name, secret, 16, &blob, &enc, &e) == RT_E_INVALID,
        "decrypt+sign key accepted as EK");
  /* Unsupported types, symmetric definitions, nameAlgs, keys. */
  bad = ek;
  bad.type = TPM2_ALG_KEYEDHASH;
  CHECK(rt_make_credential(&bad, &name, secret, 16, &blob, &enc, &e) == RT_E_INVALID,
        "keyedhash EK accepted");
  CHECK_STR_CONTAINS(e.msg, "unsupported key type 0x0008");
  bad = ek;
  bad.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
  CHECK(rt_make_credential(&bad, &name, secret, 16, &blob, &enc, &e) == RT_E_INVALID,
        "EK without symmetric accepted");
  CHECK_STR_CONTAINS(e.msg, "symmetric");
  bad = eke;
  bad.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CBC;
  CHECK(rt_make_credential(&bad, &name, secret, 16, &blob, &enc, &e) == RT_E_INVALID,
        "AES-CBC EK accepted");
  bad = ek;
  bad.nameAlg = TPM2_ALG_SM3_256;
  CHECK(rt_make_credential(&bad, &name, secret, 16, &blob, &enc, &e) == RT_E_INVALID,
        "SM3 nameAlg accepted");
  CHECK_STR_CONTAINS(e.msg, "nameAlg");
  bad = eke;
  bad.parameters.eccDetail.curveID = TPM2_ECC_BN_P256;
  CHECK(rt_make_credential(&bad, &name, secret, 16, &blob, &enc, &e) == RT_E_INVALID,
        "BN curve EK accepted");
  CHECK_STR_CONTAINS(e.msg, "unsupported ECC curve");
  bad = eke;
  bad.unique.ecc.x.buffer[0] ^= 0x40;
  CHECK(rt_make_credential(&bad, &name, secret, 16, &blob, &enc, &e) == RT_E_INVALID,
        "off-curve EK accepted");
  CHECK_STR_CONTAINS(e.msg, "not a valid point");
  TPM2B_NAME empty = {0};
  CHECK(rt_make_credential(&ek, &empty, secret, 16, &blob, &enc, &e) == RT_E_INVALID,
        "empty object name accepted");
  CHECK(rt_make_credential(&ek, &name, secret, 16, NULL, &enc, &e) == RT_E_INVALID, "NULL blob");
}

/* Known answers computed independently with Python's hashlib over the
 * layout H(zero digest || TPM_CC_PolicyPCR (0000017f) || TPML_PCR_SELECTION
 * || H(values)). */
static void test_policy_pcr(void) {
  rt_err e = {0};
  TPM2B_DIGEST d;
  uint8_t values[64 + 52];
  /* sha256:0,7, values 00..1f and 80..9f. */
  TPML_PCR_SELECTION sel = {.count = 1};
  sel.pcrSelections[0] =
      (TPMS_PCR_SELECTION){.hash = TPM2_ALG_SHA256, .sizeofSelect = 3, .pcrSelect = {0x81, 0, 0}};
  fill(values, 32, 0), fill(values + 32, 32, 0x80);
  CHECK(rt_policy_pcr_digest(TPM2_ALG_SHA256, &sel, values, 64, &d, &e) == RT_OK, "%s", e.msg);
  CHECK(
      eq_hex(d.buffer, d.size, "99a8b2604650943bd3b095b400dd34bae61fc56add677fbae2d0fe437c21fd6d"),
      "PolicyPCR KAT 1");
  /* Two banks in their listed order, a SHA-384 policy: sha1:1+sha256:23. */
  TPML_PCR_SELECTION two = {.count = 2};
  two.pcrSelections[0] =
      (TPMS_PCR_SELECTION){.hash = TPM2_ALG_SHA1, .sizeofSelect = 3, .pcrSelect = {0x02, 0, 0}};
  two.pcrSelections[1] =
      (TPMS_PCR_SELECTION){.hash = TPM2_ALG_SHA256, .sizeofSelect = 3, .pcrSelect = {0, 0, 0x80}};
  fill(values, 20, 0x10), fill(values + 20, 32, 0x20);
  CHECK(rt_policy_pcr_digest(TPM2_ALG_SHA384, &two, values, 52, &d, &e) == RT_OK, "%s", e.msg);
  CHECK(eq_hex(d.buffer, d.size,
               "99c49b10275411c86bf247398dc9258dd9786f26f48c0854bb48a4f3eca6def480f3d652834eb9a5"
               "390c1c9b2b296626"),
        "PolicyPCR KAT 2 (two banks, SHA-384)");

  /* Refusals: values not matching the selection, bad selections, hashes. */
  CHECK(rt_policy_pcr_digest(TPM2_ALG_SHA256, &sel, values, 63, &d, &e) == RT_E_INVALID,
        "63 bytes of values for two SHA-256 PCRs");
  CHECK_STR_CONTAINS(e.msg, "63 bytes of PCR values, the selection needs 64");
  CHECK(d.size == 0, "output not cleared on failure");
  CHECK(rt_policy_pcr_digest(TPM2_ALG_SHA256, &sel, NULL, 64, &d, &e) == RT_E_INVALID,
        "NULL values");
  CHECK(rt_policy_pcr_digest(TPM2_ALG_SM3_256, &sel, values, 64, &d, &e) == RT_E_INVALID,
        "SM3 policy hash");
  CHECK_STR_CONTAINS(e.msg, "unsupported policy hash");
  TPML_PCR_SELECTION bad = sel;
  bad.count = 0;
  CHECK(rt_policy_pcr_digest(TPM2_ALG_SHA256, &bad, values, 0, &d, &e) == RT_E_INVALID,
        "empty selection");
  bad = sel;
  bad.pcrSelections[0].pcrSelect[0] = 0;
  CHECK(rt_policy_pcr_digest(TPM2_ALG_SHA256, &bad, values, 0, &d, &e) == RT_E_INVALID,
        "selection of no PCR");
  CHECK_STR_CONTAINS(e.msg, "no PCR selected");
  bad = sel;
  bad.pcrSelections[0].hash = TPM2_ALG_SM3_256;
  CHECK(rt_policy_pcr_digest(TPM2_ALG_SHA256, &bad, values, 64, &d, &e) == RT_E_INVALID,
        "SM3 bank");
  CHECK_STR_CONTAINS(e.msg, "unsupported PCR bank");
  bad = sel;
  bad.pcrSelections[0].sizeofSelect = 5;
  CHECK(rt_policy_pcr_digest(TPM2_ALG_SHA256, &bad, values, 64, &d, &e) == RT_E_INVALID,
        "5-byte select");
  CHECK(rt_policy_pcr_digest(TPM2_ALG_SHA256, NULL, values, 64, &d, &e) == RT_E_INVALID,
        "NULL selection");
}

/* H(a || b) with SHA-256, for checking a sealed object's unique. */
static void sha256_2(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len, uint8_t *out) {
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  EVP_DigestInit_ex2(c, EVP_sha256(), NULL);
  EVP_DigestUpdate(c, a, a_len);
  EVP_DigestUpdate(c, b, b_len);
  EVP_DigestFinal_ex(c, out, NULL);
  EVP_MD_CTX_free(c);
}

static void test_import_objects(EVP_PKEY *rsa, EVP_PKEY *p256) {
  rt_err e = {0};
  rt_import_object o;
  uint8_t data[129], h[32];
  fill(data, sizeof data, 0x30);

  /* Sealed data: keyedhash, scheme NULL, unique = H(seedValue || data). */
  CHECK(rt_import_sealed(data, 128, NULL, &o, &e) == RT_OK, "%s", e.msg);
  const TPMT_PUBLIC *p = &o.pub.publicArea;
  CHECK(p->type == TPM2_ALG_KEYEDHASH && p->nameAlg == TPM2_ALG_SHA256 &&
            p->parameters.keyedHashDetail.scheme.scheme == TPM2_ALG_NULL,
        "sealed object type");
  CHECK(p->objectAttributes == (TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA),
        "sealed attributes 0x%08x", (unsigned)p->objectAttributes);
  CHECK(p->authPolicy.size == 0, "policy without one");
  CHECK(o.sensitive.sensitiveType == TPM2_ALG_KEYEDHASH && o.sensitive.authValue.size == 0 &&
            o.sensitive.seedValue.size == 32 && o.sensitive.sensitive.bits.size == 128 &&
            memcmp(o.sensitive.sensitive.bits.buffer, data, 128) == 0,
        "sealed sensitive area");
  sha256_2(o.sensitive.seedValue.buffer, 32, data, 128, h);
  CHECK(p->unique.keyedHash.size == 32 && memcmp(p->unique.keyedHash.buffer, h, 32) == 0,
        "unique is not H(seedValue || data)");
  rt_import_object o2;
  CHECK(rt_import_sealed(data, 128, NULL, &o2, &e) == RT_OK, "%s", e.msg);
  CHECK(memcmp(o.sensitive.seedValue.buffer, o2.sensitive.seedValue.buffer, 32) != 0,
        "seedValue not random");
  /* With a policy: no password for any role. */
  TPM2B_DIGEST pol = {.size = 32};
  fill(pol.buffer, 32, 0xa0);
  CHECK(rt_import_sealed(data, 1, &pol, &o, &e) == RT_OK, "%s", e.msg);
  CHECK(o.pub.publicArea.objectAttributes == (TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_NODA) &&
            o.pub.publicArea.authPolicy.size == 32 &&
            memcmp(o.pub.publicArea.authPolicy.buffer, pol.buffer, 32) == 0,
        "sealed with policy: attributes 0x%08x", (unsigned)o.pub.publicArea.objectAttributes);
  /* Refusals. */
  CHECK(rt_import_sealed(data, 0, NULL, &o, &e) == RT_E_INVALID, "empty data");
  CHECK_STR_CONTAINS(e.msg, "0 bytes of data (1 to 128)");
  CHECK(rt_import_sealed(data, 129, NULL, &o, &e) == RT_E_INVALID, "129 bytes");
  CHECK_STR_CONTAINS(e.msg, "129 bytes");
  CHECK(o.pub.publicArea.type == 0 && o.sensitive.sensitive.bits.size == 0,
        "output not cleared on failure");
  CHECK(rt_import_sealed(NULL, 4, NULL, &o, &e) == RT_E_INVALID, "NULL data");
  pol.size = 20;
  CHECK(rt_import_sealed(data, 4, &pol, &o, &e) == RT_E_INVALID, "20-byte policy");
  CHECK_STR_CONTAINS(e.msg, "policy digest of 20 bytes");

  /* RSA: the identity key's attributes minus the TPM-origin ones. */
  CHECK(rt_import_rsa(rsa, NULL, &o, &e) == RT_OK, "%s", e.msg);
  p = &o.pub.publicArea;
  CHECK(p->objectAttributes ==
            (TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_DECRYPT),
        "RSA attributes 0x%08x", (unsigned)p->objectAttributes);
  CHECK(p->type == TPM2_ALG_RSA && p->parameters.rsaDetail.scheme.scheme == TPM2_ALG_NULL &&
            p->parameters.rsaDetail.symmetric.algorithm == TPM2_ALG_NULL &&
            p->parameters.rsaDetail.keyBits == 2048 && p->parameters.rsaDetail.exponent == 0,
        "RSA parameters");
  CHECK(rt_tpm_pub_matches(p, rsa), "RSA public area is not the key");
  CHECK(o.sensitive.sensitiveType == TPM2_ALG_RSA && o.sensitive.sensitive.rsa.size == 128 &&
            o.sensitive.seedValue.size == 0,
        "RSA sensitive: a 1024-bit prime, no seed");
  pol.size = 32;
  CHECK(rt_import_rsa(rsa, &pol, &o, &e) == RT_OK, "%s", e.msg);
  CHECK(o.pub.publicArea.objectAttributes ==
            (TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_DECRYPT),
        "RSA with policy: attributes 0x%08x", (unsigned)o.pub.publicArea.objectAttributes);
  CHECK(rt_import_rsa(p256, NULL, &o, &e) == RT_E_INVALID, "EC key as RSA");
  CHECK_STR_CONTAINS(e.msg, "not an RSA key");
  EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
  CHECK(small && rt_import_rsa(small, NULL, &o, &e) == RT_E_INVALID, "RSA 1024 accepted");
  CHECK_STR_CONTAINS(e.msg, "1024 bits");
  EVP_PKEY_free(small);
  /* Public key only: no prime to send. */
  TPMT_PUBLIC rp = rsa_public(rsa);
  EVP_PKEY *pubonly = NULL;
  CHECK(rt_tpm_pub_to_evp(&rp, &pubonly, &e) == RT_OK, "%s", e.msg);
  CHECK(rt_import_rsa(pubonly, NULL, &o, &e) == RT_E_INVALID, "public RSA key accepted");
  CHECK_STR_CONTAINS(e.msg, "not an RSA private key");
  EVP_PKEY_free(pubonly);
  /* Exponent 3: not every TPM takes it (swtpm does not). */
  EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
  EVP_PKEY *e3 = NULL;
  BIGNUM *three = BN_new();
  BN_set_word(three, 3);
  if (kc && EVP_PKEY_keygen_init(kc) == 1 && EVP_PKEY_CTX_set_rsa_keygen_bits(kc, 2048) == 1 &&
      EVP_PKEY_CTX_set1_rsa_keygen_pubexp(kc, three) == 1)
    EVP_PKEY_keygen(kc, &e3);
  CHECK(e3 && rt_import_rsa(e3, NULL, &o, &e) == RT_E_INVALID, "exponent 3 accepted");
  CHECK_STR_CONTAINS(e.msg, "exponent");
  EVP_PKEY_free(e3);
  BN_free(three);
  EVP_PKEY_CTX_free(kc);
  CHECK(rt_import_rsa(NULL, NULL, &o, &e) == RT_E_INVALID, "NULL key");
  OPENSSL_cleanse(&o, sizeof o);
  OPENSSL_cleanse(&o2, sizeof o2);
}

/* Opens a duplicate made for an RSA parent the way TPM2_Import does, with
 * the parent's private key: OAEP "DUPLICATE", KDFa, HMAC check, AES-CFB. */
static int unwrap_rsa(EVP_PKEY *parent_key, const TPM2B_NAME *name, const TPM2B_PRIVATE *dup,
                      const TPM2B_ENCRYPTED_SECRET *enc_seed, TPMT_SENSITIVE *out) {
  uint8_t seed[512], label[] = "DUPLICATE", sym[16], hkey[32], mac[32],
                     msg[sizeof dup->buffer + 70];
  uint8_t plain[sizeof dup->buffer];
  size_t seed_len = sizeof seed, off = 0, mac_len = 0;
  int n = 0, ok = 0;
  EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, parent_key, NULL);
  TPM2B_DIGEST hmac = {0};
  TPM2B_SENSITIVE s = {0};
  rt_err e = {0};
  if (c == NULL || EVP_PKEY_decrypt_init(c) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) != 1 ||
      EVP_PKEY_CTX_set0_rsa_oaep_label(c, OPENSSL_memdup(label, sizeof label), sizeof label) != 1 ||
      EVP_PKEY_decrypt(c, seed, &seed_len, enc_seed->secret, enc_seed->size) != 1 || seed_len != 32)
    goto out;
  if (rt_kdfa(TPM2_ALG_SHA256, seed, 32, "STORAGE", name->name, name->size, NULL, 0, sym, 128,
              &e) != RT_OK ||
      rt_kdfa(TPM2_ALG_SHA256, seed, 32, "INTEGRITY", NULL, 0, NULL, 0, hkey, 256, &e) != RT_OK ||
      Tss2_MU_TPM2B_DIGEST_Unmarshal(dup->buffer, dup->size, &off, &hmac) != TSS2_RC_SUCCESS)
    goto out;
  size_t enc_len = dup->size - off;
  memcpy(msg, dup->buffer + off, enc_len);
  memcpy(msg + enc_len, name->name, name->size);
  if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, hkey, 32, msg, enc_len + name->size, mac,
                sizeof mac, &mac_len) == NULL ||
      hmac.size != 32 || memcmp(mac, hmac.buffer, 32) != 0)
    goto out;
  EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
  static const uint8_t iv[16] = {0};
  size_t soff = 0;
  if (cc && EVP_DecryptInit_ex2(cc, EVP_aes_128_cfb(), sym, iv, NULL) == 1 &&
      EVP_DecryptUpdate(cc, plain, &n, dup->buffer + off, (int)enc_len) == 1 &&
      (size_t)n == enc_len &&
      Tss2_MU_TPM2B_SENSITIVE_Unmarshal(plain, enc_len, &soff, &s) == TSS2_RC_SUCCESS &&
      soff == enc_len) {
    *out = s.sensitiveArea;
    ok = 1;
  }
  EVP_CIPHER_CTX_free(cc);
out:
  EVP_PKEY_CTX_free(c);
  OPENSSL_cleanse(seed, sizeof seed);
  OPENSSL_cleanse(plain, sizeof plain);
  OPENSSL_cleanse(&s, sizeof s);
  return ok;
}

static void test_dup_wrap(EVP_PKEY *rsa, EVP_PKEY *p256) {
  rt_err e = {0};
  TPMT_PUBLIC ek = rsa_public(rsa), eke = ecc_public(p256, TPM2_ECC_NIST_P256);
  rt_import_object o;
  uint8_t data[40];
  fill(data, sizeof data, 0x41);
  TPM2B_PRIVATE dup;
  TPM2B_ENCRYPTED_SECRET seed;
  CHECK(rt_import_sealed(data, sizeof data, NULL, &o, &e) == RT_OK, "%s", e.msg);

  /* duplicate = TPM2B_DIGEST(HMAC) || AES-CFB(TPM2B_SENSITIVE): the
   * TPM2B_SENSITIVE of a 40-byte sealed object is size 2, type 2, empty
   * authValue 2, seedValue 2 + 32, data 2 + 40. The RSA parent's duplicate
   * opens to it in software. */
  size_t sens = 2 + 2 + 2 + 2 + 32 + 2 + sizeof data;
  CHECK(rt_dup_wrap(&ek, &o, &dup, &seed, &e) == RT_OK, "RSA: %s", e.msg);
  CHECK(dup.size == 2 + 32 + sens && dup.buffer[0] == 0 && dup.buffer[1] == 32,
        "RSA duplicate size %u", dup.size);
  CHECK(seed.size == 256, "RSA seed size %u", seed.size);
  TPM2B_NAME name;
  TPMT_SENSITIVE back;
  CHECK(rt_tpm_pub_name(&o.pub.publicArea, &name, &e) == RT_OK, "%s", e.msg);
  CHECK(unwrap_rsa(rsa, &name, &dup, &seed, &back) && back.sensitive.bits.size == sizeof data &&
            memcmp(back.sensitive.bits.buffer, data, sizeof data) == 0 &&
            memcmp(back.seedValue.buffer, o.sensitive.seedValue.buffer, 32) == 0,
        "the RSA duplicate does not open to the sensitive area");
  /* Bound to the name: another object's name fails the HMAC. */
  TPM2B_NAME other = name;
  other.name[5] ^= 1;
  CHECK(!unwrap_rsa(rsa, &other, &dup, &seed, &back), "duplicate opened under another name");
  TPM2B_PRIVATE dup2;
  TPM2B_ENCRYPTED_SECRET seed2;
  CHECK(rt_dup_wrap(&ek, &o, &dup2, &seed2, &e) == RT_OK, "RSA again");
  CHECK(memcmp(dup.buffer, dup2.buffer, dup.size) != 0, "two duplicates equal: seed not random");
  CHECK(rt_dup_wrap(&eke, &o, &dup, &seed, &e) == RT_OK, "P-256: %s", e.msg);
  CHECK(dup.size == 2 + 32 + sens && seed.size == 2 + 32 + 2 + 32, "P-256 sizes %u %u", dup.size,
        seed.size);
  /* RSA objects fit too (4096-bit: a 256-byte prime). */
  EVP_PKEY *big = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
  rt_import_object r;
  CHECK(big && rt_import_rsa(big, NULL, &r, &e) == RT_OK, "RSA 4096: %s", e.msg);
  CHECK(rt_dup_wrap(&eke, &r, &dup, &seed, &e) == RT_OK, "RSA 4096 object: %s", e.msg);
  CHECK(dup.size == 2 + 32 + 2 + 2 + 2 + 2 + 2 + 256, "RSA 4096 duplicate size %u", dup.size);
  EVP_PKEY_free(big);
  OPENSSL_cleanse(&r, sizeof r);

  /* The parent: the same checks as MakeCredential's EK. */
  TPMT_PUBLIC bad = ek;
  bad.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
  CHECK(rt_dup_wrap(&bad, &o, &dup, &seed, &e) == RT_E_INVALID, "unrestricted parent accepted");
  CHECK_STR_CONTAINS(e.msg, "parent: not a restricted decryption key");
  CHECK(dup.size == 0 && seed.size == 0, "outputs not cleared on failure");
  bad = eke;
  bad.objectAttributes = RT_AK_ATTRS;
  CHECK(rt_dup_wrap(&bad, &o, &dup, &seed, &e) == RT_E_INVALID, "signing key as parent");
  CHECK_STR_CONTAINS(e.msg, "not a restricted decryption key");
  bad = ek;
  bad.nameAlg = TPM2_ALG_SM3_256;
  CHECK(rt_dup_wrap(&bad, &o, &dup, &seed, &e) == RT_E_INVALID, "SM3 parent nameAlg accepted");
  CHECK_STR_CONTAINS(e.msg, "unsupported nameAlg");
  bad = eke;
  bad.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
  CHECK(rt_dup_wrap(&bad, &o, &dup, &seed, &e) == RT_E_INVALID, "parent without AES accepted");
  CHECK_STR_CONTAINS(e.msg, "symmetric");
  bad = ek;
  bad.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CTR;
  CHECK(rt_dup_wrap(&bad, &o, &dup, &seed, &e) == RT_E_INVALID, "AES-CTR parent accepted");
  bad = ek;
  bad.type = TPM2_ALG_SYMCIPHER;
  CHECK(rt_dup_wrap(&bad, &o, &dup, &seed, &e) == RT_E_INVALID, "symcipher parent accepted");
  CHECK_STR_CONTAINS(e.msg, "unsupported key type");
  bad = eke;
  bad.unique.ecc.x.buffer[0] ^= 0x40;
  CHECK(rt_dup_wrap(&bad, &o, &dup, &seed, &e) == RT_E_INVALID, "off-curve parent accepted");
  CHECK_STR_CONTAINS(e.msg, "parent: ");

  /* The object: what Import refuses, and a sensitive area of another type. */
  rt_import_object ob = o;
  ob.pub.publicArea.objectAttributes |= TPMA_OBJECT_FIXEDTPM;
  CHECK(rt_dup_wrap(&ek, &ob, &dup, &seed, &e) == RT_E_INVALID, "fixedTPM object accepted");
  CHECK_STR_CONTAINS(e.msg, "fixedTPM");
  ob = o;
  ob.pub.publicArea.objectAttributes |= TPMA_OBJECT_FIXEDPARENT;
  CHECK(rt_dup_wrap(&ek, &ob, &dup, &seed, &e) == RT_E_INVALID, "fixedParent object accepted");
  ob = o;
  ob.pub.publicArea.objectAttributes |= TPMA_OBJECT_ENCRYPTEDDUPLICATION;
  CHECK(rt_dup_wrap(&ek, &ob, &dup, &seed, &e) == RT_E_INVALID,
        "encryptedDuplication without inner wrapper accepted");
  ob = o;
  ob.sensitive.sensitiveType = TPM2_ALG_RSA;
  CHECK(rt_dup_wrap(&ek, &ob, &dup, &seed, &e) == RT_E_INVALID, "mismatched sensitive accepted");
  CHECK_STR_CONTAINS(e.msg, "sensitive area of type");
  ob = o;
  ob.pub.publicArea.nameAlg = TPM2_ALG_SM3_256;
  CHECK(rt_dup_wrap(&ek, &ob, &dup, &seed, &e) == RT_E_INVALID, "SM3 object nameAlg accepted");
  CHECK(rt_dup_wrap(&ek, NULL, &dup, &seed, &e) == RT_E_INVALID, "NULL object");
  CHECK(rt_dup_wrap(&ek, &o, NULL, &seed, &e) == RT_E_INVALID, "NULL duplicate");
  OPENSSL_cleanse(&o, sizeof o);
  OPENSSL_cleanse(&ob, sizeof ob);
}

int main(void) {
  EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  EVP_PKEY *rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
  EVP_PKEY *p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
  CHECK(rsa && rsa2 && p256 && p384 && p521, "test keys");
  if (rsa && rsa2 && p256 && p384 && p521) {
    test_kdf();
    TPMT_PUBLIC pr = rsa_public(rsa), pe = ecc_public(p384, TPM2_ECC_NIST_P384);
    test_pub_unmarshal(&pr);
    test_pub_unmarshal(&pe);
    test_to_evp(rsa, rsa2, p256, p384, p521);
    test_to_evp_ex(rsa, p256);
    test_spki(rsa, p256, p384, p521);
    test_ecdsa_der(p256);
    test_name();
    test_sig(rsa, rsa2, p256, p384);
    test_attest(p256);
    test_makecred(rsa, p256, p384);
    test_policy_pcr();
    test_import_objects(rsa, p256);
    test_dup_wrap(rsa, p256);
  }
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(rsa2);
  EVP_PKEY_free(p256);
  EVP_PKEY_free(p384);
  EVP_PKEY_free(p521);
  return rt_test_done("test_tpm_crypto");
}
