#include "rt_http.h"

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The body as it arrives, refused past the limit (chunked answers have no
 * length to refuse up front). */
typedef struct {
  uint8_t *data;
  size_t len, max;
  int too_large;
} body;

static size_t on_data(char *p, size_t size, size_t n, void *arg) {
  body *b = arg;
  size_t add = size * n;
  if (add > b->max - b->len) {
    b->too_large = 1;
    return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
  }
  uint8_t *grown = realloc(b->data, b->len + add + 1);
  if (grown == NULL)
    return 0;
  memcpy(grown + b->len, p, add);
  b->data = grown;
  b->len += add;
  b->data[b->len] = '\0';
  return add;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

static CURLcode fetch(const char *url, const rt_http_limits *lim, body *b, long *http) {
  pthread_once(&curl_once, curl_init);
  CURL *c = curl_easy_init();
  if (c == NULL)
    return CURLE_OUT_OF_MEMORY;
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, lim->protocols);
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, lim->protocols);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, lim->timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)b->max);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, http);
  curl_easy_cleanup(c);
  return rc;
}

/* url starts with "<one of lim->protocols>://". */
static int scheme_allowed(const char *url, const char *protocols) {
  const char *p = protocols;
  while (*p != '\0') {
    size_t n = strcspn(p, ",");
    if (strncasecmp(url, p, n) == 0 && strncmp(url + n, "://", 3) == 0)
      return 1;
    p += n + (p[n] == ',');
  }
  return 0;
}

rt_code rt_http_get(const char *url, const rt_http_limits *lim, uint8_t **data, size_t *len,
                    rt_err *err) {
  *data = NULL;
  *len = 0;
  if (!scheme_allowed(url, lim->protocols))
    return rt_err_set(err, RT_E_NET, "%s: not an %s URL", url, lim->protocols);
  body b = {.max = lim->max_size};
  long http = 0;
  CURLcode rc = fetch(url, lim, &b, &http);
  rt_code code = RT_OK;
  if (b.too_large || rc == CURLE_FILESIZE_EXCEEDED)
    code = rt_err_set(err, RT_E_NET, "%s: too large (over %zu bytes)", url, b.max);
  else if (rc == CURLE_OPERATION_TIMEDOUT)
    code = rt_err_set(err, RT_E_NET, "%s: timed out after %ld ms", url, lim->timeout_ms);
  else if (rc != CURLE_OK)
    code = rt_err_set(err, RT_E_NET, "%s: %s", url, curl_easy_strerror(rc));
  else if (http != 200)
    code = rt_err_set(err, RT_E_NET, "%s: HTTP status %ld", url, http);
  if (code != RT_OK) {
    free(b.data);
    return code;
  }
  if (b.data == NULL && (b.data = calloc(1, 1)) == NULL)
    return rt_err_set(err, RT_E_NOMEM, "%s: out of memory", url);
  *data = b.data;
  *len = b.len;
  return RT_OK;
}

/* The first certificate of a DER PKCS#7 "certs-only" message (SignedData
 * without signers), the form RFC 5280 lets an AIA caIssuers URL serve
 * (.p7c). */
static X509 *pkcs7_first(const uint8_t *data, size_t len) {
  const unsigned char *p = data;
  PKCS7 *p7 = len <= (size_t)INT32_MAX ? d2i_PKCS7(NULL, &p, (long)len) : NULL;
  X509 *x = NULL;
  if (p7 != NULL && p == data + len && PKCS7_type_is_signed(p7) && p7->d.sign != NULL &&
      sk_X509_num(p7->d.sign->cert) > 0)
    x = X509_dup(sk_X509_value(p7->d.sign->cert, 0));
  PKCS7_free(p7);
  return x;
}

X509 *rt_http_cert_parse(const uint8_t *data, size_t len) {
  const unsigned char *p = data;
  X509 *x = len > 0 && len <= (size_t)INT32_MAX ? d2i_X509(NULL, &p, (long)len) : NULL;
  if (x != NULL && p != data + len) {
    X509_free(x);
    x = NULL;
  }
  if (x == NULL && len <= (size_t)INT32_MAX) {
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
  }
  if (x == NULL)
    x = pkcs7_first(data, len);
  ERR_clear_error();
  return x;
}
