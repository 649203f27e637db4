/* verifier/issuer against the development PKI (certs/mkpki): issued
 * certificates verify to the root with X509_verify_cert and `openssl
 * verify`, every field and extension is exactly as specified, serials are
 * unique and long, and wrong issuers and wrong requests are refused.
 *
 * Usage: test_issuer PKI_DIR */
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crl.h"
#include "issuer.h"
#include "rt_test.h"

#define EKHEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char pki[400], dir[64];
static char issuer_pem[512], issuer_key[512], chain_pem[512], root_pem[512], root_key[512];

static X509 *read_cert(const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return NULL;
  X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
  fclose(f);
  return x;
}

static EVP_PKEY *read_key(const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return NULL;
  EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  fclose(f);
  return k;
}

static void write_key(const char *path, EVP_PKEY *k, mode_t mode) {
  unlink(path);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  FILE *f = fdopen(fd, "w");
  PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
  fclose(f);
  chmod(path, mode);
}

static void write_certs(const char *path, X509 *a, X509 *b) {
  FILE *f = fopen(path, "w");
  PEM_write_X509(f, a);
  if (b != NULL)
    PEM_write_X509(f, b);
  fclose(f);
}

static X509 *der_to_x509(const uint8_t *der, size_t len) {
  const unsigned char *p = der;
  return d2i_X509(NULL, &p, (long)len);
}

/* make_ca's subjectKeyIdentifier value: NULL leaves it out. */
static const char *make_ca_ski = "hash";

/* A CA certificate for key, signed by the dev root, valid from now+nb to
 * now+na, with the given BasicConstraints and KeyUsage (NULL: none). */
static X509 *make_ca(EVP_PKEY *key, long nb, long na, const char *bc, const char *ku) {
  X509 *root = read_cert(root_pem);
  EVP_PKEY *rkey = read_key(root_key);
  X509 *x = X509_new();
  X509_set_version(x, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
  X509_gmtime_adj(X509_getm_notBefore(x), nb);
  X509_gmtime_adj(X509_getm_notAfter(x), na);
  X509_NAME *n = X509_NAME_new();
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"test CA", -1, -1, 0);
  X509_set_subject_name(x, n);
  X509_NAME_free(n);
  X509_set_issuer_name(x, X509_get_subject_name(root));
  X509_set_pubkey(x, key);
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, root, x, NULL, NULL, 0);
  const char *vals[] = {bc, ku, make_ca_ski, "keyid"};
  int nids[] = {NID_basic_constraints, NID_key_usage, NID_subject_key_identifier,
                NID_authority_key_identifier};
  for (int i = 0; i < 4; i++) {
    if (vals[i] == NULL)
      continue;
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nids[i], vals[i]);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x, rkey, EVP_sha256());
  X509_free(root);
  EVP_PKEY_free(rkey);
  return x;
}

/* Writes a CA (cert + key files) under dir/name.{pem,key}. */
static void make_ca_files(const char *name, EVP_PKEY *key, long nb, long na, const char *bc,
                          const char *ku, char *cert_path, char *key_path) {
  sprintf(cert_path, "%s/%s.pem", dir, name);
  sprintf(key_path, "%s/%s.key", dir, name);
  X509 *x = make_ca(key, nb, na, bc, ku);
  write_certs(cert_path, x, NULL);
  write_key(key_path, key, 0600);
  X509_free(x);
}

static rt_cert_request base_req(EVP_PKEY *k, rt_cert_profile profile, time_t now) {
  static const char *const dns[] = {"web-01.example.com", "web-01"};
  rt_cert_request r = {
      .profile = profile,
      .public_key = k,
      .common_name = "web-01",
      .organization = "Acme",
      .organizational_unit = NULL,
      .ek_sha256_hex = EKHEX,
      .dns_sans = dns,
      .n_dns_sans = 2,
      .now = now,
      .lifetime_seconds = 720 * 3600,
  };
  return r;
}

static int verify_chain(X509 *leaf, const rt_der *chain, size_t n, int purpose, int *error) {
  X509_STORE *store = X509_STORE_new();
  X509_STORE_load_file(store, root_pem);
  STACK_OF(X509) *untrusted = sk_X509_new_null();
  for (size_t i = 0; i < n; i++)
    sk_X509_push(untrusted, der_to_x509(chain[i].data, chain[i].len));
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, untrusted);
  if (purpose != 0)
    X509_STORE_CTX_set_purpose(ctx, purpose);
  int ok = X509_verify_cert(ctx);
  if (error != NULL)
    *error = X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  sk_X509_pop_free(untrusted, X509_free);
  X509_STORE_free(store);
  return ok == 1;
}

