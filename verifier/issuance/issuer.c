#include "issuer.h"

#include "rt_asn1_time.h"
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cert_exts.h"
#include "rt_file.h"
#include "rt_spki.h"

/* PEM files this large are not a CA certificate chain or key. */
#define MAX_PEM_FILE (1024u * 1024u)
#define MAX_DNS_NAME 253
#define MIN_RSA_BITS 2048

struct rt_issuer {
  X509 *cert;
  EVP_PKEY *key;
  rt_der *chain;
  size_t n_chain;
  char *crl_url;      /* rt_issuer_set_crl_url: the CDP of every certificate */
  rt_cert_exts *exts; /* the fixed extensions, built at load */
};

/* The last OpenSSL error as text, so a message says why OpenSSL refused. */
static const char *ossl_reason(char *buf, size_t len) {
  unsigned long e = ERR_peek_last_error();
  if (e == 0)
    snprintf(buf, len, "no OpenSSL detail");
  else
    ERR_error_string_n(e, buf, len);
  ERR_clear_error();
  return buf;
}

/* Encrypted keys are refused instead of prompting on a terminal the
 * verifier does not have. */
static int no_passphrase(char *buf, int size, int rwflag, void *u) {
  (void)buf;
  (void)size;
  (void)rwflag;
  (void)u;
  return -1;
}

static rt_code load_certs(const char *path, STACK_OF(X509) * *out, rt_err *err) {
  *out = NULL;
  uint8_t *pem = NULL;
  size_t len = 0;
  rt_code code = rt_file_read(path, MAX_PEM_FILE, &pem, &len, err);
  if (code != RT_OK)
    return rt_err_prefix(err, "issuer certificate: ");
  STACK_OF(X509) *certs = sk_X509_new_null();
  BIO *bio = BIO_new_mem_buf(pem, (int)len);
  if (certs == NULL || bio == NULL) {
    code = rt_err_set(err, RT_E_NOMEM, "issuer certificate: out of memory");
    goto done;
  }
  ERR_clear_error();
  for (;;) {
    X509 *x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
    if (x == NULL) {
      /* "no start line" is the normal end of the file; anything else is a
       * PEM block that does not parse, which must not be skipped. */
      unsigned long e = ERR_peek_last_error();
      if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
        break;
      }
      char why[256];
      code =
          rt_err_set(err, RT_E_INVALID, "issuer certificate %s: certificate %d does not parse: %s",
                     path, sk_X509_num(certs) + 1, ossl_reason(why, sizeof why));
      goto done;
    }
    if (sk_X509_push(certs, x) <= 0) {
      X509_free(x);
      code = rt_err_set(err, RT_E_NOMEM, "issuer certificate: out of memory");
      goto done;
    }
  }
  if (sk_X509_num(certs) == 0)
    code = rt_err_set(err, RT_E_INVALID, "issuer certificate %s holds no PEM certificate", path);
done:
  BIO_free(bio);
  free(pem);
  if (code != RT_OK) {
    sk_X509_pop_free(certs, X509_free);
    return code;
  }
  *out = certs;
  return RT_OK;
}

static rt_code load_key(const char *path, EVP_PKEY **out, rt_err *err) {
  *out = NULL;
  int fd;
  rt_code code = rt_file_open_private(path, "issuer key", MAX_PEM_FILE, &fd, err);
  if (code != RT_OK)
    return code;
  /* Read straight from the descriptor: the PEM text of the CA key is never
   * copied into a buffer of ours that would need wiping. */
  BIO *bio = BIO_new_fd(fd, BIO_CLOSE);
  if (bio == NULL) {
    close(fd);
    return rt_err_set(err, RT_E_NOMEM, "issuer key: out of memory");
  }
  ERR_clear_error();
  EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
  BIO_free(bio);
  ERR_clear_error();
  if (key == NULL)
    return rt_err_set(err, RT_E_INVALID,
                      "issuer key %s holds no PEM private key (or it is encrypted)", path);
  *out = key;
  return RT_OK;
}

