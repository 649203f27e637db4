/* Policy sessions for PCR-bound objects: a sealed secret or a delivered key
 * whose authPolicy is TPM2_PolicyPCR over a selection (common/crypto/rt_dup.h,
 * rt_policy_pcr_digest). The bootstrap unseals and signs its proof of
 * receipt with them, the provider signs with them; one copy of the session
 * and of the message a PCR change gives. */
#ifndef RT_PCR_SESSION_H
#define RT_PCR_SESSION_H

#include <tss2/tss2_esys.h>

#include "rt_err.h"
#include "rt_tpm.h"

/* Starts a policy session with hash alg (the object's nameAlg: its
 * authPolicy was computed with it) and runs TPM2_PolicyPCR(sel) with an
 * empty pcrDigest: the TPM takes the PCR values of now, and whether they
 * are the bound ones only shows when the object checks the policy digest.
 * `since` ends the message of a refusal ("the secret was sealed"). On
 * success *session is for one command; the caller flushes it
 * (rt_tpm_flush) on every path. On failure nothing is left. */
rt_code rt_pcr_session_start(rt_tpm *tpm, TPMI_ALG_HASH alg, const TPML_PCR_SELECTION *sel,
                             const char *since, ESYS_TR *session, rt_err *err);

/* The error of `command` run with such a session: TPM_RC_POLICY_FAIL (the
 * PCR values are not the bound ones) is RT_E_INVALID "PCR policy not
 * satisfied: a PCR in sha256:7 changed since <since>"; anything else
 * rt_tpm_rc(command). */
rt_code rt_pcr_session_fail(TSS2_RC rc, const TPML_PCR_SELECTION *sel, const char *since,
                            const char *command, rt_err *err);

/* True when rc is the TPM format-one error `want` (TPM2_RC_VALUE,
 * TPM2_RC_POLICY_FAIL, ...), whichever layer, handle, session or parameter
 * number came with it. */
int rt_tpm_rc_is_fmt1(TSS2_RC rc, TSS2_RC want);

#endif
