#include "aia_fetch.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_file.h"
#include "rt_hex.h"
#include "rt_http.h"
#include "rt_log.h"
#include "rt_text.h"

rt_code rt_aia_cache_check(const char *dir, rt_err *err) {
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return rt_err_set(err, RT_E_INVALID, "--ek-aia-cache %s: not a directory", dir);
  if (access(dir, W_OK | X_OK) != 0)
    return rt_err_set(err, RT_E_INVALID, "--ek-aia-cache %s: not writable", dir);
  return RT_OK;
}

rt_code rt_aia_ca_issuers(X509 *x, char *url, size_t cap, rt_err *err) {
  AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
  rt_code code = rt_err_set(err, RT_E_NOT_FOUND, "it names no http:// AIA caIssuers URL");
  for (int i = 0; aia != NULL && i < sk_ACCESS_DESCRIPTION_num(aia); i++) {
    const ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
    if (OBJ_obj2nid(ad->method) != NID_ad_ca_issuers || ad->location->type != GEN_URI)
      continue;
    const ASN1_IA5STRING *uri = ad->location->d.uniformResourceIdentifier;
    size_t len = (size_t)ASN1_STRING_length(uri);
    const char *s = (const char *)ASN1_STRING_get0_data(uri);
    if (len < 7 || len >= cap || strncasecmp(s, "http://", 7) != 0 || memchr(s, 0, len) != NULL)
      continue;
    memcpy(url, s, len);
    url[len] = '\0';
    code = RT_OK;
    rt_err_clear(err);
    break;
  }
  AUTHORITY_INFO_ACCESS_free(aia);
  ERR_clear_error();
  return code;
}

/* The fetched bytes of url, or why not (http:// only, redirects too). */
static rt_code download(const rt_aia_opts *o, const char *url, uint8_t **data, size_t *len,
                        rt_err *err) {
  rt_http_limits lim = {"http", o->max_size > 0 ? o->max_size : RT_AIA_MAX_SIZE,
                        o->timeout_ms > 0 ? o->timeout_ms : RT_AIA_TIMEOUT_MS};
  if (rt_http_get(url, &lim, data, len, err) == RT_OK)
    return RT_OK;
  rt_err_prefix(err, "AIA ");
  err->code = RT_E_CRYPTO; /* a refusal of the chain, as the other AIA refusals */
  return RT_E_CRYPTO;
}

static rt_code parse_ca(const char *url, const uint8_t *data, size_t len, X509 **out, rt_err *err) {
  X509 *x = rt_http_cert_parse(data, len);
  if (x == NULL)
    return rt_err_set(err, RT_E_CRYPTO, "AIA %s: not a DER, PEM or PKCS#7 certificate", url);
  if (!(X509_get_extension_flags(x) & EXFLAG_CA)) {
    X509_free(x);
    return rt_err_set(err, RT_E_CRYPTO, "AIA %s: not a CA certificate", url);
  }
  *out = x;
  return RT_OK;
}

/* DIR/<sha256 of the URL, hex>.der */
static rt_code cache_path(const char *dir, const char *url, char *path, size_t cap, rt_err *err) {
  uint8_t md[32];
  unsigned int n = 0;
  char hex[65];
  if (!EVP_Digest(url, strlen(url), md, &n, EVP_sha256(), NULL))
    return rt_err_set(err, RT_E_CRYPTO, "cannot hash the AIA URL");
  rt_hex(md, 32, hex);
  if ((size_t)snprintf(path, cap, "%s/%s.der", dir, hex) >= cap)
    return rt_err_set(err, RT_E_INVALID, "--ek-aia-cache: path too long");
  return RT_OK;
}

/* The cached certificate of url; RT_E_NOT_FOUND when none usable. */
static rt_code from_cache(const char *path, const char *url, X509 **out) {
  uint8_t *data = NULL;
  size_t len = 0;
  rt_err err;
  rt_code code = rt_file_read(path, RT_AIA_MAX_SIZE, &data, &len, &err);
  if (code == RT_OK && parse_ca(url, data, len, out, &err) != RT_OK) {
    rt_warn("AIA cache %s: %s; fetching again", path, err.msg);
    code = RT_E_NOT_FOUND;
  }
  free(data);
  return code == RT_OK ? RT_OK : RT_E_NOT_FOUND;
}

void rt_aia_cache_put(const rt_aia_opts *o, const char *url, X509 *x) {
  char path[4096];
  rt_err err;
  if (o->cache_dir == NULL || cache_path(o->cache_dir, url, path, sizeof path, &err) != RT_OK)
    return;
  unsigned char *der = NULL;
  int len = i2d_X509(x, &der);
  if (len <= 0 || rt_file_write_atomic(path, der, (size_t)len, 0600, &err) != RT_OK)
    rt_warn("AIA cache %s: not written: %s", path, len <= 0 ? "cannot encode" : err.msg);
  OPENSSL_free(der);
}

rt_code rt_aia_get(const rt_aia_opts *o, const char *url, X509 **out, int *cached, rt_err *err) {
  char path[4096];
  *out = NULL;
  *cached = 0;
  if (o->cache_dir != NULL) {
    if (cache_path(o->cache_dir, url, path, sizeof path, err) != RT_OK)
      return RT_E_CRYPTO;
    if (from_cache(path, url, out) == RT_OK) {
      char shown[RT_TEXT_BUF]; /* the URL is the client's certificate's */
      rt_debug("AIA %s: from the cache %s", rt_text_bound(url, shown), path);
      *cached = 1;
      return RT_OK;
    }
  }
  uint8_t *data = NULL;
  size_t len = 0;
  rt_code code = download(o, url, &data, &len, err);
  if (code == RT_OK)
    code = parse_ca(url, data, len, out, err);
  free(data);
  char shown[RT_TEXT_BUF]; /* the URL is the client's certificate's */
  if (code == RT_OK)
    rt_info("AIA %s: fetched an EK issuer certificate", rt_text_bound(url, shown));
  return code;
}
