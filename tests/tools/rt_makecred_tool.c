/* Test driver putting common/rt_makecred and common/rt_tpm_pub in front of
 * tpm2-tools (tests/test_makecredential.sh):
 *
 *   rt_makecred_tool EK_PUB NAME SECRET OUT
 *       EK_PUB: TPM2B_PUBLIC (tpm2_readpublic -o); NAME: binary object name
 *       (tpm2_createak -n); SECRET: the credential. Writes OUT in the format
 *       of tpm2_makecredential -o, which tpm2_activatecredential -i reads:
 *       0xBADCC0DE, version 1 (both 32-bit big endian), TPM2B_ID_OBJECT,
 *       TPM2B_ENCRYPTED_SECRET.
 *   rt_makecred_tool --name PUB          prints the object name in hex
 *   rt_makecred_tool --matches PUB DER   exit 0 when the certificate holds PUB
 *   rt_makecred_tool --verify PUB MSG SIG
 *       MSG: attestationData (tpm2_quote -m), SIG: TPMT_SIGNATURE
 *       (tpm2_quote -s); prints the signature's hash algorithm on success.
 *
 * Exit status 0 on success, 1 on failure (reason on stderr), 2 for usage. */
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "rt_file.h"
#include "rt_makecred.h"
#include "rt_tpm_pub.h"

#define MAX_FILE (64 * 1024)

static int fail(const rt_err *err) {
  fprintf(stderr, "rt_makecred_tool: %s\n", err->msg);
  return 1;
}

static rt_code load_pub(const char *path, TPM2B_PUBLIC *pub, rt_err *err) {
  uint8_t *buf = NULL;
  size_t len = 0;
  rt_code code = rt_file_read(path, MAX_FILE, &buf, &len, err);
  if (code == RT_OK)
    code = rt_tpm_pub_unmarshal(buf, len, pub, err);
  free(buf);
  if (code != RT_OK)
    rt_err_prefix(err, "%s: ", path);
  return code;
}

static int cmd_make(const char *ek_path, const char *name_path, const char *secret_path,
                    const char *out_path) {
  rt_err err = {0};
  TPM2B_PUBLIC ek;
  if (load_pub(ek_path, &ek, &err) != RT_OK)
    return fail(&err);
  uint8_t *buf = NULL;
  size_t len = 0;
  TPM2B_NAME name = {0};
  if (rt_file_read(name_path, MAX_FILE, &buf, &len, &err) != RT_OK)
    return fail(&err);
  if (len == 0 || len > sizeof name.name) {
    free(buf);
    fprintf(stderr, "rt_makecred_tool: %s: a name of %zu bytes\n", name_path, len);
    return 1;
  }
  memcpy(name.name, buf, len);
  name.size = (UINT16)len;
  free(buf);

  uint8_t *secret = NULL;
  size_t secret_len = 0;
  if (rt_file_read(secret_path, MAX_FILE, &secret, &secret_len, &err) != RT_OK)
    return fail(&err);
  TPM2B_ID_OBJECT blob;
  TPM2B_ENCRYPTED_SECRET enc;
  rt_code code = rt_make_credential(&ek.publicArea, &name, secret, secret_len, &blob, &enc, &err);
  rt_file_free_secret(secret, secret_len);
  if (code != RT_OK)
    return fail(&err);

  uint8_t out[8 + sizeof blob + sizeof enc];
  size_t off = 0;
  if (Tss2_MU_UINT32_Marshal(0xBADCC0DEu, out, sizeof out, &off) != TSS2_RC_SUCCESS ||
      Tss2_MU_UINT32_Marshal(1, out, sizeof out, &off) != TSS2_RC_SUCCESS ||
      Tss2_MU_TPM2B_ID_OBJECT_Marshal(&blob, out, sizeof out, &off) != TSS2_RC_SUCCESS ||
      Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&enc, out, sizeof out, &off) != TSS2_RC_SUCCESS) {
    fprintf(stderr, "rt_makecred_tool: marshalling the credential failed\n");
    return 1;
  }
  FILE *f = fopen(out_path, "wb");
  if (f == NULL || fwrite(out, 1, off, f) != off || fclose(f) != 0) {
    perror(out_path);
    return 1;
  }
  return 0;
}

static int cmd_name(const char *pub_path) {
  rt_err err = {0};
  TPM2B_PUBLIC pub;
  TPM2B_NAME name;
  if (load_pub(pub_path, &pub, &err) != RT_OK ||
      rt_tpm_pub_name(&pub.publicArea, &name, &err) != RT_OK)
    return fail(&err);
  for (size_t i = 0; i < name.size; i++)
    printf("%02x", name.name[i]);
  printf("\n");
  return 0;
}

