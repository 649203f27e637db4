/* Finish: the machine answers the challenge with its evidence; every check
 * must pass before anything is issued. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decision.h"
#include "enroll.h"
#include "evidence_check.h"
#include "handler.h"
#include "rattest.pb-c.h"
#include "registry_hooks.h"
#include "rt_hex.h"
#include "rt_pcrsel.h"
#include "rt_templates.h"
#include "rt_tpm_pub.h"
#include "secret_deliver.h"
#include "throttle.h"

static grpc_status_code open_session(rt_verifier *v, const Rattest__V1__FinishRequest *req,
                                     rt_session_state **state, rt_rpc_status *st) {
  rt_err err;
  rt_token_reason why = RT_TOKEN_OK;
  if (rt_token_open(v->token_key, req->session_token.data, req->session_token.len, time(NULL),
                    state, &why, &err) != RT_OK)
    return rt_deny_token(st, why, err.msg);
  return GRPC_STATUS_OK;
}

/* The credential: only the TPM holding the certified EK, with the AK
 * loaded, could have recovered this secret. */
static grpc_status_code check_secret(const Rattest__V1__FinishRequest *req,
                                     const rt_session_state *state, rt_rpc_status *st) {
  if (req->activated_secret.len != state->credential_secret.len ||
      CRYPTO_memcmp(req->activated_secret.data, state->credential_secret.data,
                    state->credential_secret.len) != 0)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "SECRET_MISMATCH",
                   "the activated credential secret is wrong");
  return GRPC_STATUS_OK;
}

/* The token is consumed only once the secret matched: Begin needs only
 * public data, so a client without the TPM can get tokens at will, and
 * consuming them on any Finish would let it fill the replay guard. With
 * the secret, each entry costs a real TPM's activation, and the limits
 * (per EK, and all Finishes together) bound how fast entries come, which
 * is what the guard's capacity follows (docs/protocol.md, "Rate limits").
 * From here the token is single use whatever the outcome below: a failed
 * Finish must not be retried with the same challenge. Two Finishes racing
 * with the same token both get here; rt_replay_check_and_mark checks and
 * records under one lock, so exactly one goes on. */
static grpc_status_code consume_token(rt_verifier *v, const rt_session_state *state,
                                      rt_rpc_status *st) {
  rt_err err;
  rt_token_reason why = RT_TOKEN_OK;
  time_t now = time(NULL);
  grpc_status_code s = rt_throttle_ek(v, state->ek_cert_sha256.data, state->ek_cert_sha256.len, st);
  if (s == GRPC_STATUS_OK)
    s = rt_throttle_finish(v, st);
  if (s != GRPC_STATUS_OK)
    return s;
  if (rt_replay_check_and_mark(v->guard, state->token_id.data, (time_t)state->expires_unix, now,
                               &why, &err) != RT_OK)
    return rt_deny_token(st, why, err.msg);
  /* Issue 14: single use across every verifier sharing the registry. */
  return rt_registry_consume(v, state->token_id.data, state->token_id.len,
                             (time_t)state->expires_unix, now, st);
}

/* The PCR selection Begin demanded, as the TPM expresses it. */
static int session_selection(const rt_session_state *state, TPML_PCR_SELECTION *sel) {
  memset(sel, 0, sizeof *sel);
  rt_err err;
  for (size_t i = 0; i < state->n_pcr_selection; i++) {
    TPMI_ALG_HASH bank = rt_pcr_bank_parse(state->pcr_selection[i]->bank);
    for (size_t k = 0; k < state->pcr_selection[i]->n_pcrs; k++)
      if (rt_pcrsel_add(sel, bank, state->pcr_selection[i]->pcrs[k], &err) != RT_OK)
        return -1;
  }
  return 0;
}

static int add_der(ProtobufCBinaryData *f, const uint8_t *der, size_t len) {
  f->data = malloc(len ? len : 1);
  if (f->data == NULL)
    return -1;
  memcpy(f->data, der, len);
  f->len = len;
  return 0;
}

/* The serial goes to the audit line: it ties the log to the certificate. */
static void record_serial(const rt_issued *issued, rt_call_audit *a) {
  snprintf(a->key_serial, sizeof a->key_serial, "%s", issued->serial_hex);
  a->line.key_serial = a->key_serial;
  a->key_not_after = issued->not_after; /* issue 14: the registry's row */
}

/* The issuing CA's chain, for the machine to present with its
 * certificates. */