/* Every field and extension of an issued certificate. */
static void check_cert(X509 *x, const rt_cert_request *req, X509 *ca, int sig_nid) {
  CHECK(X509_get_version(x) == X509_VERSION_3, "version");
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
  CHECK(bn != NULL && !BN_is_negative(bn) && BN_num_bits(bn) == 127, "serial bits %d",
        bn ? BN_num_bits(bn) : -1);
  BN_free(bn);
  CHECK(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)) == 0, "issuer name");
  CHECK(EVP_PKEY_eq(X509_get0_pubkey(x), req->public_key) == 1, "subject key");
  /* The SubjectPublicKeyInfo exactly as OpenSSL encodes the key. */
  unsigned char *spki = NULL, *want_spki = NULL;
  int spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
  int want_len = i2d_PUBKEY(req->public_key, &want_spki);
  CHECK(spki_len > 0 && spki_len == want_len && memcmp(spki, want_spki, (size_t)spki_len) == 0,
        "subject public key info");
  OPENSSL_free(spki);
  OPENSSL_free(want_spki);
  CHECK(X509_get_signature_nid(x) == sig_nid, "signature %s",
        OBJ_nid2sn(X509_get_signature_nid(x)));

  /* Subject: O then CN (OU when given), nothing else. */
  X509_NAME *sn = X509_get_subject_name(x);
  char buf[256];
  int entries = 1 + (req->organization != NULL) + (req->organizational_unit != NULL);
  CHECK(X509_NAME_entry_count(sn) == entries, "subject entries %d", X509_NAME_entry_count(sn));
  CHECK(X509_NAME_get_text_by_NID(sn, NID_commonName, buf, sizeof buf) > 0 &&
            strcmp(buf, req->common_name) == 0,
        "CN");
  if (req->organization != NULL)
    CHECK(X509_NAME_get_text_by_NID(sn, NID_organizationName, buf, sizeof buf) > 0 &&
              strcmp(buf, req->organization) == 0,
          "O");
  if (req->organizational_unit != NULL)
    CHECK(X509_NAME_get_text_by_NID(sn, NID_organizationalUnitName, buf, sizeof buf) > 0 &&
              strcmp(buf, req->organizational_unit) == 0,
          "OU");

  CHECK(X509_get_ext_count(x) == 6, "%d extensions", X509_get_ext_count(x));
  int crit = -1;
  BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
  CHECK(bc != NULL && crit == 1 && bc->ca == 0 && bc->pathlen == NULL, "basicConstraints");
  BASIC_CONSTRAINTS_free(bc);

  ASN1_BIT_STRING *ku = X509_get_ext_d2i(x, NID_key_usage, &crit, NULL);
  CHECK(ku != NULL && crit == 1, "keyUsage critical");
  ASN1_BIT_STRING_free(ku);
  CHECK(X509_get_key_usage(x) == KU_DIGITAL_SIGNATURE, "keyUsage %x", X509_get_key_usage(x));

  EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, &crit, NULL);
  int n_eku = req->profile == RT_CERT_KEY && req->server_auth ? 2 : 1;
  CHECK(eku != NULL && crit == 0 && sk_ASN1_OBJECT_num(eku) == n_eku, "extKeyUsage");
  if (eku != NULL && sk_ASN1_OBJECT_num(eku) == n_eku) {
    OBJ_obj2txt(buf, sizeof buf, sk_ASN1_OBJECT_value(eku, 0), 1);
    const char *want = req->profile == RT_CERT_AK ? "2.23.133.8.3" : "1.3.6.1.5.5.7.3.2";
    CHECK(strcmp(buf, want) == 0, "EKU %s, want %s", buf, want);
    if (n_eku == 2) {
      OBJ_obj2txt(buf, sizeof buf, sk_ASN1_OBJECT_value(eku, 1), 1);
      CHECK(strcmp(buf, "1.3.6.1.5.5.7.3.1") == 0, "second EKU %s, want serverAuth", buf);
    }
  }
  sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);

  GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
  CHECK(gens != NULL && crit == 0 && sk_GENERAL_NAME_num(gens) == 1 + (int)req->n_dns_sans,
        "SAN count");
  if (gens != NULL && sk_GENERAL_NAME_num(gens) == 1 + (int)req->n_dns_sans) {
    int type;
    ASN1_IA5STRING *v = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(gens, 0), &type);
    CHECK(type == GEN_URI &&
              strcmp((const char *)ASN1_STRING_get0_data(v), "urn:rattest:ek:sha256:" EKHEX) == 0,
          "SAN URI");
    for (size_t i = 0; i < req->n_dns_sans; i++) {
      v = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(gens, (int)i + 1), &type);
      CHECK(type == GEN_DNS &&
                strcmp((const char *)ASN1_STRING_get0_data(v), req->dns_sans[i]) == 0,
            "SAN DNS %zu", i);
    }
  }
  GENERAL_NAMES_free(gens);

  /* SKI: SHA-1 of the subjectPublicKey BIT STRING (RFC 5280 method 1). */
  const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);
  const ASN1_BIT_STRING *spk = X509_get0_pubkey_bitstr(x);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_Digest(ASN1_STRING_get0_data(spk), (size_t)ASN1_STRING_length(spk), md, &mdlen, EVP_sha1(),
             NULL);
  CHECK(ski != NULL && ASN1_STRING_length(ski) == 20 &&
            memcmp(ASN1_STRING_get0_data(ski), md, 20) == 0,
        "SKI");
  int idx = X509_get_ext_by_NID(x, NID_subject_key_identifier, -1);
  CHECK(idx >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, idx)) == 0, "SKI not critical");

  AUTHORITY_KEYID *aki = X509_get_ext_d2i(x, NID_authority_key_identifier, &crit, NULL);
  const ASN1_OCTET_STRING *ca_ski = X509_get0_subject_key_id(ca);
  CHECK(aki != NULL && crit == 0 && aki->keyid != NULL && ca_ski != NULL &&
            ASN1_OCTET_STRING_cmp(aki->keyid, ca_ski) == 0 && aki->issuer == NULL &&
            aki->serial == NULL,
        "AKI = issuer SKI, keyid only");
  AUTHORITY_KEYID_free(aki);

  /* Validity: backdated five minutes (but not before the CA itself, as
   * with a PKI made seconds ago), lifetime from now. */
  if (ASN1_TIME_cmp_time_t(X509_get0_notBefore(ca), req->now - 300) > 0)
    CHECK(ASN1_TIME_compare(X509_get0_notBefore(x), X509_get0_notBefore(ca)) == 0,
          "notBefore = the young CA's");
  else
    CHECK(ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), req->now - 300) == 0, "notBefore");
  CHECK(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), req->now + req->lifetime_seconds) == 0,
        "notAfter");
}

/* What rt_issuer_issue_info says is what the certificate holds. */
static void check_info(X509 *x, const rt_issued *info) {
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
  char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
  CHECK(hex != NULL && strcmp(info->serial_hex, hex) == 0, "serial %s, the certificate's %s",
        info->serial_hex, hex ? hex : "?");
  CHECK(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), (time_t)info->not_after) == 0, "notAfter %lld",
        (long long)info->not_after);
  OPENSSL_free(hex);
  BN_free(bn);
}

