/* Begin: the machine presents its TPM identity; we check the EK chain and
 * the AK, and answer with a credential challenge bound to both. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tss2/tss2_mu.h>

#include "decision.h"
#include "enroll.h"
#include "enroll_platform.h"
#include "handler.h"
#include "rattest.pb-c.h"
#include "registry_hooks.h"
#include "rt_hex.h"
#include "rt_makecred.h"
#include "rt_name.h"
#include "rt_pcrsel.h"
#include "rt_templates.h"
#include "rt_tpm.h"
#include "rt_tpm_pub.h"
#include "throttle.h"

/* Most EK certificates, and most intermediates, one Begin may send. */
#define MAX_EK_CERTS 8

/* The request as Begin parsed it, and what it learned of the EK. */
typedef struct {
  TPM2B_PUBLIC ek, ak;
  rt_cert_der certs[MAX_EK_CERTS], inters[MAX_EK_CERTS];
  size_t which; /* the certificate holding the EK, when trusted by one */
  /* The EK's key and identity, made once (rt_ek_key) for the rate limit,
   * the allow-list, the certificate match and the challenge; NULL when the
   * public area is not a key we take (each of those then refuses it as
   * before). */
  EVP_PKEY *ek_key;
  uint8_t ek_sha256[32];
  bool listed; /* trusted by the policy's ek_allowlist */
} begin_ctx;

static rt_key_alg wire_alg(Rattest__V1__KeyAlgorithm a) {
  switch (a) {
  case RATTEST__V1__KEY_ALGORITHM__KEY_ALGORITHM_ECC_P256:
    return RT_ALG_ECC_P256;
  case RATTEST__V1__KEY_ALGORITHM__KEY_ALGORITHM_RSA_2048:
    return RT_ALG_RSA_2048;
  default:
    return RT_ALG_NONE;
  }
}

/* Copies bytes into a protobuf field the response owns. */
static int set_bytes(ProtobufCBinaryData *f, const void *data, size_t len) {
  f->data = malloc(len ? len : 1);
  if (f->data == NULL)
    return -1;
  memcpy(f->data, data, len);
  f->len = len;
  return 0;
}

/* The name (the rule the bootstrap's state file applies: rt_name_check),
 * the public areas, and the certificates' count. */
static grpc_status_code parse_request(const Rattest__V1__BeginRequest *req, begin_ctx *c,
                                      rt_rpc_status *st) {
  rt_err err;
  if (rt_name_check(req->name, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "NAME_INVALID", "%s", err.msg);
  if (rt_tpm_pub_unmarshal(req->ek_public.data, req->ek_public.len, &c->ek, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "EK_MALFORMED", "EK public: %s", err.msg);
  if (rt_tpm_pub_unmarshal(req->ak_public.data, req->ak_public.len, &c->ak, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "AK_MALFORMED", "AK public: %s", err.msg);
  if (req->n_ek_certs > MAX_EK_CERTS || req->n_ek_intermediates > MAX_EK_CERTS)
    return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "EK_MALFORMED",
                   "at most %d EK certificates and %d intermediates", MAX_EK_CERTS, MAX_EK_CERTS);
  for (size_t i = 0; i < req->n_ek_certs; i++)
    c->certs[i] = (rt_cert_der){req->ek_certs[i]->der.data, req->ek_certs[i]->der.len};
  for (size_t i = 0; i < req->n_ek_intermediates; i++)
    c->inters[i] = (rt_cert_der){req->ek_intermediates[i].data, req->ek_intermediates[i].len};
  return GRPC_STATUS_OK;
}

/* The EK's rate limit, before its certificates are judged. An EK whose key
 * cannot be made has no bucket: check_ek refuses it next. The EK public
 * is public data, so a client that knows a machine's EK can spend this
 * bucket for it (held itself to --rate-peer); docs/protocol.md says so. */
static grpc_status_code limit_ek(const rt_verifier *v, begin_ctx *c, rt_rpc_status *st) {
  rt_err err;
  if (rt_ek_key(&c->ek.publicArea, &c->ek_key, c->ek_sha256, &err) != RT_OK)
    return GRPC_STATUS_OK;
  return rt_throttle_ek(v, c->ek_sha256, sizeof c->ek_sha256, st);
}

/* rt_ek_check's failure as Begin's refusal. */
static grpc_status_code ek_refusal(const rt_verifier *v, rt_code code, const rt_err *err,
                                   const uint8_t ek_sha256[32], rt_rpc_status *st) {
  if (code == RT_E_NOT_FOUND && rt_policy_has_ek_allowlist(v->policy)) {
    char hex[65];
    rt_hex(ek_sha256, 32, hex);
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "EK_MISMATCH",
                   "%s, and the EK key (sha256 %s) is not in the policy's ek_allowlist", err->msg,
                   hex);
  }
  if (code == RT_E_NOT_FOUND)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "EK_MISMATCH", "%s", err->msg);
  if (code == RT_E_CRYPTO)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "EK_CHAIN", "%s", err->msg);
  return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "EK_MALFORMED", "%s", err->msg);
}

