#include "rt_secret_proof.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

rt_code rt_secret_proof_message(const char *name, const uint8_t *nonce, size_t nonce_len,
                                uint8_t **msg, size_t *msg_len, rt_err *err) {
  size_t label = sizeof RT_SECRET_PROOF_LABEL; /* with its 0x00 separator */
  size_t nlen = name != NULL ? strlen(name) + 1 : 0;
  if (nlen <= 1)
    return rt_err_set(err, RT_E_INVALID, "secret proof: empty name");
  uint8_t *m = malloc(label + nlen + nonce_len);
  if (m == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  memcpy(m, RT_SECRET_PROOF_LABEL, label);
  memcpy(m + label, name, nlen);
  if (nonce_len > 0)
    memcpy(m + label + nlen, nonce, nonce_len);
  *msg = m;
  *msg_len = label + nlen + nonce_len;
  return RT_OK;
}

rt_code rt_secret_proof_digest(const char *name, const uint8_t *nonce, size_t nonce_len,
                               uint8_t digest[32], rt_err *err) {
  uint8_t *msg = NULL;
  size_t len = 0;
  rt_code code = rt_secret_proof_message(name, nonce, nonce_len, &msg, &len, err);
  if (code != RT_OK)
    return code;
  unsigned int dlen = 0;
  int ok = EVP_Digest(msg, len, digest, &dlen, EVP_sha256(), NULL);
  free(msg);
  if (!ok || dlen != 32)
    return rt_err_set(err, RT_E_CRYPTO, "SHA-256 failed");
  return RT_OK;
}

rt_code rt_secret_proof_hmac(const uint8_t *secret, size_t secret_len, const char *name,
                             const uint8_t *nonce, size_t nonce_len, uint8_t mac[32], rt_err *err) {
  uint8_t *msg = NULL;
  size_t len = 0;
  rt_code code = rt_secret_proof_message(name, nonce, nonce_len, &msg, &len, err);
  if (code != RT_OK)
    return code;
  size_t out_len = 0;
  /* EVP_Q_mac: one-shot HMAC through the EVP MAC API. */
  uint8_t *r = EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, secret_len, msg, len, mac, 32,
                         &out_len);
  free(msg);
  if (r == NULL || out_len != 32) {
    OPENSSL_cleanse(mac, 32);
    return rt_err_set(err, RT_E_CRYPTO, "HMAC-SHA256 failed");
  }
  return RT_OK;
}
