/* The identity issuing CA: loads --issuer-cert / --issuer-key and issues the
 * X.509 v3 certificates Finish returns, one for the TPM-resident key and one
 * for the AK, all built and signed by OpenSSL.
 *
 * Both profiles share: version 3; a 16-byte random serial (RAND_bytes, top
 * bit cleared so it is positive, next bit set so it always encodes in 16
 * bytes: 126 random bits); issuer = the CA's subject; subject from the
 * request (O, OU, CN); notBefore = now - 5 min (clock skew), notAfter = now
 * + lifetime, both clamped into the CA's own validity so no certificate
 * outlives its issuer; BasicConstraints CA:FALSE (critical); KeyUsage
 * digitalSignature (critical); SAN URI urn:rattest:ek:sha256:<hex> plus the
 * request's DNS names; SKI (SHA-1 of the public key, RFC 5280 method 1); AKI
 * keyid = the CA's SKI; signature SHA-256 with the CA key (ECDSA or RSA
 * PKCS#1 v1.5); with rt_issuer_set_crl_url, a crlDistributionPoints. They
 * differ in the EKU: clientAuth for the key, 2.23.133.8.3
 * (tcg-kp-AIKCertificate) for the AK.
 *
 * The fixed extensions are built once at load (cert_exts.h); the CA
 * certificate must have a subjectKeyIdentifier. A loaded issuer is
 * read-only: any number of threads may issue at once. */
#ifndef RT_VERIFIER_ISSUER_H
#define RT_VERIFIER_ISSUER_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "rt_err.h"

/* Clock skew tolerated for a machine checking its new certificate. */
#define RT_ISSUER_BACKDATE_SECONDS 300
#define RT_ISSUER_SERIAL_LEN 16
/* The serial in hex (uppercase, as BN_bn2hex), with its NUL. */
#define RT_ISSUER_SERIAL_HEX (2 * RT_ISSUER_SERIAL_LEN + 1)
#define RT_ISSUER_EKU_AK "2.23.133.8.3"
#define RT_ISSUER_EK_URN_PREFIX "urn:rattest:ek:sha256:"

typedef struct rt_issuer rt_issuer;

/* A DER certificate owned by the issuer. */
typedef struct {
  const uint8_t *data;
  size_t len;
} rt_der;

/* Loads the issuing CA. cert_file: PEM, the issuing CA's certificate first,
 * optionally followed by its chain toward the root, each certificate issued
 * by the next. key_file: PEM private key (unencrypted), not accessible by
 * group or others. Refuses (RT_E_INVALID, naming the file) a key that does
 * not match the certificate, a certificate that is not a CA
 * (BasicConstraints CA:TRUE and KeyUsage keyCertSign both required), one
 * without a subjectKeyIdentifier, one outside its validity period, a chain out of order, and keys
 * other than EC or RSA >= 2048 bits. */
rt_code rt_issuer_load(const char *cert_file, const char *key_file, rt_issuer **out, rt_err *err);

void rt_issuer_free(rt_issuer *issuer);

/* The chain for FinishResponse.ca_chain: the issuing CA first, then the rest
 * of cert_file in order (up to the root when the file includes it). Owned by
 * the issuer; *n receives the count. */
const rt_der *rt_issuer_chain(const rt_issuer *issuer, size_t *n);

/* When the issuing CA certificate expires, Unix time (0 if unreadable). */
int64_t rt_issuer_not_after(const rt_issuer *issuer);

typedef enum {
  RT_CERT_KEY = 1, /* the TPM-resident key: EKU clientAuth */
  RT_CERT_AK = 2,  /* the attestation key: EKU tcg-kp-AIKCertificate */
} rt_cert_profile;

typedef struct {
  rt_cert_profile profile;
  EVP_PKEY *public_key;            /* subject key: EC, or RSA >= 2048 bits */
  const char *common_name;         /* required, 1..64 characters UTF-8 */
  const char *organization;        /* optional (NULL) */
  const char *organizational_unit; /* optional (NULL) */
  const char *ek_sha256_hex;       /* exactly 64 lowercase hex digits */
  const char *const *dns_sans;     /* n_dns_sans names, LDH labels */
  size_t n_dns_sans;
  time_t now;
  int64_t lifetime_seconds; /* > 0 */
  bool server_auth;         /* RT_CERT_KEY: EKU serverAuth as well as clientAuth */
} rt_cert_request;

/* Issues a certificate; *der is malloc'd (free with free()). A request
 * failing validation (bad hex, DNS name, name field, key type, lifetime) is
 * RT_E_INVALID naming the field; an issuer expired at req->now is
 * RT_E_INVALID; OpenSSL failures are RT_E_CRYPTO. */
rt_code rt_issuer_issue(const rt_issuer *issuer, const rt_cert_request *req, uint8_t **der,
                        size_t *der_len, rt_err *err);

/* What rt_issuer_issue_info says of the certificate it issued, so that
 * nobody parses it again to learn it. */
typedef struct {
  char serial_hex[RT_ISSUER_SERIAL_HEX];
  int64_t not_after; /* Unix time */
} rt_issued;

/* rt_issuer_issue, and with info (may be NULL) the serial and notAfter;
 * zeroed on failure. */
rt_code rt_issuer_issue_info(const rt_issuer *issuer, const rt_cert_request *req, uint8_t **der,
                             size_t *der_len, rt_issued *info, rt_err *err);

/* ---- Revocation ---------------------------------------------------------------
 * The CRL distribution point: once set, every certificate issued carries a
 * crlDistributionPoints extension (not critical) whose one full name is URL
 * (http:// or https://, printable ASCII, at most 1024 characters; else
 * RT_E_INVALID naming --crl-url). Set it before issuing: not thread-safe
 * with rt_issuer_issue. */
rt_code rt_issuer_set_crl_url(rt_issuer *issuer, const char *url, rt_err *err);
/* That URL rule alone, for checking the option before anything is loaded. */
rt_code rt_issuer_crl_url_check(const char *url, rt_err *err);

/* Signs crl (crl.c builds it) as this CA (RT_E_INVALID when its KeyUsage
 * lacks cRLSign): sets its issuer name and AKI
 * (keyid, the CA's SKI), signs with SHA-256 and checks the signature with
 * the CA certificate's key. RT_E_CRYPTO on failure. */
rt_code rt_issuer_crl_sign(const rt_issuer *issuer, X509_CRL *crl, rt_err *err);

#endif