/* EK: certified by a manufacturer we trust, and the key presented is the
 * certified one (else the challenge would go to an uncertified key); or
 * recorded by its key in the policy's ek_allowlist. */
static grpc_status_code check_ek(const rt_verifier *v, const Rattest__V1__BeginRequest *req,
                                 begin_ctx *c, rt_call_audit *a, rt_rpc_status *st) {
  rt_err err;
  /* An EK the operator recorded by its key needs no certificate; any
   * certificate sent is then not judged, and says nothing in the audit. */
  if (rt_policy_has_ek_allowlist(v->policy)) {
    /* Made again only to say why limit_ek could not make it. */
    if (c->ek_key == NULL && rt_ek_key_sha256(&c->ek.publicArea, c->ek_sha256, &err) != RT_OK)
      return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "EK_MALFORMED", "EK public: %s", err.msg);
    c->listed = rt_policy_ek_allowlisted(v->policy, c->ek_sha256);
  }
  if (c->listed) {
    a->line.ek_trust = "allowlist";
  } else {
    rt_ek_opts opts = {.expiry_advisory = rt_policy_ek_expiry_advisory(v->policy),
                       .aia = v->ek_aia_fetch ? &v->ek_aia : NULL};
    rt_code code =
        rt_ek_check(v->ek_roots, c->ek_key, c->certs, req->n_ek_certs, c->inters,
                    req->n_ek_intermediates, &opts, &c->which, c->ek_sha256, &a->ek, &err);
    if (code != RT_OK)
      return ek_refusal(v, code, &err, c->ek_sha256, st);
    a->line.ek_trust = "certificate";
    a->line.ek = &a->ek;
    a->ek_cert = c->certs[c->which].der;
    a->ek_cert_len = c->certs[c->which].len;
  }
  rt_hex(c->ek_sha256, 32, a->ek_hex);
  a->line.ek_sha256 = a->ek_hex;
  return GRPC_STATUS_OK;
}

/* The platform certificate must belong to the EK certificate just accepted
 * (none when the EK was trusted by the allow-list). */
static grpc_status_code check_platform(const rt_verifier *v, const Rattest__V1__BeginRequest *req,
                                       const begin_ctx *c, rt_call_audit *a, rt_rpc_status *st) {
  grpc_status_code s = rt_enroll_check_platform(
      v, &req->platform_cert, c->listed ? NULL : &c->certs[c->which], &a->platform, st);
  if (a->platform.present)
    a->line.platform = &a->platform.info;
  a->line.platform_verified = a->platform.verified;
  return s;
}

/* The AK must be what rattest-bootstrap creates: a restricted signing key
 * born in and bound to this TPM. noDA may be set besides (Windows and
 * go-attestation AKs have it): it only exempts the key's authorization from
 * dictionary-attack lockout, which says nothing about where the key lives. */
