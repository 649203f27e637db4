#include "registry_hooks.h"

#include <ctype.h>
#include <string.h>

#include "decision.h"
#include "rt_log.h"
#include "rt_name.h"
#include "store.h"

grpc_status_code rt_registry_consume(rt_verifier *v, const uint8_t *id, size_t len, time_t expires,
                                     time_t now, rt_rpc_status *st) {
  if (v->store == NULL)
    return GRPC_STATUS_OK;
  rt_err err;
  bool fresh = false;
  if (rt_store_token_consume(v->store, id, len, expires, now, &fresh, &err) != RT_OK) {
    rt_error("registry: %s", err.msg);
    return rt_deny_token(st, RT_TOKEN_FAILURE, "the registry could not record the token");
  }
  if (!fresh)
    return rt_deny_token(st, RT_TOKEN_REPLAYED, "token already used (registry)");
  return GRPC_STATUS_OK;
}

static grpc_status_code unreadable(const rt_err *err, rt_rpc_status *st) {
  rt_error("registry: %s", err->msg);
  return rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "the registry could not be read");
}

static grpc_status_code name_taken(const char *name, rt_rpc_status *st) {
  return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "NAME_TAKEN",
                 "the name %s belongs to another EK (rattest-verifier machines show)", name);
}

/* The registry's binding of name, under "name_binding": "registered"
 * (nothing is ever bound by enrolling). */
static grpc_status_code check_registered(rt_verifier *v, const char *name, const char *ek_hex,
                                         rt_rpc_status *st) {
  rt_err err;
  char owner[RT_STORE_EK_HEX + 1];
  rt_code code = rt_store_name_owner(v->store, name, owner, &err);
  if (code == RT_E_NOT_FOUND)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "NAME_UNREGISTERED",
                   "the name %s is bound to no EK (rattest-verifier machines add)", name);
  if (code != RT_OK)
    return unreadable(&err, st);
  return strcmp(owner, ek_hex) == 0 ? GRPC_STATUS_OK : name_taken(name, st);
}

/* Under "name_binding": "ek" the one name the EK may take is its own
 * (rt_name_from_ek); no registry needed. */
static grpc_status_code check_ek_name(const rt_verifier *v, const char *name, const char *ek_hex,
                                      rt_rpc_status *st) {
  if (rt_policy_names(v->policy) != RT_POLICY_NAMES_EK)
    return GRPC_STATUS_OK;
  rt_err err;
  char own[RT_NAME_EK_SIZE];
  if (rt_name_from_ek(ek_hex, own, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "the EK's name: %s", err.msg);
  if (strcmp(name, own) != 0)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "NAME_NOT_EK",
                   "the policy's name_binding \"ek\": this EK enrolls as %s only", own);
  return GRPC_STATUS_OK;
}

grpc_status_code rt_registry_check_begin(rt_verifier *v, const char *name, const char *ek_hex,
                                         rt_rpc_status *st) {
  grpc_status_code s = check_ek_name(v, name, ek_hex, st);
  if (s != GRPC_STATUS_OK || v->store == NULL)
    return s;
  rt_err err;
  bool revoked = true;
  char owner[RT_STORE_EK_HEX + 1];
  if (rt_store_is_ek_revoked(v->store, ek_hex, &revoked, &err) != RT_OK)
    return unreadable(&err, st);
  if (revoked)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "EK_REVOKED",
                   "the EK is revoked in the registry");
  if (rt_policy_names(v->policy) == RT_POLICY_NAMES_REGISTERED)
    return check_registered(v, name, ek_hex, st);
  rt_code code = rt_store_name_owner(v->store, name, owner, &err);
  if (code != RT_OK && code != RT_E_NOT_FOUND)
    return unreadable(&err, st);
  if (code == RT_OK && strcmp(owner, ek_hex) != 0)
    return name_taken(name, st);
  return GRPC_STATUS_OK;
}

grpc_status_code rt_registry_bind(rt_verifier *v, const char *name, const char *ek_hex,
                                  rt_rpc_status *st) {
  /* Again: the policy may have been reloaded since Begin. */
  grpc_status_code s = check_ek_name(v, name, ek_hex, st);
  if (s != GRPC_STATUS_OK || v->store == NULL)
    return s;
  if (rt_policy_names(v->policy) == RT_POLICY_NAMES_REGISTERED)
    return check_registered(v, name, ek_hex, st);
  rt_err err;
  bool taken = true;
  if (rt_store_bind_name(v->store, name, ek_hex, time(NULL), &taken, &err) != RT_OK) {
    rt_error("registry: %s", err.msg);
    return rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "the registry could not bind the name");
  }
  return taken ? name_taken(name, st) : GRPC_STATUS_OK;
}