static void test_issue(void) {
  rt_err e;
  rt_issuer *is = NULL;
  CHECK(rt_issuer_load(issuer_pem, issuer_key, &is, &e) == RT_OK, "%s", e.msg);
  if (is == NULL)
    return;
  X509 *ca = read_cert(issuer_pem), *root = read_cert(root_pem);
  size_t n = 0;
  const rt_der *chain = rt_issuer_chain(is, &n);
  unsigned char *ca_der = NULL, *root_der = NULL;
  int ca_len = i2d_X509(ca, &ca_der), root_len = i2d_X509(root, &root_der);
  CHECK(n == 1 && chain[0].len == (size_t)ca_len &&
            memcmp(chain[0].data, ca_der, chain[0].len) == 0,
        "chain of issuer.pem alone");

  /* With the chain file: issuing CA first, then the root. */
  rt_issuer *is2 = NULL;
  CHECK(rt_issuer_load(chain_pem, issuer_key, &is2, &e) == RT_OK, "%s", e.msg);
  if (is2 != NULL) {
    const rt_der *c2 = rt_issuer_chain(is2, &n);
    CHECK(n == 2 && c2[0].len == (size_t)ca_len && memcmp(c2[0].data, ca_der, c2[0].len) == 0 &&
              c2[1].len == (size_t)root_len && memcmp(c2[1].data, root_der, c2[1].len) == 0,
          "chain order");
  }

  time_t now = time(NULL);
  EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
  EVP_PKEY *keys[] = {ec, rsa, p384};
  for (int k = 0; k < 3; k++) {
    for (int prof = RT_CERT_KEY; prof <= RT_CERT_AK; prof++) {
      rt_cert_request req = base_req(keys[k], (rt_cert_profile)prof, now);
      if (prof == RT_CERT_AK) {
        req.organizational_unit = "attestation keys";
        req.n_dns_sans = 0;
      }
      uint8_t *der = NULL;
      size_t len = 0;
      rt_issued info;
      CHECK(rt_issuer_issue_info(is2, &req, &der, &len, &info, &e) == RT_OK, "%s", e.msg);
      X509 *x = der_to_x509(der, len);
      CHECK(x != NULL, "DER does not parse");
      if (x == NULL)
        continue;
      check_info(x, &info);
      size_t cn;
      const rt_der *c = rt_issuer_chain(is2, &cn);
      int err = 0;
      CHECK(verify_chain(x, c, cn, 0, &err), "X509_verify_cert: %s",
            X509_verify_cert_error_string(err));
      /* The EKUs do what they say: the key's certificate is good for TLS
       * client auth, the AK's is not. */
      int client = verify_chain(x, c, cn, X509_PURPOSE_SSL_CLIENT, &err);
      CHECK(client == (prof == RT_CERT_KEY), "sslclient purpose %d for profile %d", client, prof);
      /* Without server_auth no TLS server may present it. */
      CHECK(!verify_chain(x, c, cn, X509_PURPOSE_SSL_SERVER, &err),
            "sslserver purpose without server_auth, profile %d", prof);
      /* Without the intermediate the chain does not build. */
      CHECK(!verify_chain(x, NULL, 0, 0, &err), "verified without the issuing CA");
      check_cert(x, &req, ca, NID_ecdsa_with_SHA256);

      /* `openssl verify` agrees. */
      char path[600], cmd[2400];
      snprintf(path, sizeof path, "%s/cert-%d-%d.pem", dir, k, prof);
      write_certs(path, x, NULL);
      snprintf(cmd, sizeof cmd, "openssl verify -CAfile '%s' -untrusted '%s' '%s' >/dev/null 2>&1",
               root_pem, issuer_pem, path);
      CHECK(system(cmd) == 0, "openssl verify refused %s", path);
      snprintf(cmd, sizeof cmd,
               "openssl verify -purpose sslclient -CAfile '%s' -untrusted '%s' '%s' >/dev/null "
               "2>&1",
               root_pem, issuer_pem, path);
      CHECK((system(cmd) == 0) == (prof == RT_CERT_KEY), "openssl verify -purpose sslclient");
      snprintf(cmd, sizeof cmd,
               "openssl verify -CAfile '%s/tls-ca.pem' -untrusted '%s' '%s' "
               ">/dev/null 2>&1",
               pki, issuer_pem, path);
      CHECK(system(cmd) != 0, "openssl verify accepted another root");
      X509_free(x);
      free(der);
    }
  }

  /* Subject fields optional: CN alone. */
  rt_cert_request req = base_req(ec, RT_CERT_KEY, now);
  req.organization = NULL;
  req.n_dns_sans = 0;
  uint8_t *der = NULL;
  size_t len = 0;
  CHECK(rt_issuer_issue(is, &req, &der, &len, &e) == RT_OK, "%s", e.msg);
  X509 *x = der_to_x509(der, len);
  if (x != NULL)
    check_cert(x, &req, ca, NID_ecdsa_with_SHA256);
  X509_free(x);
  free(der);

  OPENSSL_free(ca_der);
  OPENSSL_free(root_der);
  X509_free(ca);
  X509_free(root);
  /* server_auth (policy "server_auth": true): the key's certificate serves
   * TLS clients and servers; the AK's is unchanged. */
  if (is2 != NULL) {
    for (int prof = RT_CERT_KEY; prof <= RT_CERT_AK; prof++) {
      rt_cert_request sreq = base_req(ec, (rt_cert_profile)prof, now);
      sreq.server_auth = true;
      if (prof == RT_CERT_AK)
        sreq.n_dns_sans = 0;
      uint8_t *sder = NULL;
      size_t slen = 0;
      CHECK(rt_issuer_issue(is2, &sreq, &sder, &slen, &e) == RT_OK, "%s", e.msg);
      X509 *sx = sder ? der_to_x509(sder, slen) : NULL;
      if (sx != NULL) {
        size_t cn;
        const rt_der *c = rt_issuer_chain(is2, &cn);
        int err = 0;
        int server = verify_chain(sx, c, cn, X509_PURPOSE_SSL_SERVER, &err);
        CHECK(server == (prof == RT_CERT_KEY), "sslserver purpose %d, profile %d", server, prof);
        CHECK(verify_chain(sx, c, cn, X509_PURPOSE_SSL_CLIENT, &err) == (prof == RT_CERT_KEY),
              "sslclient purpose with server_auth, profile %d", prof);
        /* Key: clientAuth then serverAuth; AK: its own EKU alone. */
        EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(sx, NID_ext_key_usage, NULL, NULL);
        char o1[64] = "", o2[64] = "";
        int n_ekus = eku ? sk_ASN1_OBJECT_num(eku) : 0;
        if (n_ekus > 0)
          OBJ_obj2txt(o1, sizeof o1, sk_ASN1_OBJECT_value(eku, 0), 1);
        if (n_ekus > 1)
          OBJ_obj2txt(o2, sizeof o2, sk_ASN1_OBJECT_value(eku, 1), 1);
        if (prof == RT_CERT_KEY)
          CHECK(n_ekus == 2 && strcmp(o1, "1.3.6.1.5.5.7.3.2") == 0 &&
                    strcmp(o2, "1.3.6.1.5.5.7.3.1") == 0,
                "key EKUs with server_auth: %d %s %s", n_ekus, o1, o2);
        else
          CHECK(n_ekus == 1 && strcmp(o1, "2.23.133.8.3") == 0, "AK EKU with server_auth: %d %s",
                n_ekus, o1);
        sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
        X509_free(sx);
      }
      free(sder);
    }
  }

  EVP_PKEY_free(ec);
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(p384);
  rt_issuer_free(is);
  rt_issuer_free(is2);
}

