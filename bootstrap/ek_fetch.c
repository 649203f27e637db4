#include "ek_fetch.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "rt_hex.h"
#include "rt_log.h"
#include "rt_tpm_pub.h"

#define VENDOR_AMD 0x414D4400u /* "AMD\0", TCG vendor ID registry */

static rt_code manufacturer(rt_tpm *tpm, uint32_t *out, rt_err *err) {
  TPMS_CAPABILITY_DATA *cap = NULL;
  TSS2_RC rc = Esys_GetCapability(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                  TPM2_CAP_TPM_PROPERTIES, TPM2_PT_MANUFACTURER, 1, NULL, &cap);
  if (rc != TSS2_RC_SUCCESS)
    return rt_tpm_rc(err, rc, "GetCapability(TPM2_PT_MANUFACTURER)");
  *out = 0;
  if (cap->data.tpmProperties.count == 1 &&
      cap->data.tpmProperties.tpmProperty[0].property == TPM2_PT_MANUFACTURER)
    *out = cap->data.tpmProperties.tpmProperty[0].value;
  Esys_Free(cap);
  return RT_OK;
}

/* SHA-256 over the parts of the EK public each service hashes. */
static rt_code pub_digest(const TPMT_PUBLIC *pub, int amd, uint8_t md[32], rt_err *err) {
  static const uint8_t rsa_tag[4] = {0, 0, 0x22, 0x22}, ecc_tag[4] = {0, 0, 0x44, 0x44};
  static const uint8_t exponent3[3] = {1, 0, 1}, exponent4[4] = {0, 1, 0, 1};
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  int ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL);
  if (pub->type == TPM2_ALG_RSA) {
    if (pub->parameters.rsaDetail.exponent != 0) {
      EVP_MD_CTX_free(c);
      return rt_err_set(err, RT_E_INVALID, "the EK has a non-default RSA exponent");
    }
    const TPM2B_PUBLIC_KEY_RSA *n = &pub->unique.rsa;
    ok = ok && (!amd || (EVP_DigestUpdate(c, rsa_tag, 4) && EVP_DigestUpdate(c, exponent4, 4))) &&
         EVP_DigestUpdate(c, n->buffer, n->size) &&
         (amd || EVP_DigestUpdate(c, exponent3, sizeof exponent3));
  } else if (pub->type == TPM2_ALG_ECC) {
    const TPMS_ECC_POINT *p = &pub->unique.ecc;
    ok = ok && (!amd || EVP_DigestUpdate(c, ecc_tag, 4)) &&
         EVP_DigestUpdate(c, p->x.buffer, p->x.size) && EVP_DigestUpdate(c, p->y.buffer, p->y.size);
  } else {
    ok = 0;
  }
  ok = ok && EVP_DigestFinal_ex(c, md, NULL);
  EVP_MD_CTX_free(c);
  return ok ? RT_OK : rt_err_set(err, RT_E_CRYPTO, "cannot hash the EK public key");
}

/* base64url of the digest with its padding percent-encoded, as Intel's
 * service names certificates. */
static rt_code intel_key(const uint8_t md[32], char *key, size_t cap, rt_err *err) {
  unsigned char b64[48];
  int n = EVP_EncodeBlock(b64, md, 32);
  for (int i = 0; i < n; i++)
    b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
  char *escaped = rt_net_url_escape((const char *)b64, (size_t)n);
  rt_code code = RT_OK;
  if (escaped == NULL || strlen(escaped) >= cap)
    code = rt_err_set(err, RT_E_INTERNAL, "cannot write the EK lookup key");
  else
    strcpy(key, escaped);
  free(escaped);
  return code;
}

rt_code rt_ek_fetch_key(rt_tpm *tpm, const TPMT_PUBLIC *pub, char *key, size_t cap, rt_err *err) {
  uint32_t vendor = 0;
  uint8_t md[32];
  if (manufacturer(tpm, &vendor, err) != RT_OK)
    return err->code;
  int amd = vendor == VENDOR_AMD;
  if (pub_digest(pub, amd, md, err) != RT_OK)
    return err->code;
  if (!amd) /* its escaping is libcurl's, in the network module */
    return rt_net_load(err) == RT_OK ? intel_key(md, key, cap, err) : err->code;
  if (cap < 33)
    return rt_err_set(err, RT_E_INTERNAL, "cannot write the EK lookup key");
  rt_hex(md, 16, key);
  return RT_OK;
}

