/* TSS2 PRIVATE KEY files (rt_tss2key_decode, PEM or DER: what the
 * provider and the bootstrap read): decoded, and a key that decodes and
 * can be written is encoded as DER and PEM, which must decode to the same
 * key (a decoder and encoder that disagree would change a key on
 * rewrite). */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "rt_tss2key.h"

static void same_again(const rt_tss2key *key, const uint8_t *enc, size_t len, const char *form) {
  rt_tss2key again;
  rt_err err;
  if (rt_tss2key_decode(enc, len, &again, &err) != RT_OK) {
    fprintf(stderr, "the %s encoding of a decoded key does not decode: %s\n", form, err.msg);
    abort();
  }
  if (again.type != key->type || again.empty_auth != key->empty_auth ||
      again.parent != key->parent || again.rsa_parent != key->rsa_parent ||
      memcmp(&again.pub, &key->pub, sizeof key->pub) != 0 ||
      memcmp(&again.priv, &key->priv, sizeof key->priv) != 0 ||
      strcmp(again.description, key->description) != 0) {
    fprintf(stderr, "the %s encoding of a decoded key decodes to another key\n", form);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rt_tss2key key;
  uint8_t *der = NULL;
  char *pem = NULL;
  size_t len = 0;
  rt_err err;
  if (rt_tss2key_decode(data, size, &key, &err) != RT_OK)
    return 0;
  if (rt_tss2key_encode_der(&key, &der, &len, &err) == RT_OK)
    same_again(&key, der, len, "DER");
  if (rt_tss2key_encode_pem(&key, &pem, &len, &err) == RT_OK)
    same_again(&key, (const uint8_t *)pem, len, "PEM");
  OPENSSL_free(der);
  OPENSSL_free(pem);
  return 0;
}
