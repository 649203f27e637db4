#include "rt_hash.h"

#include <string.h>

static const rt_hash hashes[] = {
    {TPM2_ALG_SHA1, "sha1", "SHA1", TPM2_SHA1_DIGEST_SIZE, true},
    {TPM2_ALG_SHA256, "sha256", "SHA256", TPM2_SHA256_DIGEST_SIZE, true},
    {TPM2_ALG_SHA384, "sha384", "SHA384", TPM2_SHA384_DIGEST_SIZE, true},
    {TPM2_ALG_SHA512, "sha512", "SHA512", TPM2_SHA512_DIGEST_SIZE, true},
    {TPM2_ALG_SM3_256, "sm3_256", "SM3", TPM2_SM3_256_DIGEST_SIZE, false},
};

_Static_assert(sizeof hashes / sizeof hashes[0] == RT_HASH_COUNT, "RT_HASH_COUNT counts the table");
_Static_assert(TPM2_SHA512_DIGEST_SIZE == RT_HASH_MAX_DIGEST, "RT_HASH_MAX_DIGEST is SHA-512's");

const rt_hash *rt_hash_by_id(TPM2_ALG_ID id) {
  for (size_t i = 0; i < RT_HASH_COUNT; i++)
    if (hashes[i].id == id)
      return &hashes[i];
  return NULL;
}

const rt_hash *rt_hash_by_name(const char *name) {
  if (name != NULL)
    for (size_t i = 0; i < RT_HASH_COUNT; i++)
      if (strcmp(hashes[i].name, name) == 0)
        return &hashes[i];
  return NULL;
}

const rt_hash *rt_hash_at(size_t i) {
  return i < RT_HASH_COUNT ? &hashes[i] : NULL;
}
