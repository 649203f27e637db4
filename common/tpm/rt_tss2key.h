/* The "TSS2 PRIVATE KEY" file: a TPM-wrapped key as written by tpm2-openssl,
 * tpm2-tss-engine and openssl_tpm2_engine, so a key we create loads in their
 * providers and theirs in ours. The ASN.1 is that of the IETF draft
 * "ASN.1 Specification for TPM 2.0 Key Files" (draft-bottomley-tpm2-keys):
 *
 *   TPMKey ::= SEQUENCE {
 *     type        OBJECT IDENTIFIER,   -- 2.23.133.10.1.3 / .4 / .5
 *     emptyAuth   [0] EXPLICIT BOOLEAN OPTIONAL,
 *     policy      [1] EXPLICIT SEQUENCE OF TPMPolicy OPTIONAL,
 *     secret      [2] EXPLICIT OCTET STRING OPTIONAL,
 *     authPolicy  [3] EXPLICIT SEQUENCE OF TPMAuthPolicy OPTIONAL,
 *     description [4] EXPLICIT UTF8String OPTIONAL,
 *     rsaParent   [5] EXPLICIT BOOLEAN OPTIONAL,
 *     parent      INTEGER,
 *     pubkey      OCTET STRING,        -- marshalled TPM2B_PUBLIC
 *     privkey     OCTET STRING }       -- marshalled TPM2B_PRIVATE
 *
 * Decoding is strict about structure (DER, nothing after the SEQUENCE, the
 * TPM blobs exactly filling their OCTET STRINGs) and tolerant about what
 * writers legitimately differ in (emptyAuth absent or FALSE, policies we do
 * not execute, a parent written as a sign-extended negative INTEGER). */
#ifndef RT_TSS2KEY_H
#define RT_TSS2KEY_H

#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "rt_err.h"

#define RT_TSS2KEY_PEM_LABEL "TSS2 PRIVATE KEY"

/* Largest key file read: real ones are under 2 KiB even with policies. */
#define RT_TSS2KEY_MAX_FILE (64 * 1024)

typedef enum {
  RT_TSS2KEY_LOADABLE = 3,   /* 2.23.133.10.1.3: TPM2_Load under the parent */
  RT_TSS2KEY_IMPORTABLE = 4, /* 2.23.133.10.1.4: TPM2_Import first (secret set) */
  RT_TSS2KEY_SEALED = 5,     /* 2.23.133.10.1.5: sealed data for TPM2_Unseal */
} rt_tss2key_type;

typedef struct {
  rt_tss2key_type type;
  /* 1: the key's authValue is empty, no password needed. */
  int empty_auth;
  /* TPM handle of the parent: a persistent key (0x81......) or a hierarchy
   * (0x40......, meaning the primary from the standard ECC P-256 template,
   * see rt_srk.h). Parent 0 in a file means the owner hierarchy (both
   * tpm2-openssl and tpm2-tss-engine read it so). */
  uint32_t parent;
  /* rsaParent TRUE: a hierarchy parent is the RSA-2048 primary instead. */
  int rsa_parent;
  TPM2B_PUBLIC pub;
  TPM2B_PRIVATE priv;
  /* Importable keys only: the marshalled TPM2B_ENCRYPTED_SECRET. */
  int has_secret;
  TPM2B_ENCRYPTED_SECRET secret;
  /* UTF-8, cut at 255 bytes on a character boundary; "" when absent. */
  char description[256];
  /* The key carries a policy / signed policies. Their content is checked
   * for form only, except for the one policy rattest writes and executes:
   * exactly one TPM2_PolicyPCR (has_pcr_policy, below). */
  int has_policy;
  int has_auth_policy;
  /* policy = one TPMPolicy { commandCode TPM2_CC_PolicyPCR (0x17f),
   * commandPolicy = marshalled TPML_PCR_SELECTION pcrs || pcrDigest }, the
   * encoding of openssl_tpm2_engine (the draft's reference implementation)
   * and the kernel's trusted keys: the selection first, then the digest of
   * the selected PCR values (banks in selection order, indexes ascending)
   * with the key's nameAlg, its bytes without a size field. A loader
   * replays TPM2_PolicyPCR(pcrDigest, pcrs) in a policy session. Decoding
   * sets it for a policy of that form only; a PolicyPCR entry that does not
   * unmarshal exactly, or whose digest is not of the nameAlg's size, is
   * RT_E_INVALID. Encoding writes it when has_pcr_policy (with has_policy
   * set too). */
  int has_pcr_policy;
  TPML_PCR_SELECTION policy_pcrs;
  TPM2B_DIGEST policy_pcr_digest;
} rt_tss2key;

/* Parses a key file, PEM (-----BEGIN TSS2 PRIVATE KEY-----) or DER.
 * Anything malformed, truncated, followed by trailing bytes, of an unknown
 * type OID, with an impossible parent handle or with TPM blobs that do not
 * unmarshal exactly is RT_E_INVALID naming the field. */
rt_code rt_tss2key_decode(const uint8_t *data, size_t len, rt_tss2key *key, rt_err *err);

/* Reads and decodes a key file (at most RT_TSS2KEY_MAX_FILE bytes). */
rt_code rt_tss2key_read(const char *path, rt_tss2key *key, rt_err *err);

/* DER form, as tpm2-openssl writes it: emptyAuth TRUE when empty_auth (else
 * absent, as the draft recommends), the parent as a positive INTEGER,
 * description and rsaParent only when set, the PolicyPCR policy when
 * has_pcr_policy. A key with other policies or authPolicy cannot be written
 * (we would drop them): RT_E_INVALID. *der is OPENSSL_malloc'ed. */
rt_code rt_tss2key_encode_der(const rt_tss2key *key, uint8_t **der, size_t *len, rt_err *err);

/* The same as PEM text, NUL-terminated (*len excludes the NUL); free with
 * OPENSSL_free. */
rt_code rt_tss2key_encode_pem(const rt_tss2key *key, char **pem, size_t *len, rt_err *err);

/* Writes the PEM form to path, mode 0600, atomically (rt_file_write_atomic). */
rt_code rt_tss2key_write(const char *path, const rt_tss2key *key, rt_err *err);

#endif
