/* Confirm: the machine proves it opened each delivered secret, without
 * sending it back (docs/secrets.md). The verifier checks every proof
 * against the secret it holds and records the outcome in the audit line. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decision.h"
#include "enroll.h"
#include "handler.h"
#include "rattest.pb-c.h"
#include "registry_hooks.h"
#include "rt_hex.h"
#include "rt_secret_proof.h"
#include "rt_tpm_pub.h"

static const rt_secret_conf *find_conf(const rt_policy *policy, const char *name) {
  const rt_policy_secrets *s = rt_policy_secrets_of(policy);
  for (size_t i = 0; s != NULL && i < s->n; i++)
    if (strcmp(s->v[i].name, name) == 0)
      return &s->v[i];
  return NULL;
}

static const Rattest__V1__SecretProof *find_proof(const Rattest__V1__ConfirmRequest *req,
                                                  const char *name, size_t *count) {
  const Rattest__V1__SecretProof *found = NULL;
  *count = 0;
  for (size_t i = 0; i < req->n_proofs; i++)
    if (req->proofs[i]->name != NULL && strcmp(req->proofs[i]->name, name) == 0) {
      found = req->proofs[i];
      (*count)++;
    }
  return found;
}

/* One proof: the HMAC keyed with the sealed bytes, or the imported key's
 * signature, over the proof message for this name and nonce. */
static grpc_status_code check_proof(const rt_secret_conf *c, const Rattest__V1__SecretProof *p,
                                    const rt_confirm_state *cs, rt_rpc_status *st) {
  rt_err err;
  if (c->kind == RT_SECRET_KIND_SEALED) {
    uint8_t mac[32];
    if (rt_secret_proof_hmac(c->data, c->data_len, c->name, cs->nonce.data, cs->nonce.len, mac,
                             &err) != RT_OK)
      return rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "%s", err.msg);
    /* The expected HMAC is derived from the secret: compared in constant
     * time. */
    int ok = p->hmac.len == 32 && CRYPTO_memcmp(p->hmac.data, mac, 32) == 0;
    OPENSSL_cleanse(mac, sizeof mac);
    if (!ok)
      return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "SECRET_PROOF",
                     "secret %s: the proof of receipt does not match the secret", c->name);
    return GRPC_STATUS_OK;
  }
  TPMT_SIGNATURE sig;
  uint8_t *msg = NULL;
  size_t len = 0;
  if (rt_tpm_sig_unmarshal(p->signature.data, p->signature.len, &sig, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "SECRET_PROOF",
                   "secret %s: proof signature: %s", c->name, err.msg);
  if (rt_tpm_sig_hash(&sig) != TPM2_ALG_SHA256)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "SECRET_PROOF",
                   "secret %s: the proof signature must use SHA-256", c->name);
  if (rt_secret_proof_message(c->name, cs->nonce.data, cs->nonce.len, &msg, &len, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "%s", err.msg);
  rt_code code = rt_tpm_sig_verify(c->key, &sig, msg, len, &err);
  free(msg);
  if (code != RT_OK)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "SECRET_PROOF",
                   "secret %s: the proof is not signed by the delivered key: %s", c->name, err.msg);
  return GRPC_STATUS_OK;
}

/* Each delivered secret needs exactly one proof, checked against the
 * secret the policy still holds under that name and kind. */
static grpc_status_code check_delivered(const rt_verifier *v,
                                        const Rattest__V1__ConfirmRequest *req,
                                        const rt_confirm_state *cs, size_t i, rt_rpc_status *st) {
  const char *name = cs->delivered[i]->name;
  size_t count = 0;
  const Rattest__V1__SecretProof *p = find_proof(req, name, &count);
  const rt_secret_conf *c = find_conf(v->policy, name);
  if (count != 1)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "SECRET_PROOF",
                   "secret %s: %zu proofs (one expected)", name, count);
  if (c == NULL || c->kind != cs->delivered[i]->kind)
    return rt_deny(st, GRPC_STATUS_FAILED_PRECONDITION, "SECRET_UNKNOWN",
                   "secret %s is no longer in the verifier's policy", name);
  return check_proof(c, p, cs, st);
}

