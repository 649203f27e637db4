/* Finish: the machine answers Begin's challenge with its evidence (the
 * activated credential, a quote over the demanded PCRs, PCR values, the
 * event log, a new identity key certified by the AK and its proof of
 * possession); the verifier answers with certificates and secrets. */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>
#include <unistd.h>

#include "enroll_steps.h"
#include "evidence.h"
#include "rt_file.h"
#include "rt_log.h"
#include "rt_methods.h"
#include "rt_pcrsel.h"

#define MAX_EVENT_LOG (16u * 1024u * 1024u)

/* What Finish sends, held until the call is done. */
typedef struct {
  TPM2B_DIGEST *secret; /* the activated credential */
  rt_bytes quote, quote_sig, cert_info, cert_sig, poss;
  uint8_t *log;
  size_t log_len;
  rt_pcr_value *values;
  size_t n_values;
  Rattest__V1__PcrValue *pv, **pv_ptrs;
  ProtobufCBinaryData key_public;
} evidence;

static void evidence_free(evidence *ev) {
  if (ev->secret != NULL) {
    OPENSSL_cleanse(ev->secret->buffer, sizeof ev->secret->buffer);
    Esys_Free(ev->secret);
  }
  free(ev->key_public.data);
  free(ev->pv);
  free(ev->pv_ptrs);
  free(ev->values);
  free(ev->log);
  rt_bytes_free(&ev->quote);
  rt_bytes_free(&ev->quote_sig);
  rt_bytes_free(&ev->cert_info);
  rt_bytes_free(&ev->cert_sig);
  rt_bytes_free(&ev->poss);
}

/* ActivateCredential: only the TPM holding both the EK and the AK recovers
 * the secret the verifier bound to them. */
static int activate(rt_enrollment *e, evidence *ev) {
  const Rattest__V1__BeginResponse *c = e->challenge;
  rt_err err;
  TPM2B_ID_OBJECT blob;
  TPM2B_ENCRYPTED_SECRET enc;
  size_t off = 0, off2 = 0;
  if (Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(c->credential_blob.data, c->credential_blob.len, &off,
                                        &blob) != TSS2_RC_SUCCESS ||
      off != c->credential_blob.len ||
      Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(c->encrypted_secret.data, c->encrypted_secret.len,
                                               &off2, &enc) != TSS2_RC_SUCCESS ||
      off2 != c->encrypted_secret.len)
    return rt_enroll_fail("challenge", "the credential from the verifier does not parse");
  if (rt_ak_activate(e->tpm, &e->ek, &e->ak, &blob, &enc, &ev->secret, &err) != RT_OK)
    return rt_enroll_fail("challenge", err.msg);
  /* The EK's slot goes to the SRK and the new key (ek.h). */
  rt_ek_unload(e->tpm, &e->ek);
  return 0;
}

/* A quote by the AK over the PCRs the challenge demands, its nonce as
 * qualifying data. */
static int quote_demanded(rt_enrollment *e, evidence *ev) {
  const Rattest__V1__BeginResponse *c = e->challenge;
  rt_err err;
  TPML_PCR_SELECTION demanded = {.count = 0};
  for (size_t i = 0; i < c->n_pcr_selection; i++) {
    TPMI_ALG_HASH bank = rt_pcr_bank_parse(c->pcr_selection[i]->bank);
    for (size_t k = 0; k < c->pcr_selection[i]->n_pcrs; k++)
      if (rt_pcrsel_add(&demanded, bank, c->pcr_selection[i]->pcrs[k], &err) != RT_OK)
        return rt_enroll_fail("challenge PCR selection", err.msg);
  }
  if (rt_quote(e->tpm, &e->ak, c->nonce.data, c->nonce.len, &demanded, &ev->quote, &ev->quote_sig,
               &err) != RT_OK)
    return rt_enroll_fail("quote", err.msg);
  return 0;
}

static rt_code read_event_log(const char *path, uint8_t **data, size_t *len, rt_err *err) {
  *data = NULL;
  *len = 0;
  rt_code code = rt_file_read(path, MAX_EVENT_LOG, data, len, err);
  if (code == RT_E_IO && access(path, F_OK) != 0) {
    /* No firmware log (VMs without one, containers): the verifier's policy
     * decides whether that is acceptable. */
    rt_warn("no event log at %s: sending none", path);
    rt_err_clear(err);
    return RT_OK;
  }
  return code;
}

/* The event log sent besides the quote, or without one the PCR values
 * (--pcrs). */
