/* Test driver putting common/rt_dup in front of tpm2-tools
 * (tests/test_dup.sh):
 *
 *   rt_dup_tool sealed PARENT_PUB DATA PUB DUP SEED [--pcr-policy SEL VALUES]
 *   rt_dup_tool rsa PARENT_PUB KEY_PEM PUB DUP SEED [--pcr-policy SEL VALUES]
 *       PARENT_PUB: the new parent's TPM2B_PUBLIC (tpm2_createek -u,
 *       tpm2_readpublic -o). Makes a sealed data object holding DATA, or a
 *       signing key of the RSA private key in KEY_PEM, and writes what
 *       `tpm2_import -u PUB -i DUP -s SEED` reads: the marshalled
 *       TPM2B_PUBLIC, TPM2B_PRIVATE and TPM2B_ENCRYPTED_SECRET (tpm2-tools
 *       5.x loads each with its Tss2_MU_*_Unmarshal). With --pcr-policy
 *       the object only opens under PolicyPCR over SEL ("sha256:0,7") with
 *       the values in VALUES (tpm2_pcrread -o).
 *   rt_dup_tool policy-pcr SEL VALUES OUT
 *       writes the PolicyPCR digest (SHA-256), as tpm2_policypcr -L does.
 *
 * Exit status 0 on success, 1 on failure (reason on stderr), 2 for usage. */
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "rt_dup.h"
#include "rt_file.h"
#include "rt_pcrsel.h"
#include "rt_tpm_pub.h"

#define MAX_FILE (64 * 1024)

static int fail(const rt_err *err) {
  fprintf(stderr, "rt_dup_tool: %s\n", err->msg);
  return 1;
}

/* The PolicyPCR digest of SEL with the values in the file at path. */
static rt_code pcr_policy(const char *sel_text, const char *path, TPM2B_DIGEST *policy,
                          rt_err *err) {
  TPML_PCR_SELECTION sel;
  uint8_t *values = NULL;
  size_t len = 0;
  rt_code code = rt_pcrsel_parse(sel_text, &sel, err);
  if (code == RT_OK)
    code = rt_file_read(path, MAX_FILE, &values, &len, err);
  if (code == RT_OK)
    code = rt_policy_pcr_digest(TPM2_ALG_SHA256, &sel, values, len, policy, err);
  free(values);
  return code;
}

static rt_code load_rsa(const char *path, EVP_PKEY **key, rt_err *err) {
  uint8_t *pem = NULL;
  size_t len = 0;
  rt_code code = rt_file_read(path, MAX_FILE, &pem, &len, err);
  if (code != RT_OK)
    return code;
  BIO *b = BIO_new_mem_buf(pem, (int)len);
  *key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
  BIO_free(b);
  rt_file_free_secret(pem, len);
  if (*key == NULL)
    return rt_err_set(err, RT_E_INVALID, "%s: not a PEM private key", path);
  return RT_OK;
}

static rt_code write_file(const char *path, const uint8_t *buf, size_t len, rt_err *err) {
  return rt_file_write_atomic(path, buf, len, 0600, err);
}

/* The three files tpm2_import reads. */
static rt_code write_import(const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *dup,
                            const TPM2B_ENCRYPTED_SECRET *seed, char **paths, rt_err *err) {
  uint8_t buf[sizeof(TPM2B_PRIVATE) + sizeof(TPM2B_PUBLIC)];
  size_t len = 0;
  rt_code code = RT_OK;
  if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof buf, &len) != TSS2_RC_SUCCESS)
    return rt_err_set(err, RT_E_INTERNAL, "marshalling TPM2B_PUBLIC failed");
  code = write_file(paths[0], buf, len, err);
  len = 0;
  if (code == RT_OK && Tss2_MU_TPM2B_PRIVATE_Marshal(dup, buf, sizeof buf, &len) != TSS2_RC_SUCCESS)
    code = rt_err_set(err, RT_E_INTERNAL, "marshalling TPM2B_PRIVATE failed");
  if (code == RT_OK)
    code = write_file(paths[1], buf, len, err);
  len = 0;
  if (code == RT_OK &&
      Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(seed, buf, sizeof buf, &len) != TSS2_RC_SUCCESS)
    code = rt_err_set(err, RT_E_INTERNAL, "marshalling TPM2B_ENCRYPTED_SECRET failed");
  if (code == RT_OK)
    code = write_file(paths[2], buf, len, err);
  return code;
}

/* argv: KIND PARENT_PUB INPUT PUB DUP SEED [--pcr-policy SEL VALUES] */
static int cmd_make(int argc, char **argv) {
  rt_err err = {0};
  TPM2B_PUBLIC parent;
  TPM2B_DIGEST policy;
  int with_policy = argc == 10;
  uint8_t *buf = NULL;
  size_t len = 0;
  rt_code code = rt_file_read(argv[2], MAX_FILE, &buf, &len, &err);
  if (code == RT_OK)
    code = rt_tpm_pub_unmarshal(buf, len, &parent, &err);
  free(buf);
  buf = NULL;
  if (code != RT_OK) {
    rt_err_prefix(&err, "%s: ", argv[2]);
    return fail(&err);
  }
  if (with_policy && pcr_policy(argv[8], argv[9], &policy, &err) != RT_OK)
    return fail(&err);

  rt_import_object obj;
  if (strcmp(argv[1], "sealed") == 0) {
    code = rt_file_read(argv[3], MAX_FILE, &buf, &len, &err);
    if (code == RT_OK)
      code = rt_import_sealed(buf, len, with_policy ? &policy : NULL, &obj, &err);
    if (buf != NULL)
      rt_file_free_secret(buf, len);
  } else {
    EVP_PKEY *key = NULL;
    code = load_rsa(argv[3], &key, &err);
    if (code == RT_OK)
      code = rt_import_rsa(key, with_policy ? &policy : NULL, &obj, &err);
    EVP_PKEY_free(key);
  }
  if (code != RT_OK)
    return fail(&err);
  TPM2B_PRIVATE dup;
  TPM2B_ENCRYPTED_SECRET seed;
  code = rt_dup_wrap(&parent.publicArea, &obj, &dup, &seed, &err);
  OPENSSL_cleanse(&obj.sensitive, sizeof obj.sensitive);
  if (code == RT_OK)
    code = write_import(&obj.pub, &dup, &seed, argv + 4, &err);
  return code == RT_OK ? 0 : fail(&err);
}

static int cmd_policy(const char *sel, const char *values, const char *out) {
  rt_err err = {0};
  TPM2B_DIGEST policy;
  if (pcr_policy(sel, values, &policy, &err) != RT_OK ||
      write_file(out, policy.buffer, policy.size, &err) != RT_OK)
    return fail(&err);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "policy-pcr") == 0)
    return cmd_policy(argv[2], argv[3], argv[4]);
  if ((argc == 7 || (argc == 10 && strcmp(argv[7], "--pcr-policy") == 0)) &&
      (strcmp(argv[1], "sealed") == 0 || strcmp(argv[1], "rsa") == 0))
    return cmd_make(argc, argv);
  fprintf(stderr,
          "usage: rt_dup_tool sealed PARENT_PUB DATA PUB DUP SEED [--pcr-policy SEL VALUES]\n"
          "       rt_dup_tool rsa PARENT_PUB KEY_PEM PUB DUP SEED [--pcr-policy SEL VALUES]\n"
          "       rt_dup_tool policy-pcr SEL VALUES OUT\n");
  return 2;
}
