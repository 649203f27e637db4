/* The policy's "secrets" (docs/secrets.md): what the verifier delivers to a
 * machine that enrolled, each wrapped to its EK so only its TPM opens it.
 *
 *   "secrets": [
 *     {"name": "disk", "type": "sealed", "file": "/etc/rattest/disk.key",
 *      "pcrs": {"sha256": [0, 7]}},
 *     {"name": "legacy", "type": "rsa-key", "key_file": "/etc/rattest/legacy.key",
 *      "cert_file": "/etc/rattest/legacy.pem"},
 *     {"name": "bound", "type": "rsa-key", "key_file": "/etc/rattest/bound.key",
 *      "cert_file": "/etc/rattest/bound.pem", "pcrs": {"sha256": [7]}}
 *   ]
 *
 * "pcrs" (either kind): the object's authPolicy is TPM2_PolicyPCR over
 * those PCRs with the values this enrollment's quote proved, so every PCR
 * must be one the policy demands. A sealed secret then unseals, an rsa-key
 * signs, only while they hold those values. Without it a sealed secret
 * opens, and a key signs, with the empty password.
 *
 * Files are read when the policy loads, and must be 0600 (or stricter):
 * a secret readable by others is no secret. The bytes stay in this
 * process's memory only, wiped when the policy is freed; never logged. */
#ifndef RT_VERIFIER_POLICY_SECRETS_H
#define RT_VERIFIER_POLICY_SECRETS_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "rt_err.h"

/* rattest.v1.SecretKind values. */
#define RT_SECRET_KIND_SEALED 1
#define RT_SECRET_KIND_RSA_KEY 2
/* The most a TPM keyedHash object holds (MAX_SYM_DATA). */
#define RT_SECRET_MAX_SEALED 128
#define RT_SECRET_MAX 32

typedef struct {
  char *name;
  int kind;
  /* RT_SECRET_KIND_SEALED: the bytes. */
  uint8_t *data;
  size_t data_len;
  /* The PCRs the object's PolicyPCR covers (count 0: no PCR policy), banks
   * in the policy's order; every PCR is one the policy demands, so its
   * value is proven by the enrollment's quote. */
  TPML_PCR_SELECTION pcrs;
  /* RT_SECRET_KIND_RSA_KEY: the private key and its certificate chain (DER,
   * leaf first). */
  EVP_PKEY *key;
  uint8_t **certs;
  size_t *cert_lens;
  size_t n_certs;
} rt_secret_conf;

typedef struct {
  size_t n;
  rt_secret_conf *v;
} rt_policy_secrets;

/* Parses the "secrets" array. demanded: the policy's selection (a secret's
 * PCRs must be within it). Messages name the JSON path ("secrets[1].file:
 * ..."). */
rt_code rt_policy_secrets_parse(json_t *v, const TPML_PCR_SELECTION *demanded,
                                rt_policy_secrets **out, rt_err *err);
void rt_policy_secrets_free(rt_policy_secrets *s);

#endif
