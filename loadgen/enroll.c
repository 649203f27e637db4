#include "enroll.h"

#include <ctype.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "activate.h"
#include "attest.h"
#include "keep.h"
#include "rattest.pb-c.h"
#include "rt_grpc.h"
#include "rt_kdf.h"
#include "rt_methods.h"
#include "rt_pcrsel.h"

/* What Finish sends, held until the call is done. */
typedef struct {
  TPM2B_DIGEST secret;
  TPML_PCR_SELECTION sel;
  uint8_t pcr_digest[32];
  rt_bytes quote, quote_sig, cert_info, cert_sig, poss;
  Rattest__V1__PcrValue pv[RT_PCR_COUNT * 2], *pv_ptrs[RT_PCR_COUNT * 2];
  size_t n_values;
  uint8_t key_public[sizeof(TPM2B_PUBLIC)];
  size_t key_public_len;
} evidence;

static void evidence_free(evidence *ev) {
  OPENSSL_cleanse(&ev->secret, sizeof ev->secret);
  rt_bytes_free(&ev->quote);
  rt_bytes_free(&ev->quote_sig);
  rt_bytes_free(&ev->cert_info);
  rt_bytes_free(&ev->cert_sig);
  rt_bytes_free(&ev->poss);
}

void lg_fail(lg_outcome *out, const char *code, const char *what, const char *msg) {
  out->ok = 0;
  snprintf(out->code, sizeof out->code, "%s", code);
  snprintf(out->message, sizeof out->message, "%.31s: %.760s", what, msg);
}

grpc_status_code lg_call(rt_grpc_client *client, const char *method, const ProtobufCMessage *req,
                         const ProtobufCMessageDescriptor *resp_type, uint64_t deadline,
                         rt_retry retry, const char *what, lg_outcome *out, ProtobufCMessage **resp,
                         rt_rpc_result *res) {
  grpc_status_code s =
      rt_grpc_call_retry(client, method, req, resp_type, deadline, retry, resp, res);
  out->retries += res->retries;
  if (s != GRPC_STATUS_OK)
    lg_fail(out, res->code[0] ? res->code : rt_grpc_status_name(s), what, res->message);
  return s;
}

static int marshal_public(const TPM2B_PUBLIC *pub, uint8_t *buf, size_t *len) {
  *len = 0;
  return Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof(TPM2B_PUBLIC), len) == TSS2_RC_SUCCESS;
}

static Rattest__V1__BeginResponse *begin(const lg_target *t, rt_grpc_client *client,
                                         const lg_machine *m, uint64_t deadline, lg_outcome *out) {
  Rattest__V1__BeginRequest req = RATTEST__V1__BEGIN_REQUEST__INIT;
  Rattest__V1__EkCertificate cert = RATTEST__V1__EK_CERTIFICATE__INIT, *certs[1] = {&cert};
  uint8_t ek[sizeof(TPM2B_PUBLIC)], ak[sizeof(TPM2B_PUBLIC)];
  req.name = (char *)m->name;
  cert.nv_index = m->ek_nv_index;
  cert.der = (ProtobufCBinaryData){m->ek_cert_len, m->ek_cert};
  req.n_ek_certs = 1;
  req.ek_certs = certs;
  req.key_algorithm = t->key_alg == RT_ALG_RSA_2048
                          ? RATTEST__V1__KEY_ALGORITHM__KEY_ALGORITHM_RSA_2048
                          : RATTEST__V1__KEY_ALGORITHM__KEY_ALGORITHM_ECC_P256;
  if (!marshal_public(&m->ek_pub, ek, &req.ek_public.len) ||
      !marshal_public(&m->ak_pub, ak, &req.ak_public.len)) {
    lg_fail(out, "LOADGEN", "Begin", "marshalling a public area failed");
    return NULL;
  }
  req.ek_public.data = ek;
  req.ak_public.data = ak;
  ProtobufCMessage *resp = NULL;
  rt_rpc_result res;
  if (lg_call(client, RT_METHOD_BEGIN, &req.base, &rattest__v1__begin_response__descriptor,
              deadline, RT_RETRY_TRANSIENT, "Begin", out, &resp, &res) != GRPC_STATUS_OK)
    return NULL;
  return (Rattest__V1__BeginResponse *)resp;
}

