/* Finish: the machine answers the challenge with its evidence; every check
 * must pass before anything is issued. */
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "decision.h"
#include "enroll.h"
#include "evidence_check.h"
#include "rattest.pb-c.h"
#include "rt_hex.h"
#include "rt_pcrsel.h"
#include "rt_templates.h"
#include "rt_tpm_pub.h"
#include "secret_deliver.h"

typedef struct {
  char name[65];
  char ek_hex[65];
  char serial[64];
  char secrets[RT_SECRET_MAX * 66]; /* names delivered, comma-separated */
} finish_audit;

static grpc_status_code open_session(rt_verifier *v, const Rattest__V1__FinishRequest *req,
                                     rt_session_state **state, rt_rpc_status *st) {
  rt_err err;
  rt_token_reason why = RT_TOKEN_OK;
  time_t now = time(NULL);
  if (rt_token_open(v->token_key, req->session_token.data, req->session_token.len, now, state, &why,
                    &err) != RT_OK)
    return rt_deny(
        st, why == RT_TOKEN_FAILURE ? GRPC_STATUS_INTERNAL : GRPC_STATUS_PERMISSION_DENIED,
        rt_token_reason_code(why) ? rt_token_reason_code(why) : "TOKEN_INVALID", "%s", err.msg);
  /* Single use, whatever the outcome below: a failed Finish must not be
   * retried with the same challenge. */
  if (rt_replay_check_and_mark(v->guard, (*state)->token_id.data, (time_t)(*state)->expires_unix,
                               now, &why, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED,
                   rt_token_reason_code(why) ? rt_token_reason_code(why) : "TOKEN_REPLAYED", "%s",
                   err.msg);
  return GRPC_STATUS_OK;
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

static grpc_status_code issue(rt_verifier *v, const rt_session_state *state, EVP_PKEY *key,
                              EVP_PKEY *ak, Rattest__V1__FinishResponse *r, finish_audit *a,
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
  rt_cert_request cr = {
      .profile = RT_CERT_KEY,
      .public_key = key,
      .common_name = id.common_name,
      .organization = id.organization,
      .organizational_unit = id.organizational_unit,
      .ek_sha256_hex = a->ek_hex,
      .dns_sans = (const char *const *)id.dns_sans,
      .n_dns_sans = id.n_dns_sans,
      .now = time(NULL),
      .lifetime_seconds = rt_policy_cert_lifetime(v->policy),
      .server_auth = rt_policy_server_auth(v->policy),
  };
  grpc_status_code s = GRPC_STATUS_OK;
  uint8_t *der = NULL;
  size_t len = 0;
  if (rt_issuer_issue(v->issuer, &cr, &der, &len, &err) != RT_OK) {
    s = rt_deny(st, GRPC_STATUS_INTERNAL, "ISSUE_FAILED", "key certificate: %s", err.msg);
    goto out;
  }
  r->key_certificate.data = der;
  r->key_certificate.len = len;
  /* The serial goes to the audit line: it ties the log to the certificate. */
  const unsigned char *p = der;
  X509 *x = d2i_X509(NULL, &p, (long)len);
  if (x != NULL) {
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    if (hex != NULL)
      snprintf(a->serial, sizeof a->serial, "%s", hex);
    OPENSSL_free(hex);
    BN_free(bn);
    X509_free(x);
  }
  cr.profile = RT_CERT_AK;
  cr.public_key = ak;
  cr.server_auth = false;
  cr.dns_sans = NULL;
  cr.n_dns_sans = 0;
  if (rt_issuer_issue(v->issuer, &cr, &der, &len, &err) != RT_OK) {
    s = rt_deny(st, GRPC_STATUS_INTERNAL, "ISSUE_FAILED", "AK certificate: %s", err.msg);
    goto out;
  }
  r->ak_certificate.data = der;
  r->ak_certificate.len = len;
  size_t n = 0;
  const rt_der *chain = rt_issuer_chain(v->issuer, &n);
  r->ca_chain = calloc(n ? n : 1, sizeof *r->ca_chain);
  if (r->ca_chain == NULL) {
    s = rt_deny(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "INTERNAL", "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    if (add_der(&r->ca_chain[i], chain[i].data, chain[i].len) != 0) {
      s = rt_deny(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "INTERNAL", "out of memory");
      goto out;
    }
    r->n_ca_chain++;
  }
out:
  rt_policy_identity_free(&id);
  return s;
}

static grpc_status_code finish(rt_verifier *v, const Rattest__V1__FinishRequest *req,
                               Rattest__V1__FinishResponse *r, finish_audit *a, rt_rpc_status *st) {
  rt_session_state *state = NULL;
  EVP_PKEY *ak = NULL, *key = NULL;
  rt_pcr_proven proven;
  rt_err err;
  grpc_status_code s = open_session(v, req, &state, st);
  if (s != GRPC_STATUS_OK)
    goto out;
  snprintf(a->name, sizeof a->name, "%s", state->name);
  rt_hex(state->ek_cert_sha256.data, state->ek_cert_sha256.len < 32 ? 0 : 32, a->ek_hex);

  /* The credential: only the TPM holding the certified EK, with the AK
   * loaded, could have recovered this secret. */
  if (req->activated_secret.len != state->credential_secret.len ||
      CRYPTO_memcmp(req->activated_secret.data, state->credential_secret.data,
                    state->credential_secret.len) != 0) {
    s = rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "SECRET_MISMATCH",
                "the activated credential secret is wrong");
    goto out;
  }
  TPM2B_PUBLIC akpub;
  if (rt_tpm_pub_unmarshal(state->ak_public.data, state->ak_public.len, &akpub, &err) != RT_OK ||
      rt_tpm_pub_to_evp(&akpub.publicArea, &ak, &err) != RT_OK) {
    s = rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "session AK: %s", err.msg);
    goto out;
  }
  TPML_PCR_SELECTION demanded;
  if (session_selection(state, &demanded) != 0) {
    s = rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "session PCR selection");
    goto out;
  }
  TPMS_ATTEST quote;
  TPMI_ALG_HASH digest_alg;
  s = rt_check_quote(v->policy, ak, state->nonce.data, state->nonce.len, &demanded, &req->quote,
                     &req->quote_signature, &quote, &digest_alg, st);
  if (s != GRPC_STATUS_OK)
    goto out;
  s = rt_check_pcrs(v->policy, &quote, digest_alg, &req->event_log, req->pcr_values,
                    req->n_pcr_values, &proven, st);
  if (s != GRPC_STATUS_OK)
    goto out;

  TPM2B_PUBLIC keypub;
  s = rt_check_key(v->policy, &req->key_public, &keypub, st);
  if (s != GRPC_STATUS_OK)
    goto out;
  if ((int32_t)rt_key_alg_of(&keypub.publicArea) != state->key_algorithm) {
    s = rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "KEY_ALGORITHM",
                "the key is not of the algorithm announced in Begin");
    goto out;
  }
  s = rt_check_certify(v->policy, ak, &keypub.publicArea, state->nonce.data, state->nonce.len,
                       &req->certify_info, &req->certify_signature, st);
  if (s != GRPC_STATUS_OK)
    goto out;
  if (rt_tpm_pub_to_evp(&keypub.publicArea, &key, &err) != RT_OK) {
    s = rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "KEY_MALFORMED", "key: %s", err.msg);
    goto out;
  }
  s = rt_check_possession(key, state->nonce.data, state->nonce.len, &req->possession_signature, st);
  if (s != GRPC_STATUS_OK)
    goto out;
  s = issue(v, state, key, ak, r, a, st);
  if (s == GRPC_STATUS_OK)
    s = rt_deliver_secrets(v, state, &proven, r, a->secrets, sizeof a->secrets, st);
