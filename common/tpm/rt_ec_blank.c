#include "rt_ec_blank.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <string.h>

static const char *const groups[] = {"prime256v1", "secp384r1", "secp521r1"};
#define N_GROUPS (sizeof groups / sizeof groups[0])

/* Built once, read (copied) by any thread, never freed: fixed material for
 * the life of the process, like OpenSSL's own algorithm tables. */
static EVP_PKEY *blanks[N_GROUPS];
static CRYPTO_ONCE once = CRYPTO_ONCE_STATIC_INIT;

static EVP_PKEY *make_blank(const char *group) {
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0),
      OSSL_PARAM_construct_end(),
  };
  EVP_PKEY *key = NULL;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
  if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
      EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEY_PARAMETERS, params) != 1)
    key = NULL;
  EVP_PKEY_CTX_free(ctx);
  ERR_clear_error();
  return key;
}

static void make_blanks(void) {
  for (size_t i = 0; i < N_GROUPS; i++)
    blanks[i] = make_blank(groups[i]);
}

int rt_ec_blank_key(const char *group, const uint8_t *point, size_t len, EVP_PKEY **out) {
  *out = NULL;
  if (!CRYPTO_THREAD_run_once(&once, make_blanks))
    return -1;
  size_t i = 0;
  while (i < N_GROUPS && strcmp(groups[i], group) != 0)
    i++;
  if (i == N_GROUPS || blanks[i] == NULL)
    return -1;
  EVP_PKEY *key = EVP_PKEY_dup(blanks[i]);
  if (key == NULL)
    return -1;
  if (EVP_PKEY_set1_encoded_public_key(key, point, len) != 1) {
    EVP_PKEY_free(key);
    ERR_clear_error();
    return 0;
  }
  *out = key;
  return 1;
}
