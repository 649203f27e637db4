#include "enroll_platform.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decision.h"

rt_policy_platform_mode rt_platform_mode(const rt_policy *policy, bool have_ca) {
  rt_policy_platform_mode m = rt_policy_platform_cert(policy);
  if (m == RT_POLICY_PLATFORM_UNSET)
    return have_ca ? RT_POLICY_PLATFORM_VERIFY : RT_POLICY_PLATFORM_IGNORE;
  return m;
}

rt_code rt_platform_config_check(const rt_policy *policy, bool have_ca, rt_err *err) {
  rt_policy_platform_mode m = rt_policy_platform_cert(policy);
  if (have_ca || m == RT_POLICY_PLATFORM_UNSET || m == RT_POLICY_PLATFORM_IGNORE)
    return RT_OK;
  /* Without CAs every certificate would be refused as untrusted: say so
   * now rather than refuse the whole fleet one machine at a time. */
  return rt_err_set(err, RT_E_INVALID,
                    "the policy sets \"platform_cert\": \"%s\" but no --platform-ca was given",
                    m == RT_POLICY_PLATFORM_REQUIRED ? "required" : "verify");
}

grpc_status_code rt_enroll_check_platform(const rt_verifier *v, const ProtobufCBinaryData *cert,
                                          const rt_cert_der *ek_cert, rt_platform_seen *seen,
                                          rt_rpc_status *st) {
  memset(seen, 0, sizeof *seen);
  rt_policy_platform_mode mode = rt_platform_mode(v->policy, v->platform_ca != NULL);
  if (mode == RT_POLICY_PLATFORM_IGNORE)
    return GRPC_STATUS_OK;
  if (cert->len == 0) {
    if (mode == RT_POLICY_PLATFORM_REQUIRED)
      return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "PLATFORM_CERT_MISSING",
                     "the policy requires a platform certificate and none was sent (NV index "
                     "0x01c08000 empty)");
    return GRPC_STATUS_OK;
  }
  if (v->platform_ca == NULL) /* rt_platform_config_check prevents it */
    return rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "no platform CAs configured");
  rt_err err;
  rt_platform_reason reason = RT_PLATFORM_MALFORMED;
  rt_code code = rt_platform_cert_check(
      v->platform_ca, cert->data, cert->len, ek_cert != NULL ? ek_cert->der : NULL,
      ek_cert != NULL ? ek_cert->len : 0, time(NULL), &seen->info, &reason, &err);
  seen->present = seen->info.form != RT_PLATFORM_FORM_NONE;
  if (code == RT_OK) {
    seen->verified = true;
    return GRPC_STATUS_OK;
  }
  return rt_deny(st,
                 reason == RT_PLATFORM_MALFORMED ? GRPC_STATUS_INVALID_ARGUMENT
                                                 : GRPC_STATUS_PERMISSION_DENIED,
                 rt_platform_reason_code(reason) ? rt_platform_reason_code(reason)
                                                 : "PLATFORM_CERT_MALFORMED",
                 "%s", err.msg);
}

static char *dup_or_empty(const char *s, bool *ok) {
  char *d = strdup(s);
  if (d == NULL)
    *ok = false;
  return d;
}

rt_code rt_platform_to_session(const rt_platform_seen *seen, rt_session_state *state, rt_err *err) {
  if (!seen->verified)
    return RT_OK;
  Rattest__Internal__V1__Platform *p = malloc(sizeof *p);
  if (p == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory for the session state");
  rattest__internal__v1__platform__init(p);
  bool ok = true;
  /* Each string is the session's own (rt_token_state_free frees them). */
  p->manufacturer = dup_or_empty(seen->info.manufacturer, &ok);
  p->model = dup_or_empty(seen->info.model, &ok);
  p->version = dup_or_empty(seen->info.version, &ok);
  p->serial = dup_or_empty(seen->info.serial, &ok);
  state->platform = p;
  return ok ? RT_OK : rt_err_set(err, RT_E_NOMEM, "out of memory for the session state");
}