out:
  EVP_PKEY_free(ak);
  EVP_PKEY_free(key);
  rt_token_state_free(state);
  return s;
}

grpc_status_code rt_enroll_finish(void *verifier, const rt_rpc_call_info *info,
                                  const ProtobufCMessage *msg, ProtobufCMessage **resp,
                                  rt_rpc_status *st) {
  const Rattest__V1__FinishRequest *req = (const Rattest__V1__FinishRequest *)msg;
  Rattest__V1__FinishResponse *r = calloc(1, sizeof *r);
  if (r == NULL)
    return rt_deny(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "INTERNAL", "out of memory");
  rattest__v1__finish_response__init(r);
  finish_audit a;
  memset(&a, 0, sizeof a);
  grpc_status_code s = finish(verifier, req, r, &a, st);
  rt_audit au = {.method = "Finish",
                 .peer = info->peer,
                 .name = a.name,
                 .ek_sha256 = a.ek_hex,
                 .key_serial = a.serial,
                 .secrets = a.secrets};
  rt_audit_decision(&au, s, st);
  if (s != GRPC_STATUS_OK) {
    /* Nothing issued leaves the verifier on failure. */
    rt_enroll_finish_free(&r->base);
    return s;
  }
  *resp = &r->base;
  return GRPC_STATUS_OK;
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