static grpc_status_code check_ak(const rt_verifier *v, const TPMT_PUBLIC *ak, rt_rpc_status *st) {
  if ((ak->objectAttributes & ~(TPMA_OBJECT)TPMA_OBJECT_NODA) != RT_AK_ATTRS)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "AK_ATTRIBUTES",
                   "AK attributes are 0x%08x; required exactly fixedTPM, fixedParent, "
                   "sensitiveDataOrigin, userWithAuth, restricted, sign (0x%08x), noDA optional",
                   (unsigned)ak->objectAttributes, (unsigned)RT_AK_ATTRS);
  if (ak->nameAlg != TPM2_ALG_SHA256)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "AK_NAME_ALG",
                   "AK name algorithm 0x%04x; SHA-256 required", (unsigned)ak->nameAlg);
  rt_key_alg alg = rt_key_alg_of(ak);
  if (alg == RT_ALG_NONE || !rt_policy_ak_alg_allowed(v->policy, alg))
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "AK_ALGORITHM",
                   "AK algorithm %s is not allowed by the policy",
                   alg == RT_ALG_NONE ? "(unsupported)" : rt_key_alg_name(alg));
  return GRPC_STATUS_OK;
}

static grpc_status_code check_key_alg(const rt_verifier *v, const Rattest__V1__BeginRequest *req,
                                      rt_key_alg *key_alg, rt_rpc_status *st) {
  *key_alg = wire_alg(req->key_algorithm);
  if (*key_alg == RT_ALG_NONE || !rt_policy_key_alg_allowed(v->policy, *key_alg))
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "KEY_ALGORITHM",
                   "key algorithm %d is not allowed by the policy", (int)req->key_algorithm);
  return GRPC_STATUS_OK;
}

/* The PCRs the policy demands, into the session. */
static rt_code add_selection(const rt_policy *policy, rt_session_state *state, rt_err *err) {
  TPML_PCR_SELECTION sel;
  rt_policy_tpml_selection(policy, &sel);
  for (uint32_t b = 0; b < sel.count; b++) {
    uint32_t pcrs[RT_PCR_COUNT];
    size_t n = 0;
    for (uint32_t i = 0; i < RT_PCR_COUNT; i++)
      if (rt_pcrsel_has(&sel, sel.pcrSelections[b].hash, i))
        pcrs[n++] = i;
    rt_code code = rt_token_state_add_selection(state, rt_pcr_bank_name(sel.pcrSelections[b].hash),
                                                pcrs, n, err);
    if (code != RT_OK)
      return code;
  }
  return RT_OK;
}

/* The session: fresh token id, credential secret and nonce (from
 * RAND_bytes, made by rt_token_state_new), and what Finish must check. */
static grpc_status_code new_session(const rt_verifier *v, const Rattest__V1__BeginRequest *req,
                                    const begin_ctx *c, rt_key_alg key_alg,
                                    const rt_platform_seen *platform, rt_session_state **out,
                                    rt_rpc_status *st) {
  rt_err err;
  rt_session_state *state = NULL;
  rt_code code = rt_token_state_new(time(NULL), v->session_ttl, &state, &err);
  if (code == RT_OK)
    code =
        rt_token_state_set_bytes(&state->ek_public, req->ek_public.data, req->ek_public.len, &err);
  if (code == RT_OK)
    code = rt_token_state_set_bytes(&state->ek_cert_sha256, c->ek_sha256, 32, &err);
  if (code == RT_OK)
    code =
        rt_token_state_set_bytes(&state->ak_public, req->ak_public.data, req->ak_public.len, &err);
  if (code == RT_OK && (state->name = strdup(req->name)) == NULL)
    code = rt_err_set(&err, RT_E_NOMEM, "out of memory for the name");
  if (code == RT_OK) {
    state->key_algorithm = (int32_t)key_alg;
    code = rt_platform_to_session(platform, state, &err);
  }
  if (code == RT_OK)
    code = add_selection(v->policy, state, &err);
  if (code != RT_OK) {
    rt_token_state_free(state);
    return rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "session state: %s", err.msg);
  }
  *out = state;
  return GRPC_STATUS_OK;
}