/* The demanded selection, the emulated TPM's values of it (the replayed
 * log's) as PcrValue messages, and their digest as TPM2_Quote computes it. */
static rt_code measurements(const lg_target *t, const Rattest__V1__BeginResponse *c, evidence *ev,
                            rt_err *err) {
  memset(&ev->sel, 0, sizeof ev->sel);
  for (size_t i = 0; i < c->n_pcr_selection; i++) {
    TPMI_ALG_HASH bank = rt_pcr_bank_parse(c->pcr_selection[i]->bank);
    for (size_t k = 0; k < c->pcr_selection[i]->n_pcrs; k++)
      if (rt_pcrsel_add(&ev->sel, bank, c->pcr_selection[i]->pcrs[k], err) != RT_OK)
        return RT_E_INVALID;
  }
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (md == NULL || EVP_DigestInit_ex2(md, EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(md);
    return rt_ossl_err(err, "PCR digest");
  }
  rt_code code = RT_OK;
  for (uint32_t b = 0; b < ev->sel.count && code == RT_OK; b++) {
    TPMI_ALG_HASH bank = ev->sel.pcrSelections[b].hash;
    const rt_eventlog_bank *replayed = rt_eventlog_pcrs_bank(t->pcrs, bank);
    for (uint32_t i = 0; i < RT_PCR_COUNT && code == RT_OK; i++) {
      if (!rt_pcrsel_has(&ev->sel, bank, i))
        continue;
      if (replayed == NULL || ev->n_values == sizeof ev->pv / sizeof ev->pv[0]) {
        code =
            rt_err_set(err, RT_E_INVALID, "the event log has no %s bank", rt_pcr_bank_name(bank));
        break;
      }
      Rattest__V1__PcrValue *v = &ev->pv[ev->n_values];
      rattest__v1__pcr_value__init(v);
      v->bank = (char *)rt_pcr_bank_name(bank);
      v->index = i;
      v->digest = (ProtobufCBinaryData){replayed->size, (uint8_t *)replayed->pcr[i]};
      ev->pv_ptrs[ev->n_values++] = v;
      EVP_DigestUpdate(md, replayed->pcr[i], replayed->size);
    }
  }
  unsigned int n = 0;
  if (code == RT_OK && EVP_DigestFinal_ex(md, ev->pcr_digest, &n) != 1)
    code = rt_ossl_err(err, "PCR digest");
  EVP_MD_CTX_free(md);
  return code;
}

/* Everything the TPM would compute for Finish. */
static int make_evidence(const lg_target *t, lg_machine *m, const Rattest__V1__BeginResponse *c,
                         evidence *ev, lg_outcome *out) {
  rt_err err;
  const uint8_t *nonce = c->nonce.data;
  size_t nonce_len = c->nonce.len;
  rt_code code = lg_activate(m, &c->credential_blob, &c->encrypted_secret, &ev->secret, &err);
  if (code == RT_OK)
    code = measurements(t, c, ev, &err);
  if (code == RT_OK)
    code =
        lg_quote(m, nonce, nonce_len, &ev->sel, ev->pcr_digest, &ev->quote, &ev->quote_sig, &err);
  if (code == RT_OK)
    code = lg_certify(m, nonce, nonce_len, &ev->cert_info, &ev->cert_sig, &err);
  if (code == RT_OK)
    code = lg_possession(m, nonce, nonce_len, &ev->poss, &err);
  if (code == RT_OK && !marshal_public(&m->key_pub, ev->key_public, &ev->key_public_len))
    code = rt_err_set(&err, RT_E_INTERNAL, "marshalling the key's public area failed");
  if (code != RT_OK)
    lg_fail(out, "LOADGEN", "evidence", err.msg);
  return code == RT_OK;
}

static ProtobufCBinaryData bin(const rt_bytes *b) {
  return (ProtobufCBinaryData){b->len, b->data};
}

/* The certificate's serial as lowercase hex ("" if unreadable). */
static void serial_of(const ProtobufCBinaryData *der, char *out, size_t size) {
  const unsigned char *p = der->data;
  X509 *x = d2i_X509(NULL, &p, (long)der->len);
  BIGNUM *bn = x != NULL ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL) : NULL;
  char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
  snprintf(out, size, "%s", hex != NULL ? hex : "");
  for (char *c = out; *c; c++)
    *c = (char)tolower((unsigned char)*c);
  OPENSSL_free(hex);
  BN_free(bn);
  X509_free(x);
}