/* Begin accepted: the machine, its EK certificate and what it says. */
static rt_code record_begin(rt_verifier *v, const rt_call_audit *a, time_t now, rt_err *err) {
  const rt_ek_info *ek = a->line.ek;
  rt_store_machine m = {
      .ek_sha256 = a->ek_hex,
      .ek_cert = a->ek_cert,
      .ek_cert_len = a->ek_cert_len,
      .tpm_vendor = ek != NULL ? rt_ek_info_vendor(ek) : NULL,
      .tpm_model = ek != NULL && ek->model[0] ? ek->model : NULL,
  };
  return rt_store_machine_add(v->store, &m, now, err);
}

/* The key certificate's serial as the registry keeps it: lowercase hex. */
static void lower_serial(const rt_call_audit *a, char *serial, size_t size) {
  size_t i;
  for (i = 0; a->key_serial[i] != 0 && i + 1 < size; i++)
    serial[i] = (char)tolower((unsigned char)a->key_serial[i]);
  serial[i] = 0;
}

grpc_status_code rt_registry_issued(rt_verifier *v, rt_call_audit *a, rt_rpc_status *st) {
  if (v->store == NULL)
    return GRPC_STATUS_OK;
  char serial[sizeof a->key_serial];
  lower_serial(a, serial, sizeof serial);
  time_t now = time(NULL);
  rt_store_decision d = {.at = now,
                         .method = a->line.method,
                         .code = RT_STORE_ACCEPTED,
                         .peer = a->line.peer,
                         .name = a->name,
                         .ek_sha256 = a->ek_hex};
  rt_store_machine m = {.ek_sha256 = a->ek_hex};
  rt_store_identity id = {.name = a->name,
                          .ek_sha256 = a->ek_hex,
                          .serial = serial,
                          .not_after = (time_t)a->key_not_after};
  rt_err err;
  if (rt_store_enrollment_issued(v->store, &d, &m, &id, &err) == RT_OK)
    return GRPC_STATUS_OK;
  rt_error("registry: recording the certificate %s: %s", serial, err.msg);
  /* The certificates are signed but never sent (the wrapper frees a
   * refused call's response): nobody holds them, and their serial is
   * merely burned. Nor are the secrets, whatever the step had put in. */
  a->line.secrets = NULL;
  return rt_deny(st, GRPC_STATUS_INTERNAL, "REGISTRY_FAILED",
                 "the registry could not record the certificate: begin again");
}

/* serve --decisions-keep: old decisions and spent token ids go, once an
 * hour, after a call's own record. */
static void prune(rt_verifier *v, time_t now) {
  rt_err err;
  size_t n_decisions = 0, n_tokens = 0;
  if (rt_store_prune_due(v->store, now, &n_decisions, &n_tokens, &err) != RT_OK)
    rt_error("registry: deleting old decisions: %s", err.msg);
  else if (n_decisions + n_tokens > 0)
    rt_info("registry: deleted %zu old decisions and %zu expired token ids", n_decisions, n_tokens);
}

void rt_registry_record(rt_verifier *v, const rt_call_audit *a, grpc_status_code s,
                        const rt_rpc_status *st) {
  /* Only calls that identified their EK (a trusted EK certificate or
   * allow-list entry at Begin, an authentic token after it): anyone can
   * send garbage, and a row per anonymous refusal would let them fill the
   * disk. Those stay in the audit log. */
  if (v == NULL || v->store == NULL || a->line.ek_sha256 == NULL)
    return;
  rt_err err, ignored;
  time_t now = time(NULL);
  /* A name the client sent that breaks the name rule is not stored: the
   * refusal's code says what was wrong with it. */
  const char *name = rt_name_check(a->line.name, &ignored) == RT_OK ? a->line.name : NULL;
  const char *ek =
      rt_store_ek_check(a->line.ek_sha256, &ignored) == RT_OK ? a->line.ek_sha256 : NULL;
  /* A refusal without a code is the verifier's own failure. */
  const char *refusal = st->code != NULL ? st->code : "INTERNAL";
  rt_store_decision d = {.at = now,
                         .method = a->line.method,
                         .code = s == GRPC_STATUS_OK ? RT_STORE_ACCEPTED : refusal,
                         .peer = a->line.peer,
                         .name = name,
                         .ek_sha256 = ek};
  /* An accepted Finish is recorded already, with its certificate, by
   * rt_registry_issued: it is refused when that fails. */
  rt_code code = RT_OK;
  if (s != GRPC_STATUS_OK || strcmp(d.method, "Finish") != 0)
    code = rt_store_decision_add(v->store, &d, &err);
  if (code == RT_OK && s == GRPC_STATUS_OK && ek != NULL && strcmp(d.method, "Begin") == 0)
    code = record_begin(v, a, now, &err);
  if (code != RT_OK)
    rt_error("registry: recording the %s decision: %s", d.method, err.msg);
  prune(v, now);
}
