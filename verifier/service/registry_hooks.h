/* The service's use of the machine registry (verifier/registry, issue 14)
 * when serve has --db: the replay guard shared by every verifier on the
 * database, and the record of decisions, machines and certificates. Each
 * function does nothing when the verifier has no store. */
#ifndef RT_VERIFIER_REGISTRY_HOOKS_H
#define RT_VERIFIER_REGISTRY_HOOKS_H

#include <stdint.h>
#include <time.h>

#include "handler.h"

/* Consumes a token id in the store after the process's own guard accepted
 * it: TOKEN_REPLAYED when another verifier (or this one before a restart)
 * consumed it already; INTERNAL when the store cannot say (refused rather
 * than accepted: a guard that cannot record reopens replay). */
grpc_status_code rt_registry_consume(rt_verifier *v, const uint8_t *id, size_t len, time_t expires,
                                     time_t now, rt_rpc_status *st);

/* Begin, once the EK is trusted: PERMISSION_DENIED EK_REVOKED when the
 * registry holds it revoked, NAME_TAKEN when it binds name (already
 * checked by the name rule) to another EK; INTERNAL when the registry
 * cannot say (refused rather than let a revoked EK through). ek_hex: 64
 * hex digits. Nothing is bound here: Begin does not prove the machine holds
 * the EK (its certificate is public), so a binding made here would let
 * anyone take names for other machines' EKs. */
grpc_status_code rt_registry_check_begin(rt_verifier *v, const char *name, const char *ek_hex,
                                         rt_rpc_status *st);

/* Finish, after the activated secret proved the EK and before anything is
 * issued: binds name to the EK if no EK holds it (first come), else
 * NAME_TAKEN (another EK won since Begin); INTERNAL when the registry
 * cannot record it. Under the policy's "name_binding": "registered" names
 * are never bound by enrolling: Begin and Finish both require the
 * operator's binding to this EK (NAME_UNREGISTERED without one). */
grpc_status_code rt_registry_bind(rt_verifier *v, const char *name, const char *ek_hex,
                                  rt_rpc_status *st);

/* Finish, once everything is issued and before the answer is sent: commits
 * the accepted decision, the machine's enrollment and the certificate
 * (name, EK, serial, notAfter) in one transaction, so that no certificate
 * leaves the verifier unless the registry can list, revoke and put it in
 * the CRL. INTERNAL REGISTRY_FAILED when that fails (the token is spent:
 * the client begins again from Begin). */
grpc_status_code rt_registry_issued(rt_verifier *v, rt_call_audit *a, rt_rpc_status *st);

/* Records the decision of a call whose EK is known (anonymous refusals only
 * go to the audit log) as its audit line states it, and for an
 * accepted Begin the machine (TPM vendor and model); an accepted Finish is
 * rt_registry_issued's. A failure is logged, never turned into a refusal:
 * the answer is already decided. */
void rt_registry_record(rt_verifier *v, const rt_call_audit *a, grpc_status_code s,
                        const rt_rpc_status *st);

#endif