static int cmd_matches(const char *pub_path, const char *der_path) {
  rt_err err = {0};
  TPM2B_PUBLIC pub;
  if (load_pub(pub_path, &pub, &err) != RT_OK)
    return fail(&err);
  uint8_t *der = NULL;
  size_t len = 0;
  if (rt_file_read(der_path, MAX_FILE, &der, &len, &err) != RT_OK)
    return fail(&err);
  const unsigned char *p = der;
  X509 *cert = d2i_X509(NULL, &p, (long)len);
  free(der);
  if (cert == NULL) {
    fprintf(stderr, "rt_makecred_tool: %s: not a DER certificate\n", der_path);
    return 1;
  }
  int eq = rt_tpm_pub_matches(&pub.publicArea, X509_get0_pubkey(cert));
  X509_free(cert);
  if (!eq)
    fprintf(stderr, "rt_makecred_tool: the certificate's key is not %s\n", pub_path);
  return eq ? 0 : 1;
}

static int cmd_verify(const char *pub_path, const char *msg_path, const char *sig_path) {
  rt_err err = {0};
  TPM2B_PUBLIC pub;
  if (load_pub(pub_path, &pub, &err) != RT_OK)
    return fail(&err);
  uint8_t *msg = NULL, *sigbuf = NULL;
  size_t msg_len = 0, sig_len = 0;
  if (rt_file_read(msg_path, MAX_FILE, &msg, &msg_len, &err) != RT_OK)
    return fail(&err);
  if (rt_file_read(sig_path, MAX_FILE, &sigbuf, &sig_len, &err) != RT_OK) {
    free(msg);
    return fail(&err);
  }
  /* tpm2_quote -m writes attestationData without its size: rebuild the
   * TPM2B_ATTEST the TPM returned. */
  TPM2B_ATTEST outer = {0};
  uint8_t attest[sizeof outer];
  size_t attest_len = 0;
  TPMS_ATTEST info;
  TPMT_SIGNATURE sig;
  EVP_PKEY *key = NULL;
  const uint8_t *data = NULL;
  size_t data_len = 0;
  int rc = 1;
  if (msg_len > sizeof outer.attestationData) {
    fprintf(stderr, "rt_makecred_tool: %s: too long\n", msg_path);
    goto out;
  }
  outer.size = (UINT16)msg_len;
  memcpy(outer.attestationData, msg, msg_len);
  if (Tss2_MU_TPM2B_ATTEST_Marshal(&outer, attest, sizeof attest, &attest_len) != TSS2_RC_SUCCESS) {
    fprintf(stderr, "rt_makecred_tool: marshalling TPM2B_ATTEST failed\n");
    goto out;
  }
  if (rt_tpm_attest_unmarshal(attest, attest_len, &info, &data, &data_len, &err) != RT_OK ||
      rt_tpm_sig_unmarshal(sigbuf, sig_len, &sig, &err) != RT_OK ||
      rt_tpm_pub_to_evp(&pub.publicArea, &key, &err) != RT_OK ||
      rt_tpm_sig_verify(key, &sig, data, data_len, &err) != RT_OK) {
    rc = fail(&err);
    goto out;
  }
  printf("%s 0x%04x\n", info.type == TPM2_ST_ATTEST_QUOTE ? "quote" : "attest",
         (unsigned)rt_tpm_sig_hash(&sig));
  rc = 0;
out:
  EVP_PKEY_free(key);
  free(msg);
  free(sigbuf);
  return rc;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--name") == 0)
    return cmd_name(argv[2]);
  if (argc == 4 && strcmp(argv[1], "--matches") == 0)
    return cmd_matches(argv[2], argv[3]);
  if (argc == 5 && strcmp(argv[1], "--verify") == 0)
    return cmd_verify(argv[2], argv[3], argv[4]);
  if (argc == 5 && argv[1][0] != '-')
    return cmd_make(argv[1], argv[2], argv[3], argv[4]);
  fprintf(stderr, "usage: rt_makecred_tool EK_PUB NAME SECRET OUT\n"
                  "       rt_makecred_tool --name PUB\n"
                  "       rt_makecred_tool --matches PUB CERT_DER\n"
                  "       rt_makecred_tool --verify PUB QUOTE_MSG QUOTE_SIG\n");
  return 2;
}
