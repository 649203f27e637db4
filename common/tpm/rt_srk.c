#include "rt_srk.h"

#include <string.h>

TPM2B_PUBLIC rt_srk_template(void) {
  TPM2B_PUBLIC t;
  /* Every byte matters (the template is hashed into the key's derivation),
   * so start from all zeros: empty authPolicy, empty unique, zero details. */
  memset(&t, 0, sizeof t);
  TPMT_PUBLIC *p = &t.publicArea;
  p->type = TPM2_ALG_ECC;
  p->nameAlg = TPM2_ALG_SHA256;
  p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                        TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                        TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
  p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
  p->parameters.eccDetail.symmetric.keyBits.aes = 128;
  p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
  p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
  p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  /* unique.ecc.x.size = unique.ecc.y.size = 0: see rt_srk.h. */
  return t;
}

rt_code rt_srk_create(rt_tpm *tpm, ESYS_TR *srk, TPM2B_PUBLIC **out_pub, rt_err *err) {
  *srk = ESYS_TR_NONE;
  if (out_pub != NULL)
    *out_pub = NULL;
  TPM2B_PUBLIC tmpl = rt_srk_template();
  TPM2B_SENSITIVE_CREATE sens;
  TPM2B_DATA outside;
  TPML_PCR_SELECTION pcrs;
  memset(&sens, 0, sizeof sens);
  memset(&outside, 0, sizeof outside);
  memset(&pcrs, 0, sizeof pcrs);
  TSS2_RC rc =
      Esys_CreatePrimary(tpm->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                         &sens, &tmpl, &outside, &pcrs, srk, out_pub, NULL, NULL, NULL);
  if (rc != TSS2_RC_SUCCESS) {
    *srk = ESYS_TR_NONE;
    rt_tpm_rc(err, rc, "CreatePrimary (SRK, owner hierarchy)");
    /* The usual cause on a provisioned machine is an owner password: say
     * so. Keep the format-one error, drop layer and session number. */
    TSS2_RC base = rc & 0xffffu;
    if ((base & TPM2_RC_FMT1) && ((base & (TPM2_RC_FMT1 | 0x3fu)) == TPM2_RC_BAD_AUTH ||
                                  (base & (TPM2_RC_FMT1 | 0x3fu)) == TPM2_RC_AUTH_FAIL))
      rt_err_prefix(err, "the owner hierarchy needs a password: ");
    return RT_E_TPM;
  }
  return RT_OK;
}
