/* Secret delivery at the end of a successful Finish (docs/secrets.md): each
 * secret of the policy becomes an object wrapped to the enrollment's EK in
 * the TPM2_Import format, sealed ones under a PolicyPCR over the values the
 * quote just proved; a confirm token and nonce let the machine prove
 * receipt (Confirm). */
#ifndef RT_VERIFIER_SECRET_DELIVER_H
#define RT_VERIFIER_SECRET_DELIVER_H

#include "enroll.h"
#include "evidence_check.h"
#include "rattest.pb-c.h"

/* Fills r->secrets, r->confirm_token and r->confirm_nonce; nothing when the
 * policy has no secrets. names receives the delivered names,
 * comma-separated, for the audit line. */
grpc_status_code rt_deliver_secrets(rt_verifier *v, const rt_session_state *state,
                                    const rt_pcr_proven *proven, Rattest__V1__FinishResponse *r,
                                    char *names, size_t names_size, rt_rpc_status *st);

/* Frees what rt_deliver_secrets put into r (not r itself). */
void rt_deliver_secrets_free(Rattest__V1__FinishResponse *r);

#endif