static grpc_status_code put_chain(const rt_verifier *v, Rattest__V1__FinishResponse *r,
                                  rt_rpc_status *st) {
  size_t n = 0;
  const rt_der *chain = rt_issuer_chain(v->issuer, &n);
  r->ca_chain = calloc(n ? n : 1, sizeof *r->ca_chain);
  if (r->ca_chain == NULL)
    return rt_deny_nomem(st, "the CA chain");
  for (size_t i = 0; i < n; i++) {
    if (add_der(&r->ca_chain[i], chain[i].data, chain[i].len) != 0)
      return rt_deny_nomem(st, "the CA chain");
    r->n_ca_chain++;
  }
  return GRPC_STATUS_OK;
}

/* The key's certificate (subject from the policy's templates) and the AK's
 * (same subject, no DNS names, never for TLS servers), then the chain. */
static grpc_status_code issue_certs(rt_verifier *v, const rt_policy_identity *id, EVP_PKEY *key,
                                    EVP_PKEY *ak, Rattest__V1__FinishResponse *r, rt_call_audit *a,
                                    rt_rpc_status *st) {
  rt_err err;
  rt_cert_request cr = {
      .profile = RT_CERT_KEY,
      .public_key = key,
      .common_name = id->common_name,
      .organization = id->organization,
      .organizational_unit = id->organizational_unit,
      .ek_sha256_hex = a->ek_hex,
      .dns_sans = (const char *const *)id->dns_sans,
      .n_dns_sans = id->n_dns_sans,
      .now = time(NULL),
      .lifetime_seconds = rt_policy_cert_lifetime(v->policy),
      .server_auth = rt_policy_server_auth(v->policy),
  };
  rt_issued issued;
  if (rt_issuer_issue_info(v->issuer, &cr, &r->key_certificate.data, &r->key_certificate.len,
                           &issued, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INTERNAL, "ISSUE_FAILED", "key certificate: %s", err.msg);
  record_serial(&issued, a);
  cr.profile = RT_CERT_AK;
  cr.public_key = ak;
  cr.server_auth = false;
  cr.dns_sans = NULL;
  cr.n_dns_sans = 0;
  if (rt_issuer_issue(v->issuer, &cr, &r->ak_certificate.data, &r->ak_certificate.len, &err) !=
      RT_OK)
    return rt_deny(st, GRPC_STATUS_INTERNAL, "ISSUE_FAILED", "AK certificate: %s", err.msg);
  return put_chain(v, r, st);
}

static grpc_status_code issue(rt_verifier *v, const rt_session_state *state, EVP_PKEY *key,
                              EVP_PKEY *ak, Rattest__V1__FinishResponse *r, rt_call_audit *a,
                              rt_rpc_status *st) {
  rt_err err;
  rt_policy_identity id;
  memset(&id, 0, sizeof id);
  /* Platform fields only from a certificate Begin verified (the token is
   * sealed: the client cannot add them). */
  rt_policy_platform platform = {NULL, NULL, NULL};
  if (state->platform != NULL)
    platform = (rt_policy_platform){state->platform->manufacturer, state->platform->model,
                                    state->platform->serial};
  if (rt_policy_render_identity_platform(v->policy, state->name, a->ek_hex, &platform, &id, &err) !=
      RT_OK)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "POLICY_SUBJECT", "%s", err.msg);
  grpc_status_code s = issue_certs(v, &id, key, ak, r, a, st);
  rt_policy_identity_free(&id);
  return s;
}

/* The quote over the nonce by the session's AK, and the PCRs it proves
 * judged by the policy (with the event log). */
static grpc_status_code check_evidence(rt_verifier *v, const Rattest__V1__FinishRequest *req,
                                       const rt_session_state *state, EVP_PKEY **ak,
                                       rt_pcr_proven *proven, rt_rpc_status *st) {
  rt_err err;
  TPM2B_PUBLIC akpub;
  if (rt_tpm_pub_unmarshal(state->ak_public.data, state->ak_public.len, &akpub, &err) != RT_OK ||
      rt_tpm_pub_to_evp(&akpub.publicArea, ak, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "session AK: %s", err.msg);
  TPML_PCR_SELECTION demanded;
  if (session_selection(state, &demanded) != 0)
    return rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "session PCR selection");
  TPMS_ATTEST quote;
  TPMI_ALG_HASH digest_alg;
  grpc_status_code s =
      rt_check_quote(v->policy, *ak, state->nonce.data, state->nonce.len, &demanded, &req->quote,
                     &req->quote_signature, &quote, &digest_alg, st);
  if (s != GRPC_STATUS_OK)
    return s;
  return rt_check_pcrs(v->policy, &quote, digest_alg, &req->event_log, req->pcr_values,
                       req->n_pcr_values, proven, st);
}