/* 1 when the run is begun again from Begin: the answer was lost after the
 * request may have arrived (the verifier may have applied it), or the
 * registry could not record the certificate (docs/protocol.md). */
static int finish(const lg_target *t, rt_grpc_client *client, lg_machine *m,
                  const Rattest__V1__BeginResponse *c, uint64_t deadline, lg_outcome *out) {
  evidence ev;
  memset(&ev, 0, sizeof ev);
  if (!make_evidence(t, m, c, &ev, out)) {
    evidence_free(&ev);
    return 0;
  }
  Rattest__V1__FinishRequest req = RATTEST__V1__FINISH_REQUEST__INIT;
  req.session_token = c->session_token;
  req.activated_secret = (ProtobufCBinaryData){ev.secret.size, ev.secret.buffer};
  req.quote = bin(&ev.quote);
  req.quote_signature = bin(&ev.quote_sig);
  req.event_log = (ProtobufCBinaryData){t->log_len, (uint8_t *)t->log};
  req.n_pcr_values = ev.n_values;
  req.pcr_values = ev.pv_ptrs;
  req.key_public = (ProtobufCBinaryData){ev.key_public_len, ev.key_public};
  req.certify_info = bin(&ev.cert_info);
  req.certify_signature = bin(&ev.cert_sig);
  req.possession_signature = bin(&ev.poss);
  ProtobufCMessage *resp = NULL;
  rt_rpc_result res;
  grpc_status_code s =
      lg_call(client, RT_METHOD_FINISH, &req.base, &rattest__v1__finish_response__descriptor,
              deadline, RT_RETRY_UNSENT, "Finish", out, &resp, &res);
  evidence_free(&ev);
  if (s != GRPC_STATUS_OK) {
    /* REGISTRY_FAILED: the token is spent but nothing was issued; as the
     * bootstrap, the run begins again. */
    return res.reach == RT_RPC_LOST || strcmp(res.code, "REGISTRY_FAILED") == 0;
  }
  Rattest__V1__FinishResponse *r = (Rattest__V1__FinishResponse *)resp;
  rt_err err;
  if (r->key_certificate.len == 0 || r->ak_certificate.len == 0) {
    lg_fail(out, "LOADGEN", "Finish", "answered without certificates");
  } else if (t->certs_dir != NULL && lg_keep_identity(t->certs_dir, m, r, &err) != RT_OK) {
    lg_fail(out, "LOADGEN", "--write-certs", err.msg);
  } else {
    out->ok = 1;
    out->code[0] = out->message[0] = '\0';
    serial_of(&r->key_certificate, out->serial, sizeof out->serial);
  }
  protobuf_c_message_free_unpacked(resp, NULL);
  return 0;
}

/* One run, as one bootstrap process makes it: a new connection, one
 * deadline for Begin and Finish. 1 when Finish's answer was lost. */
static int run_once(const lg_target *t, lg_machine *m, lg_outcome *out) {
  rt_err err;
  rt_grpc_client *client = NULL;
  if (rt_grpc_client_new(t->verifier, t->ca_file, 0, &client, &err) != RT_OK) {
    lg_fail(out, "LOADGEN", "verifier", err.msg);
    return 0;
  }
  uint64_t deadline = rt_grpc_now_ms() + t->timeout_ms;
  int lost = 0;
  Rattest__V1__BeginResponse *c = begin(t, client, m, deadline, out);
  if (c != NULL) {
    lost = finish(t, client, m, c, deadline, out);
    protobuf_c_message_free_unpacked(&c->base, NULL);
  }
  rt_grpc_client_free(client);
  return lost;
}

void lg_enroll(const lg_target *t, lg_machine *m, lg_outcome *out) {
  memset(out, 0, sizeof *out);
  /* At once, where the bootstrap's unit waits RestartSec: the load is
   * what is measured, not the unit's pacing. */
  while (run_once(t, m, out) && out->restarts < LG_MAX_RESTARTS)
    out->restarts++;
}