static int read_measurements(rt_enrollment *e, evidence *ev) {
  rt_err err;
  TPML_PCR_SELECTION send;
  if (read_event_log(e->o->event_log, &ev->log, &ev->log_len, &err) != RT_OK)
    return rt_enroll_fail("event log", err.msg);
  /* With a log the verifier takes the values from replaying it (they must
   * give the quoted digest) and never looks at values sent: the TPM is
   * asked for them only when there is no log (docs/protocol.md, Finish). */
  if (ev->log_len > 0)
    return 0;
  if (rt_pcrsel_parse(e->o->pcrs, &send, &err) != RT_OK ||
      rt_pcr_read_all(e->tpm, &send, &ev->values, &ev->n_values, &err) != RT_OK)
    return rt_enroll_fail("PCR values", err.msg);
  return 0;
}

/* The identity key, its certification by the AK and its signature proving
 * possession, both over the challenge's nonce. */
static int make_identity_key(rt_enrollment *e, evidence *ev) {
  const ProtobufCBinaryData *nonce = &e->challenge->nonce;
  rt_err err;
  if (rt_idkey_create(e->tpm, e->o->key_alg, &e->key, &err) != RT_OK ||
      rt_certify(e->tpm, e->key.handle, &e->ak, nonce->data, nonce->len, &ev->cert_info,
                 &ev->cert_sig, &err) != RT_OK ||
      rt_sign_possession(e->tpm, e->key.handle, &e->key.pub.publicArea, nonce->data, nonce->len,
                         &ev->poss, &err) != RT_OK)
    return rt_enroll_fail("identity key", err.msg);
  return 0;
}

/* The PCR values as messages pointing into ev->values. */
static int pcr_value_messages(evidence *ev) {
  size_t n = ev->n_values;
  ev->pv = calloc(n ? n : 1, sizeof *ev->pv);
  ev->pv_ptrs = calloc(n ? n : 1, sizeof *ev->pv_ptrs);
  if (ev->pv == NULL || ev->pv_ptrs == NULL)
    return rt_enroll_fail("Finish", "out of memory");
  for (size_t i = 0; i < n; i++) {
    rattest__v1__pcr_value__init(&ev->pv[i]);
    ev->pv[i].bank = (char *)rt_pcr_bank_name(ev->values[i].bank);
    ev->pv[i].index = ev->values[i].index;
    ev->pv[i].digest.data = ev->values[i].value.buffer;
    ev->pv[i].digest.len = ev->values[i].value.size;
    ev->pv_ptrs[i] = &ev->pv[i];
  }
  return 0;
}

static ProtobufCBinaryData binary(const rt_bytes *b) {
  return (ProtobufCBinaryData){b->len, b->data};
}

/* The request, pointing into the challenge and ev. */
static int finish_request(const rt_enrollment *e, evidence *ev, Rattest__V1__FinishRequest *req) {
  rt_err err;
  if (rt_enroll_marshal_public(&e->key.pub, &ev->key_public, &err) != RT_OK)
    return rt_enroll_fail("Finish", err.msg);
  req->session_token = e->challenge->session_token;
  req->activated_secret.data = ev->secret->buffer;
  req->activated_secret.len = ev->secret->size;
  req->quote = binary(&ev->quote);
  req->quote_signature = binary(&ev->quote_sig);
  req->event_log = (ProtobufCBinaryData){ev->log_len, ev->log};
  req->n_pcr_values = ev->n_values;
  req->pcr_values = ev->pv_ptrs;
  req->key_public = ev->key_public;
  req->certify_info = binary(&ev->cert_info);
  req->certify_signature = binary(&ev->cert_sig);
  req->possession_signature = binary(&ev->poss);
  return 0;
}

int rt_enroll_finish(rt_enrollment *e, uint64_t deadline) {
  evidence ev;
  memset(&ev, 0, sizeof ev);
  Rattest__V1__FinishRequest req = RATTEST__V1__FINISH_REQUEST__INIT;
  int rc = 1;
  if (activate(e, &ev) != 0 || quote_demanded(e, &ev) != 0 || read_measurements(e, &ev) != 0 ||
      make_identity_key(e, &ev) != 0 || pcr_value_messages(&ev) != 0 ||
      finish_request(e, &ev, &req) != 0)
    goto out;
  ProtobufCMessage *resp = NULL;
  rt_rpc_result res;
  grpc_status_code s =
      rt_enroll_call(e, RT_METHOD_FINISH, &req.base, &rattest__v1__finish_response__descriptor,
                     deadline, 0, &resp, &res);
  if (s != GRPC_STATUS_OK) {
    rt_enroll_fail_rpc(e, "Finish", &res);
    if (strcmp(res.code, "REGISTRY_FAILED") == 0)
      rc = RT_ENROLL_BEGIN_AGAIN;
    goto out;
  }
  e->result = (Rattest__V1__FinishResponse *)resp;
  rc = 0;
out:
  evidence_free(&ev);
  return rc;
}
