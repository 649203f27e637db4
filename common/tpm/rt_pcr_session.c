#include "rt_pcr_session.h"

#include "rt_pcrsel.h"

int rt_tpm_rc_is_fmt1(TSS2_RC rc, TSS2_RC want) {
  TSS2_RC base = rc & 0xffffu;
  return (base & TPM2_RC_FMT1) && (base & (TPM2_RC_FMT1 | 0x3fu)) == want;
}

static rt_code not_satisfied(const TPML_PCR_SELECTION *sel, const char *since, rt_err *err) {
  char text[192];
  rt_pcrsel_format(sel, text, sizeof text);
  return rt_err_set(err, RT_E_INVALID, "PCR policy not satisfied: a PCR in %s changed since %s",
                    text, since);
}

rt_code rt_pcr_session_start(rt_tpm *tpm, TPMI_ALG_HASH alg, const TPML_PCR_SELECTION *sel,
                             const char *since, ESYS_TR *session, rt_err *err) {
  *session = ESYS_TR_NONE;
  TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
  TSS2_RC rc =
      Esys_StartAuthSession(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                            ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym, alg, session);
  if (rc != TSS2_RC_SUCCESS) {
    *session = ESYS_TR_NONE;
    return rt_tpm_rc(err, rc, "starting the PCR policy session");
  }
  TPM2B_DIGEST now = {.size = 0};
  rc = Esys_PolicyPCR(tpm->esys, *session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &now, sel);
  if (rc == TSS2_RC_SUCCESS)
    return RT_OK;
  rt_tpm_flush(tpm, session);
  /* TPM_RC_VALUE: the TPM found the selection's values wrong for the
   * policy, which to the user is the same PCR change. */
  if (rt_tpm_rc_is_fmt1(rc, TPM2_RC_VALUE))
    return not_satisfied(sel, since, err);
  char text[192];
  rt_pcrsel_format(sel, text, sizeof text);
  rt_tpm_rc(err, rc, "PolicyPCR");
  return rt_err_prefix(err, "PCR selection %s: ", text);
}

rt_code rt_pcr_session_fail(TSS2_RC rc, const TPML_PCR_SELECTION *sel, const char *since,
                            const char *command, rt_err *err) {
  if (rt_tpm_rc_is_fmt1(rc, TPM2_RC_POLICY_FAIL))
    return not_satisfied(sel, since, err);
  return rt_tpm_rc(err, rc, command);
}