/* The challenge: the secret only this EK can recover, and only for an
 * object with this AK's name. */
static grpc_status_code make_challenge(const begin_ctx *c, const rt_session_state *state,
                                       TPM2B_ID_OBJECT *blob, TPM2B_ENCRYPTED_SECRET *enc,
                                       rt_rpc_status *st) {
  rt_err err;
  TPM2B_NAME ak_name;
  if (rt_tpm_pub_name(&c->ak.publicArea, &ak_name, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "AK_MALFORMED", "AK name: %s", err.msg);
  if (rt_make_credential_key(&c->ek.publicArea, c->ek_key, &ak_name, state->credential_secret.data,
                             state->credential_secret.len, blob, enc, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "EK_UNSUPPORTED",
                   "cannot make a credential for this EK: %s", err.msg);
  return GRPC_STATUS_OK;
}

/* A marshalling failure: our own structure did not fit its own type, the
 * verifier's fault. */
static grpc_status_code marshal_failed(TSS2_RC rc, const char *what, rt_rpc_status *st) {
  rt_err err;
  rt_tpm_rc(&err, rc, what);
  return rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "%s", err.msg);
}

/* The challenge as the response carries it: the TPM2B wire forms. */
static grpc_status_code put_challenge(const TPM2B_ID_OBJECT *blob,
                                      const TPM2B_ENCRYPTED_SECRET *enc,
                                      Rattest__V1__BeginResponse *r, rt_rpc_status *st) {
  uint8_t blob_buf[sizeof *blob], enc_buf[sizeof *enc];
  size_t blob_len = 0, enc_len = 0;
  TSS2_RC rc = Tss2_MU_TPM2B_ID_OBJECT_Marshal(blob, blob_buf, sizeof blob_buf, &blob_len);
  if (rc != TSS2_RC_SUCCESS)
    return marshal_failed(rc, "marshalling the credential blob", st);
  rc = Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(enc, enc_buf, sizeof enc_buf, &enc_len);
  if (rc != TSS2_RC_SUCCESS)
    return marshal_failed(rc, "marshalling the encrypted secret", st);
  if (set_bytes(&r->credential_blob, blob_buf, blob_len) != 0 ||
      set_bytes(&r->encrypted_secret, enc_buf, enc_len) != 0)
    return rt_deny_nomem(st, "the Begin response");
  return GRPC_STATUS_OK;
}

/* The session's PCR selection as the response states it; -1 when out of
 * memory (what was added is freed with the response). */
static int put_selection(const rt_session_state *state, Rattest__V1__BeginResponse *r) {
  size_t n = state->n_pcr_selection;
  r->pcr_selection = calloc(n > 0 ? n : 1, sizeof *r->pcr_selection);
  if (r->pcr_selection == NULL)
    return -1;
  for (size_t i = 0; i < n; i++) {
    const Rattest__Internal__V1__PcrSelection *from = state->pcr_selection[i];
    Rattest__V1__PcrSelection *ps = malloc(sizeof *ps);
    if (ps == NULL)
      return -1;
    rattest__v1__pcr_selection__init(ps);
    r->pcr_selection[r->n_pcr_selection++] = ps;
    ps->bank = strdup(from->bank);
    ps->pcrs = malloc(from->n_pcrs * sizeof *ps->pcrs + 1);
    if (ps->bank == NULL || ps->pcrs == NULL)
      return -1;
    memcpy(ps->pcrs, from->pcrs, from->n_pcrs * sizeof *ps->pcrs);
    ps->n_pcrs = from->n_pcrs;
  }
  return 0;
}

/* The answer: the sealed session, the challenge, the nonce, the deadline
 * and the PCRs to quote. */
static grpc_status_code answer(const rt_verifier *v, const rt_session_state *state,
                               const TPM2B_ID_OBJECT *blob, const TPM2B_ENCRYPTED_SECRET *enc,
                               Rattest__V1__BeginResponse *r, rt_rpc_status *st) {
  rt_err err;
  if (rt_token_seal(v->token_key, state, &r->session_token.data, &r->session_token.len, &err) !=
      RT_OK)
    return rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "sealing the session: %s", err.msg);
  grpc_status_code s = put_challenge(blob, enc, r, st);
  if (s != GRPC_STATUS_OK)
    return s;
  if (set_bytes(&r->nonce, state->nonce.data, state->nonce.len) != 0 ||
      put_selection(state, r) != 0)
    return rt_deny_nomem(st, "the Begin response");
  r->expires_unix = state->expires_unix;
  return GRPC_STATUS_OK;
}