/* 100 serials from 4 threads issuing at once: all distinct, all certs
 * verify. */
enum { THREADS = 4, PER_THREAD = 25 };
static rt_issuer *race_issuer;
static EVP_PKEY *race_key;
static uint8_t serials[THREADS * PER_THREAD][32];
static int serial_len[THREADS * PER_THREAD];
static int race_fail;

static void *issue_many(void *arg) {
  int t = (int)(intptr_t)arg;
  for (int i = 0; i < PER_THREAD; i++) {
    rt_err e;
    rt_cert_request req = base_req(race_key, RT_CERT_KEY, time(NULL));
    uint8_t *der = NULL;
    size_t len = 0;
    if (rt_issuer_issue(race_issuer, &req, &der, &len, &e) != RT_OK) {
      __atomic_add_fetch(&race_fail, 1, __ATOMIC_SEQ_CST);
      continue;
    }
    X509 *x = der_to_x509(der, len);
    size_t cn;
    const rt_der *c = rt_issuer_chain(race_issuer, &cn);
    if (x == NULL || !verify_chain(x, c, cn, 0, NULL))
      __atomic_add_fetch(&race_fail, 1, __ATOMIC_SEQ_CST);
    if (x != NULL) {
      const ASN1_INTEGER *s = X509_get0_serialNumber(x);
      int slot = t * PER_THREAD + i;
      serial_len[slot] = ASN1_STRING_length(s);
      if (serial_len[slot] <= 32)
        memcpy(serials[slot], ASN1_STRING_get0_data(s), (size_t)serial_len[slot]);
    }
    X509_free(x);
    free(der);
  }
  return NULL;
}

static void test_serials(void) {
  rt_err e;
  CHECK(rt_issuer_load(chain_pem, issuer_key, &race_issuer, &e) == RT_OK, "%s", e.msg);
  race_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  pthread_t th[THREADS];
  for (int t = 0; t < THREADS; t++)
    pthread_create(&th[t], NULL, issue_many, (void *)(intptr_t)t);
  for (int t = 0; t < THREADS; t++)
    pthread_join(th[t], NULL);
  CHECK(race_fail == 0, "%d concurrent issues failed", race_fail);
  int dup = 0, short_serial = 0;
  for (int i = 0; i < THREADS * PER_THREAD; i++) {
    /* 16 bytes, positive (top bit clear), >= 64 random bits. */
    if (serial_len[i] != 16 || (serials[i][0] & 0x80) != 0)
      short_serial++;
    for (int j = 0; j < i; j++)
      if (serial_len[i] == serial_len[j] && memcmp(serials[i], serials[j], 16) == 0)
        dup++;
  }
  CHECK(dup == 0, "%d duplicate serials", dup);
  CHECK(short_serial == 0, "%d serials not 16 positive bytes", short_serial);
  EVP_PKEY_free(race_key);
  rt_issuer_free(race_issuer);
}

static void expect_load_fail(const char *cert, const char *key, rt_code want, const char *msg,
                             const char *what) {
  rt_err e;
  rt_issuer *is = (rt_issuer *)1;
  rt_code code = rt_issuer_load(cert, key, &is, &e);
  CHECK(code == want && (code == RT_OK ? is != NULL : is == NULL), "%s: got %s (%s)", what,
        rt_code_name(code), code == RT_OK ? "" : e.msg);
  if (code != RT_OK)
    CHECK(strstr(e.msg, msg) != NULL, "%s: \"%s\" does not contain \"%s\"", what, e.msg, msg);
  if (code == RT_OK)
    rt_issuer_free(is);
}

