/* Begin: the machine presents its TPM identity; we check the EK chain and
 * the AK, and answer with a credential challenge bound to both. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tss2/tss2_mu.h>

#include "audit.h"
#include "decision.h"
#include "enroll.h"
#include "enroll_platform.h"
#include "rattest.pb-c.h"
#include "rt_hex.h"
#include "rt_makecred.h"
#include "rt_name.h"
#include "rt_pcrsel.h"
#include "rt_templates.h"
#include "rt_tpm_pub.h"

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

static grpc_status_code begin(rt_verifier *v, const Rattest__V1__BeginRequest *req,
                              Rattest__V1__BeginResponse *r, char ek_hex[65], rt_ek_info *ek_info,
                              const char **ek_trust, rt_platform_seen *platform,
                              rt_rpc_status *st) {
  rt_err err;
  /* The rule the bootstrap's state file applies: a name it would refuse
   * must not get a certificate. */
  if (rt_name_check(req->name, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "NAME_INVALID", "%s", err.msg);
  TPM2B_PUBLIC ek, ak;
  if (rt_tpm_pub_unmarshal(req->ek_public.data, req->ek_public.len, &ek, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "EK_MALFORMED", "EK public: %s", err.msg);
  if (rt_tpm_pub_unmarshal(req->ak_public.data, req->ak_public.len, &ak, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "AK_MALFORMED", "AK public: %s", err.msg);

  /* EK: certified by a manufacturer we trust, and the key presented is the
   * certified one (else the challenge would go to an uncertified key). */
  rt_cert_der certs[8], inters[8];
  if (req->n_ek_certs > 8 || req->n_ek_intermediates > 8)
    return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "EK_MALFORMED",
                   "at most 8 EK certificates and 8 intermediates");
  for (size_t i = 0; i < req->n_ek_certs; i++)
    certs[i] = (rt_cert_der){req->ek_certs[i]->der.data, req->ek_certs[i]->der.len};
  for (size_t i = 0; i < req->n_ek_intermediates; i++)
    inters[i] = (rt_cert_der){req->ek_intermediates[i].data, req->ek_intermediates[i].len};
  size_t which = 0;
  uint8_t ek_sha256[32];
  rt_ek_opts ek_opts = {.expiry_advisory = rt_policy_ek_expiry_advisory(v->policy)};
  /* An EK the operator recorded by its key needs no certificate; any
   * certificate sent is then not judged, and says nothing in the audit. */
  bool listed = false;
  if (rt_policy_has_ek_allowlist(v->policy)) {
    if (rt_ek_key_sha256(&ek.publicArea, ek_sha256, &err) != RT_OK)
      return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "EK_MALFORMED", "EK public: %s", err.msg);
    listed = rt_policy_ek_allowlisted(v->policy, ek_sha256);
  }
  if (listed) {
    *ek_trust = "allowlist";
  } else {
    rt_code code = rt_ek_check(v->ek_roots, &ek.publicArea, certs, req->n_ek_certs, inters,
                               req->n_ek_intermediates, &ek_opts, &which, ek_sha256, ek_info, &err);
    if (code == RT_E_NOT_FOUND && rt_policy_has_ek_allowlist(v->policy)) {
      char hex[65];
      rt_hex(ek_sha256, 32, hex);
      return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "EK_MISMATCH",
                     "%s, and the EK key (sha256 %s) is not in the policy's ek_allowlist", err.msg,
                     hex);
    }
    if (code == RT_E_NOT_FOUND)
      return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "EK_MISMATCH", "%s", err.msg);
    if (code == RT_E_CRYPTO)
      return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "EK_CHAIN", "%s", err.msg);
    if (code != RT_OK)
      return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "EK_MALFORMED", "%s", err.msg);
    *ek_trust = "certificate";
  }
  rt_hex(ek_sha256, 32, ek_hex);
  /* The platform certificate must belong to the EK certificate just
   * accepted (none when the EK was trusted by the allow-list). */
  grpc_status_code plat =
      rt_enroll_check_platform(v, &req->platform_cert, listed ? NULL : &certs[which], platform, st);
  if (plat != GRPC_STATUS_OK)
    return plat;

  grpc_status_code s = check_ak(v, &ak.publicArea, st);
  if (s != GRPC_STATUS_OK)
    return s;
  rt_key_alg key_alg = wire_alg(req->key_algorithm);
  if (key_alg == RT_ALG_NONE || !rt_policy_key_alg_allowed(v->policy, key_alg))
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "KEY_ALGORITHM",
                   "key algorithm %d is not allowed by the policy", (int)req->key_algorithm);

  /* The session: fresh token id, credential secret and nonce (from
   * RAND_bytes, made by rt_token_state_new), and what Finish must check. */
  time_t now = time(NULL);
  rt_session_state *state = NULL;
  uint8_t *token = NULL;
  size_t token_len = 0;
  TPML_PCR_SELECTION sel;
  rt_policy_tpml_selection(v->policy, &sel);
  if (rt_token_state_new(now, v->session_ttl, &state, &err) != RT_OK ||
      rt_token_state_set_bytes(&state->ek_public, req->ek_public.data, req->ek_public.len, &err) !=
          RT_OK ||
      rt_token_state_set_bytes(&state->ek_cert_sha256, ek_sha256, 32, &err) != RT_OK ||
      rt_token_state_set_bytes(&state->ak_public, req->ak_public.data, req->ak_public.len, &err) !=
          RT_OK) {
    s = rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "session state: %s", err.msg);
    goto out;
  }
  state->name = strdup(req->name);
  state->key_algorithm = (int32_t)key_alg;
  if (rt_platform_to_session(platform, state, &err) != RT_OK) {
    s = rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "session state: %s", err.msg);
    goto out;
  }
  for (uint32_t b = 0; b < sel.count && s == GRPC_STATUS_OK; b++) {
    uint32_t pcrs[RT_PCR_COUNT];
    size_t n = 0;
    for (uint32_t i = 0; i < RT_PCR_COUNT; i++)
      if (rt_pcrsel_has(&sel, sel.pcrSelections[b].hash, i))
        pcrs[n++] = i;
    if (rt_token_state_add_selection(state, rt_pcr_bank_name(sel.pcrSelections[b].hash), pcrs, n,
                                     &err) != RT_OK)
      s = rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "session state: %s", err.msg);
  }
  if (s != GRPC_STATUS_OK)
    goto out;

  /* The challenge: the secret only this EK can recover, and only for an
   * object with this AK's name. */
  TPM2B_NAME ak_name;
  TPM2B_ID_OBJECT blob;
  TPM2B_ENCRYPTED_SECRET enc;
  if (rt_tpm_pub_name(&ak.publicArea, &ak_name, &err) != RT_OK) {
    s = rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "AK_MALFORMED", "AK name: %s", err.msg);
    goto out;
  }
  if (rt_make_credential(&ek.publicArea, &ak_name, state->credential_secret.data,
                         state->credential_secret.len, &blob, &enc, &err) != RT_OK) {
    s = rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "EK_UNSUPPORTED",
                "cannot make a credential for this EK: %s", err.msg);
    goto out;
  }
  if (state->name == NULL ||
      rt_token_seal(v->token_key, state, &token, &token_len, &err) != RT_OK) {
    s = rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "sealing the session: %s", err.msg);
    goto out;
  }

  uint8_t blob_buf[sizeof blob], enc_buf[sizeof enc];
  size_t blob_len = 0, enc_len = 0;
  Tss2_MU_TPM2B_ID_OBJECT_Marshal(&blob, blob_buf, sizeof blob_buf, &blob_len);
  Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&enc, enc_buf, sizeof enc_buf, &enc_len);
  r->session_token.data = token;
  r->session_token.len = token_len;
  token = NULL;
  if (set_bytes(&r->credential_blob, blob_buf, blob_len) != 0 ||
      set_bytes(&r->encrypted_secret, enc_buf, enc_len) != 0 ||
      set_bytes(&r->nonce, state->nonce.data, state->nonce.len) != 0) {
    s = rt_deny(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "INTERNAL", "out of memory");
    goto out;
  }
  r->expires_unix = state->expires_unix;
  r->pcr_selection =
      calloc(state->n_pcr_selection ? state->n_pcr_selection : 1, sizeof *r->pcr_selection);
  for (size_t i = 0; r->pcr_selection != NULL && i < state->n_pcr_selection; i++) {
    Rattest__V1__PcrSelection *ps = malloc(sizeof *ps);
    if (ps == NULL)
      break;
    rattest__v1__pcr_selection__init(ps);
    ps->bank = strdup(state->pcr_selection[i]->bank);
    ps->pcrs = malloc(state->pcr_selection[i]->n_pcrs * sizeof *ps->pcrs + 1);
    if (ps->pcrs != NULL) {
      memcpy(ps->pcrs, state->pcr_selection[i]->pcrs,
             state->pcr_selection[i]->n_pcrs * sizeof *ps->pcrs);
      ps->n_pcrs = state->pcr_selection[i]->n_pcrs;
    }
    r->pcr_selection[r->n_pcr_selection++] = ps;
  }