/* EC (any named curve OpenSSL signs with) or RSA of at least 2048 bits. */
static rt_code check_key_type(EVP_PKEY *key, const char *what, rt_err *err) {
  if (EVP_PKEY_is_a(key, "EC"))
    return RT_OK;
  if (EVP_PKEY_is_a(key, "RSA")) {
    if (EVP_PKEY_get_bits(key) < MIN_RSA_BITS)
      return rt_err_set(err, RT_E_INVALID, "%s: RSA key of %d bits, at least %d required", what,
                        EVP_PKEY_get_bits(key), MIN_RSA_BITS);
    return RT_OK;
  }
  return rt_err_set(err, RT_E_INVALID, "%s: key type %s not supported (EC or RSA)", what,
                    EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "unknown");
}

static rt_code check_ca(X509 *cert, const char *path, rt_err *err) {
  uint32_t flags = X509_get_extension_flags(cert);
  if (flags & EXFLAG_INVALID)
    return rt_err_set(err, RT_E_INVALID, "issuer certificate %s has invalid extensions", path);
  if (!(flags & EXFLAG_BCONS) || !(flags & EXFLAG_CA))
    return rt_err_set(err, RT_E_INVALID,
                      "issuer certificate %s is not a CA (BasicConstraints CA:TRUE missing)", path);
  /* Required explicitly: without a KeyUsage extension every usage would be
   * implied, and a CA certificate that does not say keyCertSign was not
   * meant to sign certificates. */
  if (!(flags & EXFLAG_KUSAGE) || !(X509_get_key_usage(cert) & KU_KEY_CERT_SIGN))
    return rt_err_set(err, RT_E_INVALID,
                      "issuer certificate %s is not a CA (KeyUsage keyCertSign missing)", path);
  /* Every certificate it issues names it by this (AKI keyid). */
  if (X509_get0_subject_key_id(cert) == NULL)
    return rt_err_set(err, RT_E_INVALID, "issuer certificate %s has no subjectKeyIdentifier", path);
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0)
    return rt_err_set(err, RT_E_INVALID, "issuer certificate %s has expired", path);
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0)
    return rt_err_set(err, RT_E_INVALID, "issuer certificate %s is not valid yet", path);
  return RT_OK;
}

/* Each certificate must be issued by the next, so that what Finish returns
 * as the chain really is one. */
static rt_code check_order(STACK_OF(X509) * certs, const char *path, rt_err *err) {
  for (int i = 0; i + 1 < sk_X509_num(certs); i++) {
    X509 *child = sk_X509_value(certs, i), *parent = sk_X509_value(certs, i + 1);
    EVP_PKEY *pk = X509_get0_pubkey(parent);
    if (X509_check_issued(parent, child) != X509_V_OK || pk == NULL ||
        X509_verify(child, pk) != 1) {
      ERR_clear_error();
      return rt_err_set(err, RT_E_INVALID,
                        "issuer certificate %s: certificate %d is not issued by certificate %d "
                        "(the issuing CA comes first, then its chain toward the root)",
                        path, i + 1, i + 2);
    }
  }
  return RT_OK;
}

/* The key signs what the certificate's key verifies: issuing relies on it
 * (sign) instead of verifying each certificate it signs. The key matching
 * the certificate is not enough: a broken provider could still sign
 * wrong. */
static rt_code self_test(const rt_issuer *is, const char *key_file, rt_err *err) {
  static const unsigned char msg[] = "rattest issuer self-test";
  size_t sig_len = (size_t)EVP_PKEY_get_size(is->key);
  unsigned char *sig = malloc(sig_len ? sig_len : 1);
  EVP_MD_CTX *s = EVP_MD_CTX_new(), *v = EVP_MD_CTX_new();
  int ok = sig != NULL && s != NULL && v != NULL &&
           EVP_DigestSignInit_ex(s, NULL, "sha256", NULL, NULL, is->key, NULL) == 1 &&
           EVP_DigestSign(s, sig, &sig_len, msg, sizeof msg) == 1 &&
           EVP_DigestVerifyInit_ex(v, NULL, "sha256", NULL, NULL, X509_get0_pubkey(is->cert),
                                   NULL) == 1 &&
           EVP_DigestVerify(v, sig, sig_len, msg, sizeof msg) == 1;
  EVP_MD_CTX_free(s);
  EVP_MD_CTX_free(v);
  free(sig);
  if (ok)
    return RT_OK;
  char why[256];
  return rt_err_set(err, RT_E_CRYPTO,
                    "issuer key %s: a test signature does not verify with the certificate: %s",
                    key_file, ossl_reason(why, sizeof why));
}