/* base64url text (padding optional) into bytes: *out malloc'd. */
static int base64url_decode(const char *text, uint8_t **out, size_t *len) {
  size_t n = strlen(text);
  char *std = malloc(n + 4);
  uint8_t *bin = malloc(n + 4);
  int ok = std != NULL && bin != NULL;
  for (size_t i = 0; ok && i < n; i++)
    std[i] = text[i] == '-' ? '+' : text[i] == '_' ? '/' : text[i];
  while (ok && n % 4 != 0)
    std[n++] = '=';
  EVP_ENCODE_CTX *c = ok ? EVP_ENCODE_CTX_new() : NULL;
  int got = 0, tail = 0;
  ok = c != NULL && n <= INT32_MAX;
  if (ok) {
    EVP_DecodeInit(c);
    ok = EVP_DecodeUpdate(c, bin, &got, (const unsigned char *)std, (int)n) >= 0 &&
         EVP_DecodeFinal(c, bin + got, &tail) == 1;
  }
  EVP_ENCODE_CTX_free(c);
  free(std);
  if (!ok) {
    free(bin);
    return 0;
  }
  *out = bin;
  *len = (size_t)got + (size_t)tail;
  return 1;
}

/* Intel's answer: a JSON object whose "certificate" is the DER certificate
 * in base64url, possibly percent-encoded. */
static X509 *intel_answer(const uint8_t *data, size_t len) {
  json_t *root = json_loadb((const char *)data, len, 0, NULL);
  const char *text = json_string_value(json_object_get(root, "certificate"));
  char *plain = text != NULL ? rt_net_url_unescape(text) : NULL;
  uint8_t *der = NULL;
  size_t der_len = 0;
  X509 *x = NULL;
  if (plain != NULL && base64url_decode(plain, &der, &der_len))
    x = rt_net_http_cert_parse(der, der_len);
  free(der);
  free(plain);
  json_decref(root);
  return x;
}

/* x as malloc'd DER, the way rt_ek keeps certificates read from NV. */
static rt_code keep_der(X509 *x, uint8_t **der, size_t *len, rt_err *err) {
  unsigned char *enc = NULL;
  int n = i2d_X509(x, &enc);
  *der = n > 0 ? malloc((size_t)n) : NULL;
  if (*der == NULL) {
    OPENSSL_free(enc);
    return rt_err_set(err, RT_E_NOMEM, "cannot encode the fetched EK certificate");
  }
  memcpy(*der, enc, (size_t)n);
  *len = (size_t)n;
  OPENSSL_free(enc);
  return RT_OK;
}

rt_code rt_ek_fetch(rt_tpm *tpm, const char *base_url, const TPMT_PUBLIC *pub, uint8_t **der,
                    size_t *len, rt_err *err) {
  char key[96], url[2048];
  if (rt_ek_fetch_key(tpm, pub, key, sizeof key, err) != RT_OK)
    return err->code;
  size_t n = strlen(base_url);
  const char *slash = n > 0 && base_url[n - 1] == '/' ? "" : "/";
  if ((size_t)snprintf(url, sizeof url, "%s%s%s", base_url, slash, key) >= sizeof url)
    return rt_err_set(err, RT_E_INVALID, "--ek-cert-url: longer than %zu bytes", sizeof url);
  rt_http_limits lim = {"http,https", RT_EK_FETCH_MAX_SIZE, RT_EK_FETCH_TIMEOUT_MS};
  uint8_t *body = NULL;
  size_t body_len = 0;
  if (rt_net_http_get(url, &lim, &body, &body_len, err) != RT_OK)
    return rt_err_prefix(err, "EK certificate from ");
  X509 *x = rt_net_http_cert_parse(body, body_len);
  if (x == NULL)
    x = intel_answer(body, body_len);
  free(body);
  rt_code code = RT_OK;
  if (x == NULL)
    code =
        rt_err_set(err, RT_E_INVALID,
                   "EK certificate from %s: the answer is no DER, PEM or PKCS#7 certificate and no "
                   "JSON \"certificate\"",
                   url);
  else if (!rt_tpm_pub_matches(pub, X509_get0_pubkey(x)))
    code = rt_err_set(err, RT_E_INVALID,
                      "EK certificate from %s: it certifies another key than this TPM's EK", url);
  else
    code = keep_der(x, der, len, err);
  if (code == RT_OK)
    rt_info("EK certificate fetched from %s", url);
  X509_free(x);
  return code;
}
