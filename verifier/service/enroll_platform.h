/* Begin's platform certificate step: what the policy's "platform_cert"
 * asks of the certificate the machine sent, the refusal codes, and what
 * travels on to Finish in the session token. */
#ifndef RT_VERIFIER_ENROLL_PLATFORM_H
#define RT_VERIFIER_ENROLL_PLATFORM_H

#include <stdbool.h>

#include "enroll.h"
#include "platform_cert.h"
#include "rattest.pb-c.h"

/* The mode in force: the policy's, or when it says nothing VERIFY with
 * platform CAs and IGNORE without. */
rt_policy_platform_mode rt_platform_mode(const rt_policy *policy, bool have_ca);

/* Start-up check: a policy asking for platform certificates ("verify",
 * "required", or {platform_*} templates) without --platform-ca is a
 * configuration error (RT_E_INVALID), not a verifier refusing everyone. */
rt_code rt_platform_config_check(const rt_policy *policy, bool have_ca, rt_err *err);

/* What Begin saw, for the audit line and the session. */
typedef struct {
  bool present;  /* a certificate was sent and parsed: info is filled */
  bool verified; /* and it passed every check */
  rt_platform_info info;
} rt_platform_seen;

/* Judges req's platform certificate under the mode in force. ek_cert is the
 * EK certificate Begin accepted (NULL when the EK was trusted otherwise, so
 * no holder can match). Refusals: PLATFORM_CERT_MISSING (required, none
 * sent), PLATFORM_CERT_MALFORMED, PLATFORM_CERT_CHAIN,
 * PLATFORM_CERT_EXPIRED, PLATFORM_CERT_HOLDER. */
grpc_status_code rt_enroll_check_platform(const rt_verifier *v, const ProtobufCBinaryData *cert,
                                          const rt_cert_der *ek_cert, rt_platform_seen *seen,
                                          rt_rpc_status *st);

/* Puts a verified certificate's fields into the session for Finish;
 * nothing when none was verified. */
rt_code rt_platform_to_session(const rt_platform_seen *seen, rt_session_state *state, rt_err *err);

#endif