static void test_load_refusals(void) {
  char p1[600], p2[600], p3[600];
  /* Key of another certificate. */
  expect_load_fail(issuer_pem, root_key, RT_E_INVALID, "does not match issuer certificate",
                   "mismatched key");
  /* An end-entity certificate (the TLS server's) is no CA. */
  snprintf(p1, sizeof p1, "%s/server.pem", pki);
  snprintf(p2, sizeof p2, "%s/server.key", pki);
  expect_load_fail(p1, p2, RT_E_INVALID, "is not a CA (BasicConstraints CA:TRUE missing)",
                   "server cert");

  EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  char cert[600], key[600];
  make_ca_files("no-certsign", k, -60, 86400, "critical,CA:TRUE",
                "critical,digitalSignature,cRLSign", cert, key);
  expect_load_fail(cert, key, RT_E_INVALID, "is not a CA (KeyUsage keyCertSign missing)",
                   "no keyCertSign");
  make_ca_files("no-ku", k, -60, 86400, "critical,CA:TRUE", NULL, cert, key);
  expect_load_fail(cert, key, RT_E_INVALID, "KeyUsage keyCertSign missing", "no KeyUsage");
  make_ca_files("not-ca", k, -60, 86400, "critical,CA:FALSE", "critical,keyCertSign", cert, key);
  expect_load_fail(cert, key, RT_E_INVALID, "BasicConstraints CA:TRUE missing", "CA:FALSE");
  make_ca_files("no-bc", k, -60, 86400, NULL, "critical,keyCertSign", cert, key);
  expect_load_fail(cert, key, RT_E_INVALID, "BasicConstraints CA:TRUE missing", "no BC");
  make_ca_files("expired", k, -10 * 86400, -86400, "critical,CA:TRUE", "critical,keyCertSign", cert,
                key);
  expect_load_fail(cert, key, RT_E_INVALID, "has expired", "expired CA");
  make_ca_files("future", k, 86400, 2 * 86400, "critical,CA:TRUE", "critical,keyCertSign", cert,
                key);
  expect_load_fail(cert, key, RT_E_INVALID, "is not valid yet", "future CA");
  /* Without an SKI no certificate it issues could carry the AKI: refused
   * at load, not at every Finish. */
  make_ca_ski = NULL;
  make_ca_files("no-ski", k, -60, 86400, "critical,CA:TRUE", "critical,keyCertSign", cert, key);
  make_ca_ski = "hash";
  expect_load_fail(cert, key, RT_E_INVALID, "has no subjectKeyIdentifier", "no SKI");
  make_ca_files("good", k, -60, 86400, "critical,CA:TRUE", "critical,keyCertSign", cert, key);
  expect_load_fail(cert, key, RT_OK, "", "good EC CA");

  /* A key whose public half is the certificate's but whose private scalar
   * is another key's: it passes X509_check_private_key (which compares
   * public keys) and would sign certificates nobody can verify. */
  snprintf(p3, sizeof p3, "%s/split.key", dir);
  EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), *split = NULL;
  unsigned char pub[65];
  size_t pub_len = 0;
  BIGNUM *priv = NULL;
  EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub, &pub_len);
  EVP_PKEY_get_bn_param(other, OSSL_PKEY_PARAM_PRIV_KEY, &priv);
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, pub_len);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv);
  OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
  CHECK(pctx != NULL && EVP_PKEY_fromdata_init(pctx) == 1 &&
            EVP_PKEY_fromdata(pctx, &split, EVP_PKEY_KEYPAIR, params) == 1,
        "split key");
  write_key(p3, split, 0600);
  expect_load_fail(cert, p3, RT_E_CRYPTO, "a test signature does not verify", "split key");
  EVP_PKEY_CTX_free(pctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(priv);
  EVP_PKEY_free(split);
  EVP_PKEY_free(other);

  /* Key file readable by others. */
  chmod(key, 0644);
  expect_load_fail(cert, key, RT_E_INVALID, "mode 0644 lets group or others read it", "0644 key");
  chmod(key, 0640);
  expect_load_fail(cert, key, RT_E_INVALID, "chmod 600", "0640 key");
  chmod(key, 0600);
  /* Encrypted key: refused, never a terminal prompt. */
  snprintf(p3, sizeof p3, "%s/enc.key", dir);
  FILE *f = fopen(p3, "w");
  PEM_write_PrivateKey(f, k, EVP_aes_256_cbc(), (const unsigned char *)"pw", 2, NULL, NULL);
  fclose(f);
  chmod(p3, 0600);
  expect_load_fail(cert, p3, RT_E_INVALID, "holds no PEM private key (or it is encrypted)",
                   "encrypted key");
  snprintf(p3, sizeof p3, "%s/cert-as-key.pem", dir);
  X509 *good = read_cert(cert);
  write_certs(p3, good, NULL);
  chmod(p3, 0600);
  expect_load_fail(cert, p3, RT_E_INVALID, "holds no PEM private key", "cert as key");
  expect_load_fail(key, key, RT_E_INVALID, "holds no PEM certificate", "key as cert");
  snprintf(p3, sizeof p3, "%s/missing.pem", dir);
  expect_load_fail(p3, key, RT_E_IO, "missing.pem", "missing cert");
  expect_load_fail(cert, p3, RT_E_IO, "missing.pem", "missing key");
  expect_load_fail(cert, dir, RT_E_INVALID, "not a regular file", "directory as key");

  /* A PEM block that does not parse is not silently skipped. */
  snprintf(p3, sizeof p3, "%s/corrupt.pem", dir);
  write_certs(p3, good, NULL);
  f = fopen(p3, "a");
  fputs("-----BEGIN CERTIFICATE-----\nMIIBdGVzdA==\n-----END CERTIFICATE-----\n", f);
  fclose(f);
  expect_load_fail(p3, key, RT_E_INVALID, "certificate 2 does not parse", "corrupt second cert");

  /* Chains out of order or not a chain. */
  X509 *ica = read_cert(issuer_pem), *root = read_cert(root_pem);
  snprintf(p1, sizeof p1, "%s/tls-ca.pem", pki);
  X509 *tlsca = read_cert(p1);
  write_certs(p3, ica, tlsca);
  expect_load_fail(p3, issuer_key, RT_E_INVALID, "certificate 1 is not issued by certificate 2",
                   "wrong parent");
  write_certs(p3, root, ica);
  expect_load_fail(p3, root_key, RT_E_INVALID, "certificate 1 is not issued by certificate 2",
                   "reversed chain");
  write_certs(p3, good, root);
  expect_load_fail(p3, key, RT_OK, "", "test CA + root");

  /* Issuer key types: RSA-2048 works, RSA-1024 and Ed25519 do not. */
  EVP_PKEY *r1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
  make_ca_files("rsa1024", r1024, -60, 86400, "critical,CA:TRUE", "critical,keyCertSign", cert,
                key);
  expect_load_fail(cert, key, RT_E_INVALID, "RSA key of 1024 bits, at least 2048 required",
                   "RSA-1024 CA");
  EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  make_ca_files("ed25519", ed, -60, 86400, "critical,CA:TRUE", "critical,keyCertSign", cert, key);
  expect_load_fail(cert, key, RT_E_INVALID, "key type ED25519 not supported", "Ed25519 CA");

  X509_free(good);
  X509_free(ica);
  X509_free(root);
  X509_free(tlsca);
  EVP_PKEY_free(k);
  EVP_PKEY_free(r1024);
  EVP_PKEY_free(ed);
}

/* An RSA issuing CA signs with sha256WithRSAEncryption; validity is clamped
 * into a short-lived CA's own. */
