/* The EK's identity (urn:rattest:ek:sha256:<hex>) as Begin makes it: once
 * from the TPM public area (rt_ek_key), and from the certificate when its
 * encoding of the key may differ (rt_ek_check). An EC EK certificate with
 * its point compressed must give the identity `machines add --ek-cert`
 * (rt_ek_cert_key_sha256) records for it; an RSA one gives the TPM key's. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ek_check.h"
#include "rt_test.h"

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
  X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  X509_add_ext(x, e, -1);
  X509_EXTENSION_free(e);
}

/* A certificate for key named cn, by issuer (NULL: self-signed) with
 * signer. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *signer) {
  X509 *x = X509_new();
  X509_set_version(x, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x), issuer == NULL ? 1 : 2);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_NAME *n = X509_NAME_new();
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  X509_set_subject_name(x, n);
  X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : n);
  X509_NAME_free(n);
  X509_set_pubkey(x, key);
  add_ext(x, issuer != NULL ? issuer : x, NID_basic_constraints,
          issuer == NULL ? "critical,CA:TRUE" : "critical,CA:FALSE");
  if (issuer == NULL)
    add_ext(x, x, NID_key_usage, "critical,keyCertSign");
  X509_sign(x, signer, EVP_sha256());
  return x;
}

/* The TPM's public area of key: what the machine sends as its EK. */
static TPMT_PUBLIC tpm_public(EVP_PKEY *key) {
  TPMT_PUBLIC p;
  memset(&p, 0, sizeof p);
  p.nameAlg = TPM2_ALG_SHA256;
  BIGNUM *a = NULL, *b = NULL;
  if (EVP_PKEY_is_a(key, "EC")) {
    p.type = TPM2_ALG_ECC;
    p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &a);
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &b);
    p.unique.ecc.x.size = p.unique.ecc.y.size = 32;
    BN_bn2binpad(a, p.unique.ecc.x.buffer, 32);
    BN_bn2binpad(b, p.unique.ecc.y.buffer, 32);
  } else {
    p.type = TPM2_ALG_RSA;
    p.parameters.rsaDetail.keyBits = 2048;
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &a);
    p.unique.rsa.size = 256;
    BN_bn2binpad(a, p.unique.rsa.buffer, 256);
  }
  BN_free(a);
  BN_free(b);
  return p;
}

/* Begin's identity of ek certified by ca_cert against
 * rt_ek_cert_key_sha256; want_tpm_equal: whether the TPM key's own hash is
 * also the certificate's. */
static void check_identity(const char *what, const char *ca_file, X509 *ca_cert, EVP_PKEY *ca_key,
                           EVP_PKEY *ek, int want_tpm_equal) {
  rt_err err;
  rt_ca_set *roots = NULL;
  X509 *leaf = make_cert(ek, "EK", ca_cert, ca_key);
  unsigned char *der = NULL;
  int len = i2d_X509(leaf, &der);
  rt_cert_der cert = {der, (size_t)len};
  TPMT_PUBLIC pub = tpm_public(ek);
  EVP_PKEY *key = NULL;
  uint8_t id[32], tpm_id[32], cert_id[32];
  size_t which = 9;
  CHECK(rt_ca_set_load(ca_file, "EK CA", &roots, &err) == RT_OK, "%s: roots: %s", what, err.msg);
  CHECK(rt_ek_key(&pub, &key, id, &err) == RT_OK, "%s: rt_ek_key: %s", what, err.msg);
  memcpy(tpm_id, id, sizeof id);
  CHECK(rt_ek_check(roots, key, &cert, 1, NULL, 0, NULL, &which, id, NULL, &err) == RT_OK &&
            which == 0,
        "%s: rt_ek_check: %s", what, err.msg);
  CHECK(rt_ek_cert_key_sha256(leaf, cert_id, &err) == RT_OK, "%s: %s", what, err.msg);
  CHECK(memcmp(id, cert_id, 32) == 0, "%s: Begin's identity is not the certificate's", what);
  CHECK((memcmp(tpm_id, cert_id, 32) == 0) == want_tpm_equal, "%s: the TPM key's hash %s", what,
        want_tpm_equal ? "differs" : "equals the compressed encoding's");
  EVP_PKEY_free(key);
  rt_ca_set_free(roots);
  OPENSSL_free(der);
  X509_free(leaf);
}

int main(void) {
  char dir[] = "/tmp/rt_ek_identity.XXXXXX", ca_file[64];
  if (mkdtemp(dir) == NULL)
    return 2;
  snprintf(ca_file, sizeof ca_file, "%s/ca.pem", dir);
  EVP_PKEY *ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  X509 *ca = make_cert(ca_key, "EK CA", NULL, ca_key);
  FILE *f = fopen(ca_file, "w");
  PEM_write_X509(f, ca);
  fclose(f);

  EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  check_identity("P-256, uncompressed", ca_file, ca, ca_key, ec, 1);
  EVP_PKEY_set_utf8_string_param(ec, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed");
  check_identity("P-256, compressed", ca_file, ca, ca_key, ec, 0);
  EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  check_identity("RSA-2048", ca_file, ca, ca_key, rsa, 1);

  EVP_PKEY_free(rsa);
  EVP_PKEY_free(ec);
  EVP_PKEY_free(ca_key);
  X509_free(ca);
  unlink(ca_file);
  rmdir(dir);
  return rt_test_done("test_ek_identity");
}
