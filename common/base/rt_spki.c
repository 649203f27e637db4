#include "rt_spki.h"

#include <openssl/asn1t.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <string.h>

/* RSAPublicKey (RFC 8017 A.1.1) as OpenSSL's own template declares it: in
 * 3.0 the only public encoder of it that is not deprecated is the encoder
 * framework this file avoids. */
typedef struct {
  BIGNUM *n;
  BIGNUM *e;
} rsa_public;

/* clang-format cannot parse the template's macros; the prototype after
 * them gives it a statement end to resume from. */
/* clang-format off */
ASN1_SEQUENCE(rsa_public) = {
    ASN1_SIMPLE(rsa_public, n, BIGNUM),
    ASN1_SIMPLE(rsa_public, e, BIGNUM),
} static_ASN1_SEQUENCE_END(rsa_public)

static int fill_rsa(X509_PUBKEY *pk, const EVP_PKEY *key);
/* clang-format on */

static int fill_rsa(X509_PUBKEY *pk, const EVP_PKEY *key) {
  rsa_public pub = {NULL, NULL};
  unsigned char *der = NULL;
  int len = -1;
  if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &pub.n) == 1 &&
      EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &pub.e) == 1)
    len = ASN1_item_i2d((ASN1_VALUE *)&pub, &der, ASN1_ITEM_rptr(rsa_public));
  BN_free(pub.n);
  BN_free(pub.e);
  /* set0 takes der over. */
  if (len <= 0 || X509_PUBKEY_set0_param(pk, OBJ_nid2obj(NID_rsaEncryption), V_ASN1_NULL, NULL, der,
                                         len) != 1) {
    OPENSSL_free(der);
    return -1;
  }
  return 1;
}

/* The curve's NID when key is on a named curve and encodes it by name
 * (not with explicit parameters), else NID_undef. */
static int named_curve(const EVP_PKEY *key) {
  char name[64], encoding[32];
  if (EVP_PKEY_get_group_name(key, name, sizeof name, NULL) != 1 ||
      EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_EC_ENCODING, encoding, sizeof encoding,
                                     NULL) != 1 ||
      strcmp(encoding, OSSL_PKEY_EC_ENCODING_GROUP) != 0)
    return NID_undef;
  int nid = OBJ_sn2nid(name);
  return nid != NID_undef ? nid : EC_curve_nist2nid(name);
}

static int fill_ec(X509_PUBKEY *pk, const EVP_PKEY *key, int curve) {
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, NULL, 0, &len) != 1 ||
      len == 0 || len > INT32_MAX)
    return -1;
  unsigned char *point = OPENSSL_malloc(len);
  if (point == NULL ||
      EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, len, &len) != 1 ||
      X509_PUBKEY_set0_param(pk, OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
                             OBJ_nid2obj(curve), point, (int)len) != 1) {
    OPENSSL_free(point);
    return -1;
  }
  return 1;
}

int rt_spki_fill(X509_PUBKEY *pk, const EVP_PKEY *key) {
  if (pk == NULL || key == NULL)
    return -1;
  if (EVP_PKEY_is_a(key, "RSA"))
    return fill_rsa(pk, key);
  int curve = EVP_PKEY_is_a(key, "EC") ? named_curve(key) : NID_undef;
  return curve != NID_undef ? fill_ec(pk, key, curve) : 0;
}

int rt_spki_set_cert_key(X509 *x, EVP_PKEY *key) {
  int r = rt_spki_fill(X509_get_X509_PUBKEY(x), key);
  return r == 0 ? X509_set_pubkey(x, key) == 1 : r == 1;
}

int rt_spki_der(EVP_PKEY *key, unsigned char **der) {
  X509_PUBKEY *pk = X509_PUBKEY_new();
  int r = pk != NULL ? rt_spki_fill(pk, key) : -1;
  int len = r == 1 ? i2d_X509_PUBKEY(pk, der) : r == 0 ? i2d_PUBKEY(key, der) : -1;
  X509_PUBKEY_free(pk);
  return len;
}