static void test_rsa_issuer_and_clamp(void) {
  rt_err e;
  char cert[600], key[600];
  EVP_PKEY *rk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  make_ca_files("rsa-ca", rk, -60, 86400, "critical,CA:TRUE,pathlen:0",
                "critical,keyCertSign,cRLSign", cert, key);
  rt_issuer *is = NULL;
  CHECK(rt_issuer_load(cert, key, &is, &e) == RT_OK, "RSA CA: %s", e.msg);
  X509 *ca = read_cert(cert);
  EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  time_t now = time(NULL);
  if (is != NULL) {
    rt_cert_request req = base_req(ec, RT_CERT_AK, now);
    req.lifetime_seconds = 3600;
    uint8_t *der = NULL;
    size_t len = 0;
    CHECK(rt_issuer_issue(is, &req, &der, &len, &e) == RT_OK, "%s", e.msg);
    X509 *x = der_to_x509(der, len);
    size_t n;
    const rt_der *chain = rt_issuer_chain(is, &n);
    int err = 0;
    CHECK(x != NULL && verify_chain(x, chain, n, 0, &err), "RSA-issued cert: %s",
          X509_verify_cert_error_string(err));
    /* Validity clamped: the CA started 60 s ago, so no 5-minute backdate. */
    if (x != NULL) {
      CHECK(X509_get_signature_nid(x) == NID_sha256WithRSAEncryption, "RSA signature");
      CHECK(ASN1_TIME_compare(X509_get0_notBefore(x), X509_get0_notBefore(ca)) == 0,
            "notBefore not clamped to the CA's");
      CHECK(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), now + 3600) == 0, "notAfter");
    }
    X509_free(x);
    free(der);

    /* Lifetime beyond the CA's end: clamped to it. */
    req.lifetime_seconds = 720 * 3600;
    CHECK(rt_issuer_issue(is, &req, &der, &len, &e) == RT_OK, "%s", e.msg);
    x = der_to_x509(der, len);
    CHECK(x != NULL && ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(ca)) == 0,
          "notAfter not clamped to the CA's");
    X509_free(x);
    free(der);

    /* Issuing after the CA expired. */
    req.now = now + 2 * 86400;
    CHECK(rt_issuer_issue(is, &req, &der, &len, &e) == RT_E_INVALID && der == NULL,
          "issued by an expired CA");
    CHECK_STR_CONTAINS(e.msg, "the issuing CA has expired");
  }
  X509_free(ca);
  rt_issuer_free(is);
  is = NULL;

  /* A CA older than the backdate: notBefore is exactly now - 5 min. */
  make_ca_files("old-rsa-ca", rk, -10 * 86400, 30 * 86400, "critical,CA:TRUE",
                "critical,keyCertSign", cert, key);
  CHECK(rt_issuer_load(cert, key, &is, &e) == RT_OK, "old CA: %s", e.msg);
  if (is != NULL) {
    ca = read_cert(cert);
    rt_cert_request req = base_req(ec, RT_CERT_KEY, now);
    uint8_t *der = NULL;
    size_t len = 0;
    CHECK(rt_issuer_issue(is, &req, &der, &len, &e) == RT_OK, "%s", e.msg);
    X509 *x = der_to_x509(der, len);
    CHECK(x != NULL && ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), now - 300) == 0,
          "notBefore not now - 300");
    if (x != NULL)
      check_cert(x, &req, ca, NID_sha256WithRSAEncryption);
    X509_free(x);
    X509_free(ca);
    free(der);
  }
  EVP_PKEY_free(rk);
  EVP_PKEY_free(ec);
  rt_issuer_free(is);
}

static void expect_issue_fail(rt_issuer *is, const rt_cert_request *req, const char *msg,
                              const char *what) {
  rt_err e;
  uint8_t *der = (uint8_t *)1;
  size_t len = 1;
  rt_code code = rt_issuer_issue(is, req, &der, &len, &e);
  CHECK(code == RT_E_INVALID && der == NULL && len == 0, "%s: got %s", what, rt_code_name(code));
  if (code == RT_OK)
    free(der);
  else
    CHECK(strstr(e.msg, msg) != NULL, "%s: \"%s\" does not contain \"%s\"", what, e.msg, msg);
}