/* The key is the certificate's, of a type we issue with, and signs. */
static rt_code check_key(const rt_issuer *is, const char *cert_file, const char *key_file,
                         rt_err *err) {
  if (X509_check_private_key(is->cert, is->key) != 1) {
    ERR_clear_error();
    return rt_err_set(err, RT_E_INVALID, "issuer key %s does not match issuer certificate %s",
                      key_file, cert_file);
  }
  rt_code code = check_key_type(is->key, "issuer key", err);
  return code == RT_OK ? self_test(is, key_file, err) : code;
}

void rt_issuer_free(rt_issuer *is) {
  if (is == NULL)
    return;
  X509_free(is->cert);
  EVP_PKEY_free(is->key);
  for (size_t i = 0; i < is->n_chain; i++)
    free((void *)is->chain[i].data);
  free(is->chain);
  free(is->crl_url);
  rt_cert_exts_free(is->exts);
  free(is);
}

rt_code rt_issuer_load(const char *cert_file, const char *key_file, rt_issuer **out, rt_err *err) {
  *out = NULL;
  STACK_OF(X509) *certs = NULL;
  rt_issuer *is = calloc(1, sizeof *is);
  if (is == NULL)
    return rt_err_set(err, RT_E_NOMEM, "issuer: out of memory");
  rt_code code = load_certs(cert_file, &certs, err);
  if (code == RT_OK)
    code = load_key(key_file, &is->key, err);
  if (code != RT_OK)
    goto done;
  is->cert = X509_dup(sk_X509_value(certs, 0));
  if (is->cert == NULL) {
    code = rt_err_set(err, RT_E_NOMEM, "issuer: out of memory");
    goto done;
  }
  code = check_key(is, cert_file, key_file, err);
  if (code == RT_OK)
    code = check_ca(is->cert, cert_file, err);
  if (code == RT_OK)
    code = check_order(certs, cert_file, err);
  if (code == RT_OK)
    code = rt_cert_exts_new(is->cert, &is->exts, err);
  if (code != RT_OK)
    goto done;

  is->chain = calloc((size_t)sk_X509_num(certs), sizeof *is->chain);
  if (is->chain == NULL) {
    code = rt_err_set(err, RT_E_NOMEM, "issuer: out of memory");
    goto done;
  }
  for (int i = 0; i < sk_X509_num(certs); i++) {
    unsigned char *der = NULL;
    int len = i2d_X509(sk_X509_value(certs, i), &der);
    uint8_t *copy = len > 0 ? malloc((size_t)len) : NULL;
    if (copy != NULL)
      memcpy(copy, der, (size_t)len);
    OPENSSL_free(der);
    if (copy == NULL) {
      code = rt_err_set(err, RT_E_CRYPTO, "issuer certificate %s: DER encoding failed", cert_file);
      goto done;
    }
    is->chain[is->n_chain].data = copy;
    is->chain[is->n_chain].len = (size_t)len;
    is->n_chain++;
  }
done:
  ERR_clear_error();
  sk_X509_pop_free(certs, X509_free);
  if (code != RT_OK) {
    rt_issuer_free(is);
    return code;
  }
  *out = is;
  return RT_OK;
}

const rt_der *rt_issuer_chain(const rt_issuer *is, size_t *n) {
  *n = is->n_chain;
  return is->chain;
}

int64_t rt_issuer_not_after(const rt_issuer *is) {
  time_t t = 0;
  (void)rt_asn1_time_unix(X509_get0_notAfter(is->cert), &t);
  return (int64_t)t;
}

/* ---- Issuing ----------------------------------------------------------------- */

/* RFC 1035 preferred name syntax: LDH labels of 1..63 characters, neither
 * starting nor ending with '-', at most 253 characters, no trailing dot. */
static int dns_name_ok(const char *s) {
  size_t len = strlen(s), label = 0;
  if (len == 0 || len > MAX_DNS_NAME)
    return 0;
  for (size_t i = 0; i <= len; i++) {
    char c = s[i];
    if (c == '.' || c == '\0') {
      if (label == 0 || label > 63 || s[i - 1] == '-')
        return 0;
      label = 0;
      continue;
    }
    int ldh =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ldh || (label == 0 && c == '-'))
      return 0;
    label++;
  }
  return 1;
}

