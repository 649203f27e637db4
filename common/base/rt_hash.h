/* The hash algorithms rattest knows, in one table: TPM algorithm id, the
 * name tpm2-tools, policies and event-log displays spell it with, digest
 * size and OpenSSL's digest name. Which of them a use accepts is that use's
 * rule: every one for event-log replay, the `tpm` ones for PCR selections
 * and KDFs (rt_pcrsel, rt_kdf), three for policy banks (verifier/policy/policy.c).
 * Key algorithms are another thing: rt_key_alg (rt_templates.h). */
#ifndef RT_HASH_H
#define RT_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

/* Entries in the table. */
#define RT_HASH_COUNT 5
/* The largest digest size in the table (SHA-512). */
#define RT_HASH_MAX_DIGEST 64

typedef struct {
  TPM2_ALG_ID id;       /* TPM2_ALG_SHA256 */
  const char *name;     /* "sha256" */
  const char *evp_name; /* "SHA256", for EVP_MD_fetch */
  uint16_t size;        /* digest bytes */
  /* rattest selects PCRs of this bank and computes TPM KDFs, names and
   * policy digests with it; false for SM3, which it only replays from event
   * logs. */
  bool tpm;
} rt_hash;

/* sha1, sha256, sha384, sha512, sm3_256; NULL for another id. */
const rt_hash *rt_hash_by_id(TPM2_ALG_ID id);

/* By exact name ("sha256"); NULL for NULL or another name. */
const rt_hash *rt_hash_by_name(const char *name);

/* Entry i (0 to RT_HASH_COUNT - 1) in table order, NULL past the end. */
const rt_hash *rt_hash_at(size_t i);

#endif
