/* The TPM session module against a real (software) TPM.
 *
 * Usage: test_tpm EK_CERT_DER
 * Run under tests/harness/with-swtpm, which exports RATTEST_TCTI; the DER file
 * is the RSA EK certificate as read by tpm2_nvread, our judge. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_esys.h>
#include <unistd.h>

#include "rt_file.h"
#include "rt_log.h"
#include "rt_test.h"
#include "rt_tpm.h"

/* Standard TCG ECC P-256 storage primary template (what the SRK uses). */
static TPM2B_PUBLIC srk_template(void) {
  TPM2B_PUBLIC t = {0};
  t.publicArea.type = TPM2_ALG_ECC;
  t.publicArea.nameAlg = TPM2_ALG_SHA256;
  t.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                  TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                  TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
  t.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
  t.publicArea.parameters.eccDetail.symmetric.keyBits.aes = 128;
  t.publicArea.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
  t.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
  t.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  t.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  return t;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_tpm EK_CERT_DER\n");
    return 2;
  }
  rt_log_set_level(RT_LOG_ERROR);
  rt_err err = {0};
  const char *env_tcti = getenv(RT_TCTI_ENV);
  CHECK(env_tcti != NULL && env_tcti[0] != '\0', "run under with-swtpm: RATTEST_TCTI unset");
  if (env_tcti == NULL)
    return rt_test_done("test_tpm");
  char saved_tcti[512];
  snprintf(saved_tcti, sizeof saved_tcti, "%s", env_tcti);

  /* TCTI precedence: explicit, then environment, then tctildr's default. */
  CHECK(strcmp(rt_tpm_tcti_resolve("device:/dev/tpmrm9"), "device:/dev/tpmrm9") == 0,
        "explicit TCTI not preferred");
  CHECK(strcmp(rt_tpm_tcti_resolve(""), saved_tcti) == 0, "environment TCTI not used");
  unsetenv(RT_TCTI_ENV);
  CHECK(rt_tpm_tcti_resolve(NULL) == NULL, "default TCTI should be NULL");
  /* Nothing configured and no TPM device: one error naming the variable,
   * no default search (machines with a TPM device cannot check this). */
  if (access("/dev/tpmrm0", F_OK) != 0 && access("/dev/tpm0", F_OK) != 0) {
    rt_tpm *none = NULL;
    CHECK(rt_tpm_open(NULL, &none, &err) == RT_E_TPM && none == NULL, "no TPM accepted");
    CHECK_STR_CONTAINS(err.msg, "no TPM: no TCTI is configured");
    CHECK_STR_CONTAINS(err.msg, RT_TCTI_ENV);
  }
  setenv(RT_TCTI_ENV, saved_tcti, 1);

  /* Failures name the TCTI that failed. */
  rt_tpm *tpm = NULL;
  CHECK(rt_tpm_open("swtpm:host=127.0.0.1,port=1", &tpm, &err) == RT_E_TPM, "closed port accepted");
  CHECK(tpm == NULL, "handle set on failure");
  CHECK_STR_CONTAINS(err.msg, "swtpm:host=127.0.0.1,port=1");
  CHECK(rt_tpm_open("nosuchtcti:foo", &tpm, &err) == RT_E_TPM, "unknown TCTI accepted");
  CHECK_STR_CONTAINS(err.msg, "nosuchtcti");

  CHECK(rt_tpm_open(NULL, &tpm, &err) == RT_OK, "open: %s", err.msg);
  if (tpm == NULL)
    return rt_test_done("test_tpm");
  CHECK(strcmp(tpm->tcti_name, saved_tcti) == 0, "tcti_name %s", tpm->tcti_name);

  TPM2B_DIGEST *rnd = NULL;
  TSS2_RC rc = Esys_GetRandom(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, 16, &rnd);
  CHECK(rc == TSS2_RC_SUCCESS && rnd->size == 16, "GetRandom: 0x%x", rc);
  Esys_Free(rnd);

  /* NV read equals what tpm2-tools read from the same index. */
  uint8_t *nv = NULL, *want = NULL;
  size_t nv_len = 0, want_len = 0;
  CHECK(rt_file_read(argv[1], 1 << 20, &want, &want_len, &err) == RT_OK, "%s", err.msg);
  CHECK(rt_tpm_nv_read(tpm, RT_NV_EK_CERT_RSA2048, &nv, &nv_len, &err) == RT_OK, "nv: %s", err.msg);
  CHECK(nv_len == want_len && want_len > 0 && memcmp(nv, want, nv_len) == 0,
        "NV read differs from tpm2_nvread (%zu vs %zu bytes)", nv_len, want_len);
  free(nv);
  free(want);

  /* A missing index is "not found", distinct from a TPM failure. */
  nv = NULL;
  CHECK(rt_tpm_nv_read(tpm, 0x01c0fff0, &nv, &nv_len, &err) == RT_E_NOT_FOUND, "missing index: %s",
        err.msg);
  CHECK(nv == NULL, "data returned for a missing index");
  CHECK_STR_CONTAINS(err.msg, "0x01c0fff0");

  /* Flush leaves nothing behind and resets the handle; flushing NONE is a
   * no-op, so cleanup paths can call it blindly. */
  uint32_t before = 99, after = 99;
  CHECK(rt_tpm_count_transients(tpm, &before, &err) == RT_OK, "%s", err.msg);
  TPM2B_PUBLIC tmpl = srk_template();
  TPM2B_SENSITIVE_CREATE sens = {0};
  TPM2B_DATA outside = {0};
  TPML_PCR_SELECTION pcrs = {0};
  ESYS_TR primary = ESYS_TR_NONE;
  rc = Esys_CreatePrimary(tpm->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                          &sens, &tmpl, &outside, &pcrs, &primary, NULL, NULL, NULL, NULL);
  CHECK(rc == TSS2_RC_SUCCESS, "CreatePrimary: 0x%x", rc);
  uint32_t during = 0;
  CHECK(rt_tpm_count_transients(tpm, &during, &err) == RT_OK && during == before + 1,
        "transients during: %u, before %u", during, before);
  rt_tpm_flush(tpm, &primary);
  CHECK(primary == ESYS_TR_NONE, "handle not reset");
  rt_tpm_flush(tpm, &primary);
  CHECK(rt_tpm_count_transients(tpm, &after, &err) == RT_OK && after == before,
        "transients after: %u, before %u", after, before);

  /* rc classification used for "not found" decisions. */
  CHECK(rt_tpm_rc_is_handle(TPM2_RC_HANDLE | TPM2_RC_1), "handle rc not recognised");
  CHECK(rt_tpm_rc_is_handle(0x00070000u | TPM2_RC_HANDLE | TPM2_RC_P),
        "handle rc from ESYS layer not recognised");
  CHECK(!rt_tpm_rc_is_handle(TPM2_RC_VALUE | TPM2_RC_1), "value rc taken as handle");
  CHECK(!rt_tpm_rc_is_handle(TPM2_RC_INITIALIZE), "format-zero rc taken as handle");

  rt_tpm_close(tpm);
  return rt_test_done("test_tpm");
}
