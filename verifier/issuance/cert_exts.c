#include "cert_exts.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include "issuer.h"

/* The EKU variants: one extension each, chosen per certificate. */
enum { EKU_AK, EKU_CLIENT, EKU_CLIENT_SERVER, N_EKU };

struct rt_cert_exts {
  X509_EXTENSION *basic, *usage, *aki, *eku[N_EKU];
  EVP_MD *sha1; /* the SKI's hash, fetched once */
};

void rt_cert_exts_free(rt_cert_exts *e) {
  if (e == NULL)
    return;
  X509_EXTENSION_free(e->basic);
  X509_EXTENSION_free(e->usage);
  X509_EXTENSION_free(e->aki);
  for (int i = 0; i < N_EKU; i++)
    X509_EXTENSION_free(e->eku[i]);
  EVP_MD_free(e->sha1);
  free(e);
}

/* One fixed value through OpenSSL's v3 config parser (our own constant
 * strings only). */
static X509_EXTENSION *conf(X509V3_CTX *ctx, int nid, const char *value) {
  return X509V3_EXT_conf_nid(NULL, ctx, nid, value);
}

rt_code rt_cert_exts_new(X509 *issuer_cert, rt_cert_exts **out, rt_err *err) {
  *out = NULL;
  rt_cert_exts *e = calloc(1, sizeof *e);
  /* A stand-in subject: the AKI is made for a certificate other than the
   * issuer's own, as each issued one is. */
  X509 *subject = X509_new();
  if (e == NULL || subject == NULL) {
    X509_free(subject);
    free(e);
    return rt_err_set(err, RT_E_NOMEM, "issuer: out of memory");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer_cert, subject, NULL, NULL, 0);
  e->basic = conf(&ctx, NID_basic_constraints, "critical,CA:FALSE");
  e->usage = conf(&ctx, NID_key_usage, "critical,digitalSignature");
  e->aki = conf(&ctx, NID_authority_key_identifier, "keyid:always");
  e->eku[EKU_AK] = conf(&ctx, NID_ext_key_usage, RT_ISSUER_EKU_AK);
  e->eku[EKU_CLIENT] = conf(&ctx, NID_ext_key_usage, "clientAuth");
  e->eku[EKU_CLIENT_SERVER] = conf(&ctx, NID_ext_key_usage, "clientAuth,serverAuth");
  e->sha1 = EVP_MD_fetch(NULL, OSSL_DIGEST_NAME_SHA1, NULL);
  X509_free(subject);
  bool ok = e->basic != NULL && e->usage != NULL && e->aki != NULL && e->sha1 != NULL;
  for (int i = 0; i < N_EKU; i++)
    ok = ok && e->eku[i] != NULL;
  ERR_clear_error();
  if (!ok) {
    rt_cert_exts_free(e);
    return rt_err_set(err, RT_E_CRYPTO, "issuer: cannot build the certificate extensions");
  }
  *out = e;
  return RT_OK;
}

/* SKI = SHA-1 of the subjectPublicKey BIT STRING (RFC 5280 4.2.1.2
 * method 1, what OpenSSL's "hash" value makes), with the hash fetched once. */
static int add_ski(const rt_cert_exts *e, X509 *x) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
  int ok = ski != NULL && X509_pubkey_digest(x, e->sha1, md, &md_len) == 1 &&
           ASN1_OCTET_STRING_set(ski, md, (int)md_len) == 1 &&
           X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0, X509V3_ADD_DEFAULT) == 1;
  ASN1_OCTET_STRING_free(ski);
  return ok;
}

rt_code rt_cert_exts_add(const rt_cert_exts *e, X509 *x, bool ak, bool server_auth, rt_err *err) {
  X509_EXTENSION *eku = e->eku[ak ? EKU_AK : server_auth ? EKU_CLIENT_SERVER : EKU_CLIENT];
  /* X509_add_ext adds a copy. */
  if (X509_add_ext(x, e->basic, -1) != 1 || X509_add_ext(x, e->usage, -1) != 1 ||
      X509_add_ext(x, eku, -1) != 1 || !add_ski(e, x) || X509_add_ext(x, e->aki, -1) != 1) {
    ERR_clear_error();
    return rt_err_set(err, RT_E_CRYPTO, "issuing: cannot add the extensions");
  }
  return RT_OK;
}