static int ek_hex_ok(const char *s) {
  if (s == NULL || strlen(s) != 64)
    return 0;
  /* Lowercase only: one EK, one URN, so that URNs compare as strings. */
  for (size_t i = 0; i < 64; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return 1;
}

/* Subject values come from templates filled with identity names and with
 * what a platform certificate says: control characters (which could fake
 * lines in logs and tools printing the subject) are refused, and the
 * length is X.509's upper bound (ub-common-name etc.: 64 characters). */
static rt_code check_name_field(const char *label, const char *v, rt_err *err) {
  size_t chars = 0;
  for (const unsigned char *c = (const unsigned char *)v; *c != '\0'; c++) {
    if (*c < 0x20 || *c == 0x7f)
      return rt_err_set(err, RT_E_INVALID, "issuing: subject %s contains a control character",
                        label);
    if ((*c & 0xc0) != 0x80) /* count UTF-8 characters, not bytes */
      chars++;
  }
  if (chars > 64)
    return rt_err_set(err, RT_E_INVALID, "issuing: subject %s is longer than 64 characters", label);
  return RT_OK;
}

static rt_code check_request(const rt_cert_request *req, rt_err *err) {
  if (req->profile != RT_CERT_KEY && req->profile != RT_CERT_AK)
    return rt_err_set(err, RT_E_INVALID, "issuing: unknown certificate profile %d",
                      (int)req->profile);
  if (req->public_key == NULL)
    return rt_err_set(err, RT_E_INVALID, "issuing: no subject public key");
  rt_code code = check_key_type(req->public_key, "issuing: subject key", err);
  if (code != RT_OK)
    return code;
  if (req->common_name == NULL || req->common_name[0] == '\0')
    return rt_err_set(err, RT_E_INVALID, "issuing: subject common name missing");
  const char *labels[] = {"common name", "organization", "organizational unit"};
  const char *values[] = {req->common_name, req->organization, req->organizational_unit};
  for (size_t i = 0; i < 3; i++)
    if (values[i] != NULL && (code = check_name_field(labels[i], values[i], err)) != RT_OK)
      return code;
  if (!ek_hex_ok(req->ek_sha256_hex))
    return rt_err_set(err, RT_E_INVALID, "issuing: EK digest is not 64 lowercase hex digits");
  if (req->n_dns_sans > 0 && req->dns_sans == NULL)
    return rt_err_set(err, RT_E_INVALID, "issuing: DNS names missing");
  for (size_t i = 0; i < req->n_dns_sans; i++)
    if (req->dns_sans[i] == NULL || !dns_name_ok(req->dns_sans[i]))
      return rt_err_set(err, RT_E_INVALID, "issuing: DNS name %zu \"%.64s\" is not a host name", i,
                        req->dns_sans[i] ? req->dns_sans[i] : "");
  if (req->lifetime_seconds <= 0)
    return rt_err_set(err, RT_E_INVALID, "issuing: lifetime %lld s is not positive",
                      (long long)req->lifetime_seconds);
  return RT_OK;
}

/* The serial, and its hex in serial_hex (for the audit line and the
 * registry, which would otherwise parse the new certificate again). */
static rt_code set_serial(X509 *x, char serial_hex[RT_ISSUER_SERIAL_HEX], rt_err *err) {
  unsigned char buf[RT_ISSUER_SERIAL_LEN];
  if (RAND_bytes(buf, sizeof buf) != 1)
    return rt_err_set(err, RT_E_CRYPTO, "issuing: RAND_bytes failed for the serial");
  /* Positive (RFC 5280 4.1.2.2) and always 16 bytes long: 126 random bits,
   * far above the CA/Browser Forum's 64. */
  buf[0] = (unsigned char)((buf[0] & 0x7f) | 0x40);
  BIGNUM *bn = BN_bin2bn(buf, sizeof buf, NULL);
  char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
  int ok = hex != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
  if (ok)
    snprintf(serial_hex, RT_ISSUER_SERIAL_HEX, "%s", hex);
  OPENSSL_free(hex);
  BN_free(bn);
  return ok ? RT_OK : rt_err_set(err, RT_E_CRYPTO, "issuing: cannot set the serial");
}

static rt_code set_validity(X509 *x, const rt_issuer *is, const rt_cert_request *req, rt_err *err) {
  time_t now = req->now;
  const ASN1_TIME *ca_nb = X509_get0_notBefore(is->cert), *ca_na = X509_get0_notAfter(is->cert);
  if (X509_cmp_time(ca_na, &now) <= 0)
    return rt_err_set(err, RT_E_INVALID, "issuing: the issuing CA has expired");
  time_t nb = now - RT_ISSUER_BACKDATE_SECONDS;
  time_t na = now + (time_t)req->lifetime_seconds;
  if (na < now) /* overflow */
    return rt_err_set(err, RT_E_INVALID, "issuing: lifetime too large");
  int ok;
  /* Clamp into the CA's validity: a certificate outliving its issuer fails
   * validation from then on anyway, and saying so in the certificate lets
   * the machine renew in time. */
  if (X509_cmp_time(ca_nb, &nb) > 0)
    ok = X509_set1_notBefore(x, ca_nb);
  else
    ok = ASN1_TIME_set(X509_getm_notBefore(x), nb) != NULL;
  if (ok && X509_cmp_time(ca_na, &na) < 0)
    ok = X509_set1_notAfter(x, ca_na);
  else if (ok)
    ok = ASN1_TIME_set(X509_getm_notAfter(x), na) != NULL;
  return ok ? RT_OK : rt_err_set(err, RT_E_CRYPTO, "issuing: cannot set the validity");
}

static rt_code set_subject(X509 *x, const rt_cert_request *req, rt_err *err) {
  X509_NAME *name = X509_NAME_new();
  if (name == NULL)
    return rt_err_set(err, RT_E_NOMEM, "issuing: out of memory");
  static const struct {
    int nid;
    const char *label;
  } fields[] = {{NID_organizationName, "organization"},
                {NID_organizationalUnitName, "organizational unit"},
                {NID_commonName, "common name"}};
  const char *values[] = {req->organization, req->organizational_unit, req->common_name};
  rt_code code = RT_OK;
  for (size_t i = 0; i < 3 && code == RT_OK; i++) {
    if (values[i] == NULL)
      continue;
    /* OpenSSL enforces the X.509 upper bounds (64 characters) and UTF-8
     * validity here. */
    if (X509_NAME_add_entry_by_NID(name, fields[i].nid, MBSTRING_UTF8,
                                   (const unsigned char *)values[i], -1, -1, 0) != 1) {
      char why[256];
      code = rt_err_set(err, RT_E_INVALID, "issuing: subject %s \"%.80s\" refused: %s",
                        fields[i].label, values[i], ossl_reason(why, sizeof why));
    }
  }
  if (code == RT_OK && X509_set_subject_name(x, name) != 1)
    code = rt_err_set(err, RT_E_CRYPTO, "issuing: cannot set the subject");
  X509_NAME_free(name);
  return code;
}

static int push_name(GENERAL_NAMES *gens, int type, const char *value) {
  GENERAL_NAME *gn = GENERAL_NAME_new();
  ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
  if (gn == NULL || ia5 == NULL || ASN1_STRING_set(ia5, value, -1) != 1) {
    GENERAL_NAME_free(gn);
    ASN1_IA5STRING_free(ia5);
    return 0;
  }
  GENERAL_NAME_set0_value(gn, type, ia5);
  if (sk_GENERAL_NAME_push(gens, gn) <= 0) {
    GENERAL_NAME_free(gn);
    return 0;
  }
  return 1;
}

/* Built from GENERAL_NAME values, not from a "URI:...,DNS:..." config
 * string, so that no caller-supplied text is ever parsed as config. */
static rt_code add_san(X509 *x, const rt_cert_request *req, rt_err *err) {
  char urn[sizeof RT_ISSUER_EK_URN_PREFIX + 64];
  snprintf(urn, sizeof urn, "%s%s", RT_ISSUER_EK_URN_PREFIX, req->ek_sha256_hex);
  GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
  int ok = gens != NULL && push_name(gens, GEN_URI, urn);
  for (size_t i = 0; ok && i < req->n_dns_sans; i++)
    ok = push_name(gens, GEN_DNS, req->dns_sans[i]);
  /* Not critical: the subject name is not empty (RFC 5280 4.2.1.6). */
  ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
  GENERAL_NAMES_free(gens);
  return ok ? RT_OK : rt_err_set(err, RT_E_CRYPTO, "issuing: cannot add subjectAltName");
}

/* crlDistributionPoints with one full name, the URI (RFC 5280 4.2.1.13):
 * built from its structures, as the SAN is, so the URL is never parsed as
 * config. Not critical. */
static rt_code add_cdp(X509 *x, const char *url, rt_err *err) {
  CRL_DIST_POINTS *cdps = sk_DIST_POINT_new_null();
  DIST_POINT *dp = DIST_POINT_new();
  DIST_POINT_NAME *dpn = DIST_POINT_NAME_new();
  GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
  int ok = cdps != NULL && dp != NULL && dpn != NULL && names != NULL &&
           push_name(names, GEN_URI, url) && sk_DIST_POINT_push(cdps, dp) > 0;
  if (ok) {
    dpn->type = 0; /* fullName */
    dpn->name.fullname = names;
    dp->distpoint = dpn;
    names = NULL;
    dpn = NULL;
    dp = NULL;
    ok = X509_add1_ext_i2d(x, NID_crl_distribution_points, cdps, 0, X509V3_ADD_DEFAULT) == 1;
  }
  GENERAL_NAMES_free(names);
  DIST_POINT_NAME_free(dpn);
  DIST_POINT_free(dp);
  CRL_DIST_POINTS_free(cdps);
  return ok ? RT_OK : rt_err_set(err, RT_E_CRYPTO, "issuing: cannot add crlDistributionPoints");
}

/* Version, issuer, key, serial, validity and subject. */
static rt_code set_fields(X509 *x, const rt_issuer *is, const rt_cert_request *req, rt_issued *out,
                          rt_err *err) {
  rt_code code = RT_OK;
  /* rt_spki: X509_set_pubkey would cost more than the signature. */
  if (X509_set_version(x, X509_VERSION_3) != 1 ||
      X509_set_issuer_name(x, X509_get_subject_name(is->cert)) != 1 ||
      rt_spki_set_cert_key(x, req->public_key) != 1)
    code = rt_err_set(err, RT_E_CRYPTO, "issuing: cannot set version, issuer or key");
  if (code == RT_OK)
    code = set_serial(x, out->serial_hex, err);
  if (code == RT_OK)
    code = set_validity(x, is, req, err);
  if (code == RT_OK)
    code = set_subject(x, req, err);
  if (code == RT_OK) {
    time_t na = 0;
    (void)rt_asn1_time_unix(X509_get0_notAfter(x), &na);
    out->not_after = (int64_t)na;
  }
  return code;
}

/* After set_fields: the SKI is the hash of the key set there. */
static rt_code set_extensions(X509 *x, const rt_issuer *is, const rt_cert_request *req,
                              rt_err *err) {
  rt_code code = rt_cert_exts_add(is->exts, x, req->profile == RT_CERT_AK, req->server_auth, err);
  if (code == RT_OK)
    code = add_san(x, req, err);
  if (code == RT_OK && is->crl_url != NULL)
    code = add_cdp(x, is->crl_url, err);
  return code;
}

/* The signature is not verified again here (that cost as much as making
 * it). What such a check guards against: a key that does not sign what the
 * certificate's key verifies is refused at load (self_test); an RSA-CRT
 * result computed wrong, which could leak the key if published, never
 * leaves OpenSSL, whose RSA private operation checks its result with the
 * public exponent and recomputes it on a mismatch; what remains is a
 * hardware fault in this process during an ECDSA signature, which no
 * client can cause (the threat model's attackers are remote), and whose
 * certificate would not verify. */
static rt_code sign(X509 *x, const rt_issuer *is, rt_err *err) {
  if (X509_sign(x, is->key, EVP_sha256()) <= 0) {
    char why[256];
    return rt_err_set(err, RT_E_CRYPTO, "issuing: signing failed: %s",
                      ossl_reason(why, sizeof why));
  }
  return RT_OK;
}

/* The certificate's DER in memory the caller frees with free(). */
static rt_code encode_der(X509 *x, uint8_t **der, size_t *der_len, rt_err *err) {
  rt_code code = RT_OK;
  unsigned char *buf = NULL;
  int len = i2d_X509(x, &buf);
  if (len > 0 && (*der = malloc((size_t)len)) != NULL) {
    memcpy(*der, buf, (size_t)len);
    *der_len = (size_t)len;
  } else {
    code = rt_err_set(err, RT_E_CRYPTO, "issuing: DER encoding failed");
  }
  OPENSSL_free(buf);
  return code;
}

rt_code rt_issuer_issue(const rt_issuer *is, const rt_cert_request *req, uint8_t **der,
                        size_t *der_len, rt_err *err) {
  return rt_issuer_issue_info(is, req, der, der_len, NULL, err);
}

rt_code rt_issuer_issue_info(const rt_issuer *is, const rt_cert_request *req, uint8_t **der,
                             size_t *der_len, rt_issued *info, rt_err *err) {
  *der = NULL;
  *der_len = 0;
  rt_issued unused;
  if (info == NULL)
    info = &unused;
  memset(info, 0, sizeof *info);
  rt_code code = check_request(req, err);
  if (code != RT_OK)
    return code;
  X509 *x = X509_new();
  if (x == NULL)
    return rt_err_set(err, RT_E_NOMEM, "issuing: out of memory");
  code = set_fields(x, is, req, info, err);
  if (code == RT_OK)
    code = set_extensions(x, is, req, err);
  if (code == RT_OK)
    code = sign(x, is, err);
  if (code == RT_OK)
    code = encode_der(x, der, der_len, err);
  ERR_clear_error();
  X509_free(x);
  if (code != RT_OK)
    memset(info, 0, sizeof *info);
  return code;
}

/* ---- Revocation (crl.c) ------------------------------------------------------ */

#define MAX_CRL_URL 1024

rt_code rt_issuer_crl_url_check(const char *url, rt_err *err) {
  size_t n = url != NULL ? strlen(url) : 0;
  bool scheme =
      url != NULL && (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0);
  if (!scheme || n > MAX_CRL_URL || n <= strlen("https://"))
    return rt_err_set(err, RT_E_INVALID,
                      "--crl-url must be an http:// or https:// URL of at most %d "
                      "characters",
                      MAX_CRL_URL);
  for (size_t i = 0; i < n; i++)
    if (url[i] <= 0x20 || url[i] >= 0x7f)
      return rt_err_set(err, RT_E_INVALID,
                        "--crl-url: character %zu is a space, a control or not ASCII", i + 1);
  return RT_OK;
}

rt_code rt_issuer_set_crl_url(rt_issuer *is, const char *url, rt_err *err) {
  if (rt_issuer_crl_url_check(url, err) != RT_OK)
    return err->code;
  char *copy = strdup(url);
  if (copy == NULL)
    return rt_err_set(err, RT_E_NOMEM, "issuer: out of memory");
  free(is->crl_url);
  is->crl_url = copy;
  return RT_OK;
}

rt_code rt_issuer_crl_sign(const rt_issuer *is, X509_CRL *crl, rt_err *err) {
  /* Relying parties refuse a CRL whose issuer's KeyUsage lacks cRLSign
   * (RFC 5280 4.2.1.3): say so here rather than publish one. */
  if (!(X509_get_key_usage(is->cert) & KU_CRL_SIGN))
    return rt_err_set(err, RT_E_INVALID,
                      "CRL: the issuer certificate's KeyUsage lacks cRLSign: it cannot sign CRLs");
  X509V3_CTX ctx;
  /* AKI keyid = the CA's SKI, as in the certificates: RFC 5280 5.2.1
   * requires it in a CRL. */
  X509V3_set_ctx(&ctx, is->cert, NULL, NULL, crl, 0);
  X509_EXTENSION *aki =
      X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
  int ok = aki != NULL && X509_CRL_set_issuer_name(crl, X509_get_subject_name(is->cert)) == 1 &&
           X509_CRL_add_ext(crl, aki, -1) == 1;
  X509_EXTENSION_free(aki);
  char why[256];
  if (!ok)
    return rt_err_set(err, RT_E_CRYPTO, "CRL: cannot set the issuer: %s",
                      ossl_reason(why, sizeof why));
  if (X509_CRL_sign(crl, is->key, EVP_sha256()) <= 0)
    return rt_err_set(err, RT_E_CRYPTO, "CRL: signing failed: %s", ossl_reason(why, sizeof why));
  /* As for certificates: a faulty signature does not leave the verifier. */
  if (X509_CRL_verify(crl, X509_get0_pubkey(is->cert)) != 1)
    return rt_err_set(err, RT_E_CRYPTO, "CRL: the new CRL's signature does not verify");
  return RT_OK;
}