/* Every proof, recording each confirmed name in the response and the
 * audit line. */
static grpc_status_code check_proofs(const rt_verifier *v, const Rattest__V1__ConfirmRequest *req,
                                     const rt_confirm_state *cs, Rattest__V1__ConfirmResponse *r,
                                     rt_call_audit *a, rt_rpc_status *st) {
  if (req->n_proofs != cs->n_delivered)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "SECRET_PROOF",
                   "%zu proofs for %zu delivered secrets", req->n_proofs, cs->n_delivered);
  r->confirmed = calloc(cs->n_delivered, sizeof *r->confirmed);
  if (r->confirmed == NULL)
    return rt_deny_nomem(st, "the Confirm response");
  size_t used = 0;
  for (size_t i = 0; i < cs->n_delivered; i++) {
    grpc_status_code s = check_delivered(v, req, cs, i, st);
    if (s != GRPC_STATUS_OK)
      return s;
    const char *name = cs->delivered[i]->name;
    if ((r->confirmed[r->n_confirmed] = strdup(name)) == NULL)
      return rt_deny_nomem(st, "the Confirm response");
    r->n_confirmed++;
    int n = snprintf(a->secrets + used, sizeof a->secrets - used, "%s%s", i > 0 ? "," : "", name);
    if (n > 0 && (size_t)n < sizeof a->secrets - used)
      used += (size_t)n;
  }
  return GRPC_STATUS_OK;
}

static grpc_status_code confirm(rt_verifier *v, const Rattest__V1__ConfirmRequest *req,
                                Rattest__V1__ConfirmResponse *r, rt_call_audit *a,
                                rt_rpc_status *st) {
  rt_err err;
  rt_token_reason why = RT_TOKEN_OK;
  time_t now = time(NULL);
  rt_confirm_state *cs = NULL;
  if (rt_confirm_open(v->token_key, req->confirm_token.data, req->confirm_token.len, now, &cs, &why,
                      &err) != RT_OK)
    return rt_deny_token(st, why, err.msg);
  snprintf(a->name, sizeof a->name, "%s", cs->name);
  a->line.name = a->name;
  rt_hex(cs->ek_cert_sha256.data, 32, a->ek_hex);
  a->line.ek_sha256 = a->ek_hex;
  a->line.secrets = a->secrets;
  grpc_status_code s;
  /* One Confirm per delivery: a wrong proof cannot be retried. */
  if (rt_replay_check_and_mark(v->guard, cs->token_id.data, (time_t)cs->expires_unix, now, &why,
                               &err) != RT_OK)
    s = rt_deny_token(st, why, err.msg);
  else /* issue 14: and once across the verifiers sharing the registry */
    s = rt_registry_consume(v, cs->token_id.data, cs->token_id.len, (time_t)cs->expires_unix, now,
                            st);
  if (s == GRPC_STATUS_OK)
    s = check_proofs(v, req, cs, r, a, st);
  rt_confirm_state_free(cs);
  return s;
}

static grpc_status_code confirm_step(rt_verifier *v, const ProtobufCMessage *req,
                                     ProtobufCMessage *resp, rt_call_audit *a, rt_rpc_status *st) {
  return confirm(v, (const Rattest__V1__ConfirmRequest *)req, (Rattest__V1__ConfirmResponse *)resp,
                 a, st);
}

static const rt_handler confirm_handler = {
    .method = "Confirm",
    .response = &rattest__v1__confirm_response__descriptor,
    .step = confirm_step,
    .free_response = rt_enroll_confirm_free,
};

grpc_status_code rt_enroll_confirm(void *verifier, const rt_rpc_call_info *info,
                                   const ProtobufCMessage *msg, ProtobufCMessage **resp,
                                   rt_rpc_status *st) {
  return rt_handle(&confirm_handler, verifier, info, msg, resp, st);
}

void rt_enroll_confirm_free(ProtobufCMessage *msg) {
  Rattest__V1__ConfirmResponse *r = (Rattest__V1__ConfirmResponse *)msg;
  for (size_t i = 0; i < r->n_confirmed; i++)
    free(r->confirmed[i]);
  free(r->confirmed);
  free(r);
}
