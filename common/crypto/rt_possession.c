#include "rt_possession.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

rt_code rt_possession_message(const uint8_t *nonce, size_t nonce_len, uint8_t **msg,
                              size_t *msg_len, rt_err *err) {
  size_t label = sizeof RT_POSSESSION_LABEL; /* includes the 0x00 separator */
  uint8_t *m = malloc(label + nonce_len);
  if (m == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  memcpy(m, RT_POSSESSION_LABEL, label);
  memcpy(m + label, nonce, nonce_len);
  *msg = m;
  *msg_len = label + nonce_len;
  return RT_OK;
}

rt_code rt_possession_digest(const uint8_t *nonce, size_t nonce_len, uint8_t digest[32],
                             rt_err *err) {
  uint8_t *msg = NULL;
  size_t len = 0;
  rt_code code = rt_possession_message(nonce, nonce_len, &msg, &len, err);
  if (code != RT_OK)
    return code;
  unsigned int dlen = 0;
  int ok = EVP_Digest(msg, len, digest, &dlen, EVP_sha256(), NULL);
  free(msg);
  if (!ok || dlen != 32)
    return rt_err_set(err, RT_E_CRYPTO, "SHA-256 failed");
  return RT_OK;
}
