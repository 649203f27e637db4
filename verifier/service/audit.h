/* The audit trail: one JSON line on stdout per enrollment decision (accept
 * or reject, with the reason and the EK's identity), separate from the
 * diagnostic log on stderr so it can be shipped and parsed as is. Never
 * carries secrets, nonces or keys. RATE_LIMITED refusals are written at
 * most once a second, with the count of those left out. */
#ifndef RT_VERIFIER_AUDIT_H
#define RT_VERIFIER_AUDIT_H

#include "ek_info.h"
#include "platform_cert.h"
#include "rt_grpc.h"

typedef struct {
  const char *method; /* "Begin", "Finish" */
  const char *peer;
  const char *name;      /* identity name, may be NULL */
  const char *ek_sha256; /* hex, may be NULL before the EK is known */
  /* How the EK was trusted (Begin): "certificate" (chain to a manufacturer
   * CA) or "allowlist" (the policy's ek_allowlist). */
  const char *ek_trust;
  const char *key_serial; /* hex serial of the issued key certificate, accept only */
  /* Secrets delivered (Finish) or confirmed (Confirm), comma-separated
   * names; never their contents. */
  const char *secrets;
  /* What the verified EK certificate says of the TPM (Begin), else NULL. */
  const rt_ek_info *ek;
  /* What the platform certificate says of the machine (Begin, when one was
   * sent and parsed), else NULL; and whether it passed every check. */
  const rt_platform_info *platform;
  bool platform_verified;
} rt_audit;

/* Writes the decision's line. Every string is bounded and escaped
 * (rt_text.h), so a line stays a few KiB whatever the client sent. */
void rt_audit_decision(const rt_audit *a, grpc_status_code status, const rt_rpc_status *st);

#endif