static grpc_status_code begin(rt_verifier *v, const Rattest__V1__BeginRequest *req,
                              Rattest__V1__BeginResponse *r, rt_call_audit *a, rt_rpc_status *st) {
  begin_ctx c;
  memset(&c, 0, sizeof c);
  rt_key_alg key_alg = RT_ALG_NONE;
  grpc_status_code s = parse_request(req, &c, st);
  if (s == GRPC_STATUS_OK)
    s = limit_ek(v, &c, st);
  if (s == GRPC_STATUS_OK)
    s = check_ek(v, req, &c, a, st);
  if (s == GRPC_STATUS_OK) /* issue 14: a revoked EK, a name taken (--db) */
    s = rt_registry_check_begin(v, req->name, a->ek_hex, st);
  if (s == GRPC_STATUS_OK)
    s = check_platform(v, req, &c, a, st);
  if (s == GRPC_STATUS_OK)
    s = check_ak(v, &c.ak.publicArea, st);
  if (s == GRPC_STATUS_OK)
    s = check_key_alg(v, req, &key_alg, st);
  rt_session_state *state = NULL;
  if (s == GRPC_STATUS_OK)
    s = new_session(v, req, &c, key_alg, &a->platform, &state, st);
  TPM2B_ID_OBJECT blob;
  TPM2B_ENCRYPTED_SECRET enc;
  if (s == GRPC_STATUS_OK)
    s = make_challenge(&c, state, &blob, &enc, st);
  if (s == GRPC_STATUS_OK)
    s = answer(v, state, &blob, &enc, r, st);
  rt_token_state_free(state);
  EVP_PKEY_free(c.ek_key);
  return s;
}

static grpc_status_code begin_step(rt_verifier *v, const ProtobufCMessage *msg,
                                   ProtobufCMessage *resp, rt_call_audit *a, rt_rpc_status *st) {
  const Rattest__V1__BeginRequest *req = (const Rattest__V1__BeginRequest *)msg;
  /* The name as asked, also when it is refused (the audit line bounds and
   * escapes it): the request outlives the audit line. */
  a->line.name = req->name;
  return begin(v, req, (Rattest__V1__BeginResponse *)resp, a, st);
}

static const rt_handler begin_handler = {
    .method = "Begin",
    .response = &rattest__v1__begin_response__descriptor,
    .step = begin_step,
    .free_response = rt_enroll_begin_free,
};

grpc_status_code rt_enroll_begin(void *verifier, const rt_rpc_call_info *info,
                                 const ProtobufCMessage *msg, ProtobufCMessage **resp,
                                 rt_rpc_status *st) {
  return rt_handle(&begin_handler, verifier, info, msg, resp, st);
}

void rt_enroll_begin_free(ProtobufCMessage *msg) {
  Rattest__V1__BeginResponse *r = (Rattest__V1__BeginResponse *)msg;
  free(r->session_token.data);
  free(r->credential_blob.data);
  free(r->encrypted_secret.data);
  free(r->nonce.data);
  for (size_t i = 0; i < r->n_pcr_selection; i++) {
    free(r->pcr_selection[i]->bank);
    free(r->pcr_selection[i]->pcrs);
    free(r->pcr_selection[i]);
  }
  free(r->pcr_selection);
  free(r);
}
