#include "crl.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int rt_crl_reason_code(const char *reason) {
  /* removeFromCRL (8) is for delta CRLs only, and there is no 7. */
  static const struct {
    const char *name;
    int code;
  } names[] = {
      {"keyCompromise", CRL_REASON_KEY_COMPROMISE},
      {"cACompromise", CRL_REASON_CA_COMPROMISE},
      {"affiliationChanged", CRL_REASON_AFFILIATION_CHANGED},
      {"superseded", CRL_REASON_SUPERSEDED},
      {"cessationOfOperation", CRL_REASON_CESSATION_OF_OPERATION},
      {"certificateHold", CRL_REASON_CERTIFICATE_HOLD},
      {"privilegeWithdrawn", CRL_REASON_PRIVILEGE_WITHDRAWN},
      {"aACompromise", CRL_REASON_AA_COMPROMISE},
  };
  for (size_t i = 0; reason != NULL && i < sizeof names / sizeof names[0]; i++)
    if (strcasecmp(reason, names[i].name) == 0)
      return names[i].code;
  return CRL_REASON_NONE;
}

/* The serial as an ASN1_INTEGER (caller frees), NULL if it is not 1-40 hex
 * digits. */
static ASN1_INTEGER *serial_from_hex(const char *hex) {
  size_t n = hex != NULL ? strlen(hex) : 0;
  if (n == 0 || n > 40 || strspn(hex, "0123456789abcdefABCDEF") != n)
    return NULL;
  BIGNUM *bn = NULL;
  ASN1_INTEGER *serial = NULL;
  if (BN_hex2bn(&bn, hex) == (int)n)
    serial = BN_to_ASN1_INTEGER(bn, NULL);
  BN_free(bn);
  return serial;
}

static int set_reason(X509_REVOKED *r, int code) {
  if (code == CRL_REASON_NONE)
    return 1;
  ASN1_ENUMERATED *e = ASN1_ENUMERATED_new();
  int ok = e != NULL && ASN1_ENUMERATED_set(e, code) == 1 &&
           X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, e, 0, X509V3_ADD_DEFAULT) == 1;
  ASN1_ENUMERATED_free(e);
  return ok;
}

static rt_code add_entry(X509_CRL *crl, const rt_crl_entry *entry, rt_err *err) {
  ASN1_INTEGER *serial = serial_from_hex(entry->serial_hex);
  if (serial == NULL)
    return rt_err_set(err, RT_E_INVALID, "CRL: serial \"%.48s\" is not 1-40 hex digits",
                      entry->serial_hex ? entry->serial_hex : "");
  X509_REVOKED *r = X509_REVOKED_new();
  ASN1_TIME *at = ASN1_TIME_set(NULL, entry->revoked_at);
  int ok = r != NULL && at != NULL && X509_REVOKED_set_serialNumber(r, serial) == 1 &&
           X509_REVOKED_set_revocationDate(r, at) == 1 &&
           set_reason(r, rt_crl_reason_code(entry->reason)) && X509_CRL_add0_revoked(crl, r) == 1;
  ASN1_TIME_free(at);
  ASN1_INTEGER_free(serial);
  if (!ok) {
    X509_REVOKED_free(r);
    return rt_err_set(err, RT_E_CRYPTO, "CRL: cannot add the serial %s", entry->serial_hex);
  }
  return RT_OK;
}

/* Version, dates and crlNumber. */
static rt_code set_header(X509_CRL *crl, const rt_crl_params *p, rt_err *err) {
  if (p->next_update <= p->this_update)
    return rt_err_set(err, RT_E_INVALID, "CRL: nextUpdate is not after thisUpdate");
  ASN1_TIME *this_update = ASN1_TIME_set(NULL, p->this_update);
  ASN1_TIME *next_update = ASN1_TIME_set(NULL, p->next_update);
  ASN1_INTEGER *number = ASN1_INTEGER_new();
  int ok = this_update != NULL && next_update != NULL && number != NULL &&
           X509_CRL_set_version(crl, X509_CRL_VERSION_2) == 1 &&
           X509_CRL_set1_lastUpdate(crl, this_update) == 1 &&
           X509_CRL_set1_nextUpdate(crl, next_update) == 1 &&
           ASN1_INTEGER_set_uint64(number, p->number) == 1 &&
           X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, X509V3_ADD_DEFAULT) == 1;
  ASN1_TIME_free(this_update);
  ASN1_TIME_free(next_update);
  ASN1_INTEGER_free(number);
  return ok ? RT_OK : rt_err_set(err, RT_E_CRYPTO, "CRL: cannot set version, dates or number");
}

static rt_code encode_pem(X509_CRL *crl, char **pem, size_t *pem_len, rt_err *err) {
  BIO *bio = BIO_new(BIO_s_mem());
  char *data = NULL;
  long len = 0;
  if (bio != NULL && PEM_write_bio_X509_CRL(bio, crl) == 1)
    len = BIO_get_mem_data(bio, &data);
  if (len > 0 && (*pem = malloc((size_t)len + 1)) != NULL) {
    memcpy(*pem, data, (size_t)len);
    (*pem)[len] = '\0';
    *pem_len = (size_t)len;
  }
  BIO_free(bio);
  return *pem != NULL ? RT_OK : rt_err_set(err, RT_E_CRYPTO, "CRL: PEM encoding failed");
}

rt_code rt_crl_build(const rt_issuer *issuer, const rt_crl_entry *entries, size_t n,
                     const rt_crl_params *params, char **pem, size_t *pem_len, rt_err *err) {
  *pem = NULL;
  *pem_len = 0;
  X509_CRL *crl = X509_CRL_new();
  if (crl == NULL)
    return rt_err_set(err, RT_E_NOMEM, "CRL: out of memory");
  rt_code code = set_header(crl, params, err);
  for (size_t i = 0; code == RT_OK && i < n; i++)
    code = add_entry(crl, &entries[i], err);
  /* Entries in serial order, whatever order the caller listed them in. */
  if (code == RT_OK && X509_CRL_sort(crl) != 1)
    code = rt_err_set(err, RT_E_CRYPTO, "CRL: cannot sort the entries");
  if (code == RT_OK)
    code = rt_issuer_crl_sign(issuer, crl, err);
  if (code == RT_OK)
    code = encode_pem(crl, pem, pem_len, err);
  ERR_clear_error();
  X509_CRL_free(crl);
  return code;
}