static void test_request_refusals(void) {
  rt_err e;
  rt_issuer *is = NULL;
  CHECK(rt_issuer_load(issuer_pem, issuer_key, &is, &e) == RT_OK, "%s", e.msg);
  if (is == NULL)
    return;
  EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  EVP_PKEY *r1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
  EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  time_t now = time(NULL);
  rt_cert_request req;

  const char *bad_hex[] = {
      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
      "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
      "0123456789abcdeg0123456789abcdef0123456789abcdef0123456789abcdef",
      "",
      NULL,
  };
  for (size_t i = 0; i < sizeof bad_hex / sizeof bad_hex[0]; i++) {
    req = base_req(ec, RT_CERT_KEY, now);
    req.ek_sha256_hex = bad_hex[i];
    expect_issue_fail(is, &req, "EK digest is not 64 lowercase hex digits", "bad EK hex");
  }

  char label64[80], long_name[300];
  memset(label64, 'a', 64);
  strcpy(label64 + 64, ".example");
  for (int i = 0; i < 254; i++)
    long_name[i] = (i % 2) ? '.' : 'a';
  long_name[254] = '\0'; /* 254 characters ending in '.'... */
  long_name[253] = 'a';  /* ...so end it with a label: 254 characters, one too many */
  const char *bad_dns[] = {
      "a..b", "-a.example", "a-.example", "a_b.example",         "x.",       ".x", "",
      "a b",  label64,      long_name,    "caf\xc3\xa9.example", "*.example"};
  for (size_t i = 0; i < sizeof bad_dns / sizeof bad_dns[0]; i++) {
    req = base_req(ec, RT_CERT_KEY, now);
    const char *one[] = {bad_dns[i]};
    req.dns_sans = one;
    req.n_dns_sans = 1;
    expect_issue_fail(is, &req, "is not a host name", bad_dns[i]);
  }
  req = base_req(ec, RT_CERT_KEY, now);
  req.dns_sans = NULL;
  req.n_dns_sans = 1;
  expect_issue_fail(is, &req, "DNS names missing", "NULL DNS list");
  /* Right at the limits is fine. */
  char label63[80];
  memset(label63, 'b', 63);
  strcpy(label63 + 63, ".example");
  const char *okdns[] = {label63, "a", "xn--bcher-kva.example", "1-2.example"};
  req = base_req(ec, RT_CERT_KEY, now);
  req.dns_sans = okdns;
  req.n_dns_sans = 4;
  uint8_t *der = NULL;
  size_t len = 0;
  CHECK(rt_issuer_issue(is, &req, &der, &len, &e) == RT_OK, "limits: %s", e.msg);
  free(der);

  char cn65[70], cn64[70];
  memset(cn65, 'c', 65);
  cn65[65] = '\0';
  memset(cn64, 'c', 64);
  cn64[64] = '\0';
  req = base_req(ec, RT_CERT_KEY, now);
  req.common_name = cn65;
  expect_issue_fail(is, &req, "subject common name", "65-character CN");
  req.common_name = "";
  expect_issue_fail(is, &req, "subject common name missing", "empty CN");
  req.common_name = NULL;
  expect_issue_fail(is, &req, "subject common name missing", "NULL CN");
  req.common_name = "bad \xff utf-8";
  expect_issue_fail(is, &req, "subject common name", "invalid UTF-8 CN");
  /* Subjects may carry platform certificate values: no control characters. */
  req.common_name = "line\nbreak";
  expect_issue_fail(is, &req, "subject common name contains a control character", "newline CN");
  req.common_name = cn64;
  req.organizational_unit = "tab\there";
  expect_issue_fail(is, &req, "subject organizational unit contains a control character", "tab OU");
  req.organizational_unit = NULL;
  req.common_name = cn64;
  req.organization = cn65;
  expect_issue_fail(is, &req, "subject organization", "65-character O");
  req.organization = NULL;
  CHECK(rt_issuer_issue(is, &req, &der, &len, &e) == RT_OK, "64-character CN: %s", e.msg);
  free(der);

  req = base_req(ec, RT_CERT_KEY, now);
  req.lifetime_seconds = 0;
  expect_issue_fail(is, &req, "lifetime 0 s is not positive", "lifetime 0");
  req = base_req(ec, (rt_cert_profile)0, now);
  expect_issue_fail(is, &req, "unknown certificate profile 0", "profile 0");
  req = base_req(NULL, RT_CERT_KEY, now);
  expect_issue_fail(is, &req, "no subject public key", "no key");
  req = base_req(r1024, RT_CERT_KEY, now);
  expect_issue_fail(is, &req, "RSA key of 1024 bits", "RSA-1024 subject");
  req = base_req(ed, RT_CERT_KEY, now);
  expect_issue_fail(is, &req, "key type ED25519 not supported", "Ed25519 subject");

  EVP_PKEY_free(ec);
  EVP_PKEY_free(r1024);
  EVP_PKEY_free(ed);
  rt_issuer_free(is);
}

/* ---- The CRL (crl.c) and the distribution point ----------------------------- */

static X509_CRL *pem_to_crl(const char *pem) {
  BIO *b = BIO_new_mem_buf(pem, -1);
  X509_CRL *crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL);
  BIO_free(b);
  return crl;
}

/* The reason code of the CRL's entry for serial (hex), -1 without one, -2
 * when the serial is not listed. */
static int entry_reason(X509_CRL *crl, const char *hex) {
  BIGNUM *bn = NULL;
  BN_hex2bn(&bn, hex);
  ASN1_INTEGER *serial = BN_to_ASN1_INTEGER(bn, NULL);
  BN_free(bn);
  X509_REVOKED *r = NULL;
  int found = X509_CRL_get0_by_serial(crl, &r, serial);
  ASN1_INTEGER_free(serial);
  if (found != 1)
    return -2;
  ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);
  int code = e != NULL ? (int)ASN1_ENUMERATED_get(e) : -1;
  ASN1_ENUMERATED_free(e);
  return code;
}

static void test_crl_content(rt_issuer *is, X509 *ca, time_t now) {
  rt_crl_entry entries[] = {{"7f01", now - 60, "keyCompromise"},
                            {"03", now - 30, "SUPERSEDED"},
                            {"4a0000000000000000000000000000ff", now - 10, "unspecified"},
                            {"0b", now - 5, "the machine was sold"}};
  rt_crl_params p = {.number = ((uint64_t)now << 32) | 4, now, now + 3600};
  char *pem = NULL;
  size_t len = 0;
  rt_err e;
  CHECK(rt_crl_build(is, entries, 4, &p, &pem, &len, &e) == RT_OK, "CRL: %s", e.msg);
  X509_CRL *crl = pem != NULL ? pem_to_crl(pem) : NULL;
  CHECK(crl != NULL && strlen(pem) == len, "CRL PEM does not parse");
  if (crl == NULL) {
    free(pem);
    return;
  }
  CHECK(X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1, "CRL signature");
  CHECK(X509_CRL_get_version(crl) == X509_CRL_VERSION_2, "CRL version");
  CHECK(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) == 0, "CRL issuer");
  CHECK(ASN1_TIME_cmp_time_t(X509_CRL_get0_lastUpdate(crl), now) == 0 &&
            ASN1_TIME_cmp_time_t(X509_CRL_get0_nextUpdate(crl), now + 3600) == 0,
        "CRL dates");
  ASN1_INTEGER *num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
  uint64_t got = 0;
  CHECK(num != NULL && ASN1_INTEGER_get_uint64(&got, num) == 1 && got == p.number, "crlNumber %llu",
        (unsigned long long)got);
  ASN1_INTEGER_free(num);
  AUTHORITY_KEYID *aki = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);
  CHECK(aki != NULL && aki->keyid != NULL &&
            ASN1_OCTET_STRING_cmp(aki->keyid, X509_get0_subject_key_id(ca)) == 0,
        "CRL AKI = the CA's SKI");
  AUTHORITY_KEYID_free(aki);
  STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED(crl);
  CHECK(sk_X509_REVOKED_num(rev) == 4, "%d entries", sk_X509_REVOKED_num(rev));
  /* RFC 5280 names, any case, get their code; other reasons none. */
  CHECK(entry_reason(crl, "7f01") == CRL_REASON_KEY_COMPROMISE, "keyCompromise");
  CHECK(entry_reason(crl, "03") == CRL_REASON_SUPERSEDED, "SUPERSEDED");
  CHECK(entry_reason(crl, "4a0000000000000000000000000000ff") == -1, "unspecified has no code");
  CHECK(entry_reason(crl, "0b") == -1, "free text has no code");
  CHECK(entry_reason(crl, "0c") == -2, "an unlisted serial is listed");
  CHECK(rt_crl_reason_code("removeFromCRL") == CRL_REASON_NONE, "removeFromCRL mapped");
  X509_CRL_free(crl);
  free(pem);
}