/* The new key: of the kind the policy allows and Begin announced,
 * certified by the AK over the nonce, and held by the machine (possession
 * signature over the nonce). */
static grpc_status_code check_new_key(rt_verifier *v, const Rattest__V1__FinishRequest *req,
                                      const rt_session_state *state, EVP_PKEY *ak, EVP_PKEY **key,
                                      rt_rpc_status *st) {
  rt_err err;
  TPM2B_PUBLIC keypub;
  grpc_status_code s = rt_check_key(v->policy, &req->key_public, &keypub, st);
  if (s != GRPC_STATUS_OK)
    return s;
  if ((int32_t)rt_key_alg_of(&keypub.publicArea) != state->key_algorithm)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "KEY_ALGORITHM",
                   "the key is not of the algorithm announced in Begin");
  s = rt_check_certify(v->policy, ak, &keypub.publicArea, state->nonce.data, state->nonce.len,
                       &req->certify_info, &req->certify_signature, st);
  if (s != GRPC_STATUS_OK)
    return s;
  if (rt_tpm_pub_to_evp(&keypub.publicArea, key, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "KEY_MALFORMED", "key: %s", err.msg);
  return rt_check_possession(*key, state->nonce.data, state->nonce.len, &req->possession_signature,
                             st);
}

static grpc_status_code finish(rt_verifier *v, const Rattest__V1__FinishRequest *req,
                               Rattest__V1__FinishResponse *r, rt_call_audit *a,
                               rt_rpc_status *st) {
  rt_session_state *state = NULL;
  EVP_PKEY *ak = NULL, *key = NULL;
  rt_pcr_proven proven;
  grpc_status_code s = open_session(v, req, &state, st);
  if (s != GRPC_STATUS_OK)
    goto out;
  snprintf(a->name, sizeof a->name, "%s", state->name);
  a->line.name = a->name;
  rt_hex(state->ek_cert_sha256.data, state->ek_cert_sha256.len < 32 ? 0 : 32, a->ek_hex);
  a->line.ek_sha256 = a->ek_hex;
  s = check_secret(req, state, st);
  if (s == GRPC_STATUS_OK)
    s = consume_token(v, state, st);
  if (s == GRPC_STATUS_OK)
    s = check_evidence(v, req, state, &ak, &proven, st);
  if (s == GRPC_STATUS_OK)
    s = check_new_key(v, req, state, ak, &key, st);
  if (s == GRPC_STATUS_OK) /* issue 14: the name is this EK's from now on (--db) */
    s = rt_registry_bind(v, a->name, a->ek_hex, st);
  if (s == GRPC_STATUS_OK)
    s = issue(v, state, key, ak, r, a, st);
  if (s == GRPC_STATUS_OK) {
    s = rt_deliver_secrets(v, state, &proven, r, a->secrets, sizeof a->secrets, st);
    a->line.secrets = a->secrets;
  }
  if (s == GRPC_STATUS_OK) /* last: nothing is sent that the registry does not know */
    s = rt_registry_issued(v, a, st);
out:
  EVP_PKEY_free(ak);
  EVP_PKEY_free(key);
  rt_token_state_free(state);
  return s;
}

static grpc_status_code finish_step(rt_verifier *v, const ProtobufCMessage *req,
                                    ProtobufCMessage *resp, rt_call_audit *a, rt_rpc_status *st) {
  return finish(v, (const Rattest__V1__FinishRequest *)req, (Rattest__V1__FinishResponse *)resp, a,
                st);
}

static const rt_handler finish_handler = {
    .method = "Finish",
    .response = &rattest__v1__finish_response__descriptor,
    .step = finish_step,
    .free_response = rt_enroll_finish_free,
};

grpc_status_code rt_enroll_finish(void *verifier, const rt_rpc_call_info *info,
                                  const ProtobufCMessage *msg, ProtobufCMessage **resp,
                                  rt_rpc_status *st) {
  return rt_handle(&finish_handler, verifier, info, msg, resp, st);
}

void rt_enroll_finish_free(ProtobufCMessage *msg) {
  Rattest__V1__FinishResponse *r = (Rattest__V1__FinishResponse *)msg;
  free(r->key_certificate.data);
  free(r->ak_certificate.data);
  for (size_t i = 0; i < r->n_ca_chain; i++)
    free(r->ca_chain[i].data);
  free(r->ca_chain);
  rt_deliver_secrets_free(r);
  free(r);
}