out:
  free(token);
  rt_token_state_free(state);
  return s;
}

grpc_status_code rt_enroll_begin(void *verifier, const rt_rpc_call_info *info,
                                 const ProtobufCMessage *msg, ProtobufCMessage **resp,
                                 rt_rpc_status *st) {
  const Rattest__V1__BeginRequest *req = (const Rattest__V1__BeginRequest *)msg;
  Rattest__V1__BeginResponse *r = calloc(1, sizeof *r);
  if (r == NULL)
    return rt_deny(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "INTERNAL", "out of memory");
  rattest__v1__begin_response__init(r);
  char ek_hex[65] = "";
  rt_ek_info ek_info = {0};
  const char *ek_trust = NULL;
  rt_platform_seen platform;
  memset(&platform, 0, sizeof platform);
  grpc_status_code s = begin(verifier, req, r, ek_hex, &ek_info, &ek_trust, &platform, st);
  rt_audit a = {.method = "Begin",
                .peer = info->peer,
                .name = req->name,
                .ek_sha256 = ek_hex,
                .ek_trust = ek_trust,
                .ek = ek_trust != NULL && strcmp(ek_trust, "certificate") == 0 ? &ek_info : NULL,
                .platform = platform.present ? &platform.info : NULL,
                .platform_verified = platform.verified};
  rt_audit_decision(&a, s, st);
  if (s != GRPC_STATUS_OK) {
    rt_enroll_begin_free(&r->base);
    return s;
  }
  *resp = &r->base;
  return GRPC_STATUS_OK;
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