static void expect_crl_fail(rt_issuer *is, const rt_crl_entry *en, size_t n, const rt_crl_params *p,
                            rt_code want, const char *msg) {
  char *pem = (char *)1;
  size_t len = 1;
  rt_err e;
  rt_code code = rt_crl_build(is, en, n, p, &pem, &len, &e);
  CHECK(code == want && pem == NULL && len == 0, "%s: got %s", msg, rt_code_name(code));
  CHECK(code == RT_OK || strstr(e.msg, msg) != NULL, "\"%s\" does not say \"%s\"", e.msg, msg);
  if (code == RT_OK)
    free(pem);
}

static void test_crl_refusals(rt_issuer *is, time_t now) {
  rt_crl_params p = {1, now, now + 60};
  const char *bad_serials[] = {"", "0x12", "12g4", "-1",
                               "00000000001111111111222222222233333333334"};
  for (size_t i = 0; i < sizeof bad_serials / sizeof bad_serials[0]; i++) {
    rt_crl_entry en = {bad_serials[i], now, NULL};
    expect_crl_fail(is, &en, 1, &p, RT_E_INVALID, "is not 1-40 hex digits");
  }
  rt_crl_params backwards = {1, now, now};
  expect_crl_fail(is, NULL, 0, &backwards, RT_E_INVALID, "nextUpdate is not after thisUpdate");
  /* A CA whose KeyUsage lacks cRLSign: relying parties would refuse its CRLs. */
  char cert[600], key[600];
  EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  make_ca_files("no-crlsign", k, -60, 86400, "critical,CA:TRUE", "critical,keyCertSign", cert, key);
  rt_issuer *nocrl = NULL;
  rt_err e;
  CHECK(rt_issuer_load(cert, key, &nocrl, &e) == RT_OK, "CA without cRLSign: %s", e.msg);
  if (nocrl != NULL)
    expect_crl_fail(nocrl, NULL, 0, &p, RT_E_INVALID, "lacks cRLSign");
  rt_issuer_free(nocrl);
  EVP_PKEY_free(k);
}

/* --crl-url: a CDP with exactly the URL in every certificate; bad URLs. */
static void test_cdp(rt_issuer *is, time_t now) {
  rt_err e;
  const char *bad[] = {"ftp://x/crl",
                       "http://",
                       "http://a b",
                       "http://a\x7f",
                       "HTTP//x",
                       "",
                       "http://\xc3\xa9.example/crl"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK(rt_issuer_set_crl_url(is, bad[i], &e) == RT_E_INVALID && strstr(e.msg, "--crl-url"),
          "URL %zu accepted", i);
  char longurl[1100] = "http://x/";
  memset(longurl + 9, 'a', 1020);
  longurl[1029] = '\0';
  CHECK(rt_issuer_crl_url_check(longurl, &e) == RT_E_INVALID, "a 1029-character URL accepted");
  const char *url = "http://crl.example.com/rattest.crl";
  CHECK(rt_issuer_set_crl_url(is, url, &e) == RT_OK, "%s", e.msg);
  EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  rt_cert_request req = base_req(k, RT_CERT_KEY, now);
  uint8_t *der = NULL;
  size_t len = 0;
  CHECK(rt_issuer_issue(is, &req, &der, &len, &e) == RT_OK, "%s", e.msg);
  X509 *x = der != NULL ? der_to_x509(der, len) : NULL;
  int crit = -1;
  CRL_DIST_POINTS *cdps = x ? X509_get_ext_d2i(x, NID_crl_distribution_points, &crit, NULL) : NULL;
  DIST_POINT *dp = cdps && sk_DIST_POINT_num(cdps) == 1 ? sk_DIST_POINT_value(cdps, 0) : NULL;
  GENERAL_NAMES *names =
      dp && dp->distpoint && dp->distpoint->type == 0 ? dp->distpoint->name.fullname : NULL;
  GENERAL_NAME *gn =
      names && sk_GENERAL_NAME_num(names) == 1 ? sk_GENERAL_NAME_value(names, 0) : NULL;
  CHECK(gn != NULL && gn->type == GEN_URI && crit == 0 &&
            strcmp((const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier), url) ==
                0 &&
            dp->reasons == NULL && dp->CRLissuer == NULL,
        "CDP is not one full name with the URL");
  CHECK(x != NULL && X509_get_ext_count(x) == 7, "extensions with a CDP: %d",
        x ? X509_get_ext_count(x) : -1);
  CRL_DIST_POINTS_free(cdps);
  X509_free(x);
  free(der);
  EVP_PKEY_free(k);
}

static void test_crl(void) {
  rt_err e;
  rt_issuer *is = NULL;
  CHECK(rt_issuer_load(issuer_pem, issuer_key, &is, &e) == RT_OK, "%s", e.msg);
  X509 *ca = read_cert(issuer_pem);
  time_t now = time(NULL);
  if (is != NULL && ca != NULL) {
    test_crl_content(is, ca, now);
    test_crl_refusals(is, now);
    test_cdp(is, now);
  }
  X509_free(ca);
  rt_issuer_free(is);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_issuer PKI_DIR\n");
    return 2;
  }
  snprintf(pki, sizeof pki, "%s", argv[1]);
  snprintf(issuer_pem, sizeof issuer_pem, "%s/issuer.pem", pki);
  snprintf(issuer_key, sizeof issuer_key, "%s/issuer.key", pki);
  snprintf(chain_pem, sizeof chain_pem, "%s/issuer-chain.pem", pki);
  snprintf(root_pem, sizeof root_pem, "%s/issuer-root.pem", pki);
  snprintf(root_key, sizeof root_key, "%s/issuer-root.key", pki);
  snprintf(dir, sizeof dir, "/tmp/rt_test_issuer.XXXXXX");
  if (mkdtemp(dir) == NULL)
    return 2;
  test_issue();
  test_serials();
  test_load_refusals();
  test_rsa_issuer_and_clamp();
  test_request_refusals();
  test_crl();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return rt_test_done("test_issuer");
}
