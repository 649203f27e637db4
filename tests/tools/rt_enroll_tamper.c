/* Test client: runs the enrollment protocol against a verifier with the TPM,
 * like rattest-bootstrap, but breaks exactly one thing on the way so a test
 * can assert the verifier's specific refusal. Prints one line
 *   RESULT <grpc status> <rattest-error code or ->
 * for the last call made, and exits 0 when the protocol ran (whatever the
 * verifier decided), 1 when the tool itself failed.
 *
 * Usage: rt_enroll_tamper HOST:PORT CA_FILE MUTATION   (TPM from $RATTEST_TCTI)
 * Mutations: none ek-mismatch ak-not-restricted ak-not-fixedtpm wrong-secret
 *   quote-nonce quote-pcrs quote-other-key certify-other-key key-restricted
 *   key-exportable possession token-tampered token-replayed token-expired
 *   no-event-log key-alg-mismatch no-ek-cert ak-noda confirm-wrong
 *   confirm-missing confirm-replayed
 * With $RATTEST_TAMPER_FINISH_AT=HOST:PORT, Finish goes to that (second)
 * verifier instead; with $RATTEST_TAMPER_PLATFORM_CERT=FILE, Begin sends
 * that file as the platform certificate (else none); with
 * $RATTEST_TAMPER_NAME=NAME (even empty), Begin asks for that identity name
 * (else "tamper"); with $RATTEST_TAMPER_REPLAY_AT=HOST:PORT, token-replayed
 * sends its second Finish to that verifier (a replica); with
 * $RATTEST_TAMPER_RACE_AT=HOST:PORT, the same Finish goes at once to the
 * verifier and to that replica (one thread each, released together), and
 * a RESULT line prints for each; with $RATTEST_TAMPER_HOLD=FILE, Finish
 * waits until FILE exists (60 s at most): the test changes something
 * between Begin and Finish, then creates FILE. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>
#include <unistd.h>

#include "ak.h"
#include "ek.h"
#include "evidence.h"
#include "idkey.h"
#include "rattest.pb-c.h"
#include "rt_file.h"
#include "rt_grpc.h"
#include "rt_log.h"
#include "rt_methods.h"
#include "rt_pcrsel.h"
#include "rt_srk.h"
#include "rt_templates.h"

static const char *mut;
static int is(const char *m) {
  return strcmp(mut, m) == 0;
}

static int die(const char *what, const char *msg) {
  fprintf(stderr, "rt_enroll_tamper: %s: %s\n", what, msg);
  return 1;
}

/* Creates and loads an object from tmpl under parent (authorized by auth,
 * which this function flushes if it is a session). */
static rt_code create_load(rt_tpm *tpm, ESYS_TR parent, const rt_ek *ek_auth, TPM2B_PUBLIC *tmpl,
                           ESYS_TR *handle, TPM2B_PUBLIC *pub, rt_err *err) {
  TPM2B_PRIVATE *priv = NULL;
  TPM2B_PUBLIC *out = NULL;
  ESYS_TR s = ESYS_TR_PASSWORD;
  if (ek_auth != NULL && rt_ek_auth(tpm, ek_auth, &s, err) != RT_OK)
    return err->code;
  rt_code c = rt_tpm_create(tpm, parent, s, tmpl, &priv, &out, err);
  rt_tpm_flush(tpm, &s);
  if (c != RT_OK)
    return c;
  s = ESYS_TR_PASSWORD;
  if (ek_auth != NULL && rt_ek_auth(tpm, ek_auth, &s, err) != RT_OK) {
    Esys_Free(priv);
    Esys_Free(out);
    return err->code;
  }
  TSS2_RC rc = Esys_Load(tpm->esys, parent, s, ESYS_TR_NONE, ESYS_TR_NONE, priv, out, handle);
  rt_tpm_flush(tpm, &s);
  *pub = *out;
  Esys_Free(priv);
  Esys_Free(out);
  return rc == TSS2_RC_SUCCESS ? RT_OK : rt_tpm_rc(err, rc, "Load");
}

/* An AK with a template of our choosing, under the EK. */
static rt_code make_ak(rt_tpm *tpm, const rt_ek *ek, TPMA_OBJECT drop, TPMA_OBJECT add, rt_ak *ak,
                       rt_err *err) {
  TPM2B_PUBLIC t = rt_template_ak(RT_ALG_ECC_P256);
  t.publicArea.objectAttributes = (t.publicArea.objectAttributes & ~drop) | add;
  if (drop & TPMA_OBJECT_RESTRICTED) /* an unrestricted signer may keep its scheme */
    t.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
  ak->handle = ESYS_TR_NONE;
  rt_code c = create_load(tpm, ek->handle, ek, &t, &ak->handle, &ak->pub, err);
  if (c != RT_OK)
    return c;
  TPM2B_NAME *name = NULL;
  if (Esys_TR_GetName(tpm->esys, ak->handle, &name) != TSS2_RC_SUCCESS)
    return rt_err_set(err, RT_E_TPM, "GetName");
  ak->name = *name;
  Esys_Free(name);
  return RT_OK;
}

/* An identity key of our choosing, under the SRK (flushed at once). */
static rt_code make_key(rt_tpm *tpm, rt_key_alg alg, TPMA_OBJECT drop, TPMA_OBJECT add,
                        rt_idkey *key, rt_err *err) {
  ESYS_TR srk = ESYS_TR_NONE;
  rt_code c = rt_srk_create(tpm, &srk, NULL, err);
  if (c != RT_OK)
    return c;
  TPM2B_PUBLIC t = rt_template_key(alg);
  t.publicArea.objectAttributes = (t.publicArea.objectAttributes & ~drop) | add;
  if (add & TPMA_OBJECT_RESTRICTED) {
    t.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    t.publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
  }
  key->handle = ESYS_TR_NONE;
  c = create_load(tpm, srk, NULL, &t, &key->handle, &key->pub, err);
  rt_tpm_flush(tpm, &srk);
  return c;
}

/* Until $RATTEST_TAMPER_HOLD names an existing file (if it is set), 60 s at
 * most. */
static void hold(void) {
  const char *file = getenv("RATTEST_TAMPER_HOLD");
  for (int i = 0; file != NULL && i < 1200 && access(file, F_OK) != 0; i++)
    usleep(50 * 1000);
}

static ProtobufCBinaryData pub_bytes(const TPM2B_PUBLIC *p) {
  ProtobufCBinaryData b = {0, malloc(sizeof *p)};
  Tss2_MU_TPM2B_PUBLIC_Marshal(p, b.data, sizeof *p, &b.len);
  return b;
}

static grpc_status_code call(rt_grpc_client *c, const char *method, const ProtobufCMessage *req,
                             const ProtobufCMessageDescriptor *type, ProtobufCMessage **resp,
                             rt_rpc_result *res) {
  grpc_status_code s = rt_grpc_call(c, method, req, type, 20000, resp, res);
  printf("RESULT %s %s\n", rt_grpc_status_name(s), res->code[0] ? res->code : "-");
  fflush(stdout);
  return s;
}

/* One of the two Finish calls of a race. */
typedef struct {
  rt_grpc_client *client;
  const ProtobufCMessage *req;
  pthread_barrier_t *go;
  grpc_status_code s;
  rt_rpc_result res;
} racer;

static void *race_one(void *arg) {
  racer *r = arg;
  ProtobufCMessage *resp = NULL;
  pthread_barrier_wait(r->go);
  r->s = rt_grpc_call(r->client, RT_METHOD_FINISH, r->req,
                      &rattest__v1__finish_response__descriptor, 20000, &resp, &r->res);
  if (resp != NULL)
    protobuf_c_message_free_unpacked(resp, NULL);
  return NULL;
}

/* The same Finish to cl's verifier and to the replica at once; both
 * answers printed; the status is the replica's. 1 when the tool failed. */
static int race(rt_grpc_client *cl, const char *replica, const char *ca,
                const ProtobufCMessage *req, grpc_status_code *s) {
  rt_err err;
  rt_grpc_client *other = NULL;
  if (rt_grpc_client_new(replica, ca, 0, &other, &err) != RT_OK)
    return die("replica", err.msg);
  pthread_barrier_t go;
  pthread_barrier_init(&go, NULL, 2);
  racer r[2] = {{.client = cl, .req = req, .go = &go}, {.client = other, .req = req, .go = &go}};
  pthread_t t;
  int rc = pthread_create(&t, NULL, race_one, &r[0]) == 0 ? 0 : die("race", "no thread");
  if (rc == 0) {
    race_one(&r[1]);
    pthread_join(t, NULL);
    for (int i = 0; i < 2; i++)
      printf("RESULT %s %s\n", rt_grpc_status_name(r[i].s), r[i].res.code[0] ? r[i].res.code : "-");
    fflush(stdout);
    *s = r[1].s;
  }
  pthread_barrier_destroy(&go);
  rt_grpc_client_free(other);
  return rc;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: rt_enroll_tamper HOST:PORT CA MUTATION\n");
    return 2;
  }
  mut = argv[3];
  rt_log_set_level(RT_LOG_ERROR);
  rt_tpm_quiet_tss_logs();
  rt_err err;
  rt_tpm *tpm = NULL;
  rt_ek ek;
  rt_ak ak = {.handle = ESYS_TR_NONE}, ak2 = {.handle = ESYS_TR_NONE};
  rt_idkey key = {.handle = ESYS_TR_NONE}, key2 = {.handle = ESYS_TR_NONE};
  rt_grpc_client *cl = NULL;
  ProtobufCMessage *begin_resp = NULL, *finish_resp = NULL;
  rt_bytes quote = {0}, qsig = {0}, cinfo = {0}, csig = {0}, poss = {0};
  TPM2B_DIGEST *secret = NULL;
  uint8_t *log = NULL;
  size_t log_len = 0;
  int rc = 1;
  memset(&ek, 0, sizeof ek);
  ek.handle = ESYS_TR_NONE;

  if (rt_tpm_open(NULL, &tpm, &err) != RT_OK ||
      rt_ek_open(tpm, RT_EK_RSA, NULL, &ek, &err) != RT_OK) {
    die("TPM", err.msg);
    goto out;
  }
  TPMA_OBJECT ak_drop = is("ak-not-restricted") ? TPMA_OBJECT_RESTRICTED
                        : is("ak-not-fixedtpm") ? TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT
                                                : 0;
  /* ak-noda: an AK as Windows makes them, with noDA (accepted). */
  TPMA_OBJECT ak_add = is("ak-noda") ? TPMA_OBJECT_NODA : 0;
  if (make_ak(tpm, &ek, ak_drop, ak_add, &ak, &err) != RT_OK) {
    die("AK", err.msg);
    goto out;
  }
  if (rt_grpc_client_new(argv[1], argv[2], 0, &cl, &err) != RT_OK) {
    die("client", err.msg);
    goto out;
  }

  /* Begin */
  Rattest__V1__BeginRequest breq = RATTEST__V1__BEGIN_REQUEST__INIT;
  Rattest__V1__EkCertificate certs[RT_MAX_EK_CERTS], *cptr[RT_MAX_EK_CERTS];
  size_t nc = 0;
  /* no-ek-cert: a TPM without EK certificates (trusted only by allow-list). */
  for (size_t i = 0; i < ek.n_certs && !is("no-ek-cert"); i++) {
    /* ek-mismatch: only the ECC EK's certificate goes with the RSA EK. */
    if (is("ek-mismatch") && ek.certs[i].nv_index == RT_NV_EK_CERT_RSA2048)
      continue;
    rattest__v1__ek_certificate__init(&certs[nc]);
    certs[nc].nv_index = ek.certs[i].nv_index;
    certs[nc].der = (ProtobufCBinaryData){ek.certs[i].len, ek.certs[i].der};
    cptr[nc] = &certs[nc];
    nc++;
  }
  const char *name = getenv("RATTEST_TAMPER_NAME");
  breq.name = (char *)(name != NULL ? name : "tamper");
  breq.ek_certs = cptr;
  breq.n_ek_certs = nc;
  const char *plat_path = getenv("RATTEST_TAMPER_PLATFORM_CERT");
  uint8_t *plat = NULL;
  size_t plat_len = 0;
  if (plat_path != NULL && rt_file_read(plat_path, 1u << 20, &plat, &plat_len, &err) != RT_OK) {
    die("platform certificate", err.msg);
    goto out;
  }
  breq.platform_cert = (ProtobufCBinaryData){plat_len, plat};
  breq.ek_public = pub_bytes(&ek.pub);
  breq.ak_public = pub_bytes(&ak.pub);
  breq.key_algorithm = RATTEST__V1__KEY_ALGORITHM__KEY_ALGORITHM_ECC_P256;
  rt_rpc_result res;
  grpc_status_code s = call(cl, RT_METHOD_BEGIN, &breq.base,
                            &rattest__v1__begin_response__descriptor, &begin_resp, &res);
  free(breq.ek_public.data);
  free(breq.ak_public.data);
  free(plat);
  if (s != GRPC_STATUS_OK) {
    rc = 0;
    goto out;
  }
  Rattest__V1__BeginResponse *ch = (Rattest__V1__BeginResponse *)begin_resp;

  /* Evidence, with the one thing this run breaks. */
  TPM2B_ID_OBJECT blob;
  TPM2B_ENCRYPTED_SECRET enc;
  size_t o1 = 0, o2 = 0;
  Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(ch->credential_blob.data, ch->credential_blob.len, &o1, &blob);
  Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(ch->encrypted_secret.data, ch->encrypted_secret.len, &o2,
                                           &enc);
  if (rt_ak_activate(tpm, &ek, &ak, &blob, &enc, &secret, &err) != RT_OK) {
    die("activate", err.msg);
    goto out;
  }
  if (is("wrong-secret"))
    secret->buffer[0] ^= 1;

  TPML_PCR_SELECTION sel = {.count = 0};
  for (size_t i = 0; i < ch->n_pcr_selection; i++)
    for (size_t k = 0; k < ch->pcr_selection[i]->n_pcrs; k++)
      if (!(is("quote-pcrs") && ch->pcr_selection[i]->pcrs[k] == 7))
        rt_pcrsel_add(&sel, rt_pcr_bank_parse(ch->pcr_selection[i]->bank),
                      ch->pcr_selection[i]->pcrs[k], &err);
  uint8_t nonce[64];
  memcpy(nonce, ch->nonce.data, ch->nonce.len);
  if (is("quote-nonce"))
    nonce[0] ^= 1;
  const rt_ak *quoter = &ak;
  if (is("quote-other-key")) {
    if (make_ak(tpm, &ek, 0, 0, &ak2, &err) != RT_OK) {
      die("second AK", err.msg);
      goto out;
    }
    quoter = &ak2;
  }
  if (rt_quote(tpm, quoter, nonce, ch->nonce.len, &sel, &quote, &qsig, &err) != RT_OK) {
    die("quote", err.msg);
    goto out;
  }
  rt_ak_close(tpm, &ak2);

  rt_key_alg alg = is("key-alg-mismatch") ? RT_ALG_RSA_2048 : RT_ALG_ECC_P256;
  TPMA_OBJECT kdrop = is("key-exportable") ? TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT : 0;
  TPMA_OBJECT kadd = is("key-restricted") ? TPMA_OBJECT_RESTRICTED : 0;
  if (is("certify-other-key")) {
    /* Certify one key, then send another: three objects at most loaded. */
    if (make_key(tpm, alg, 0, 0, &key2, &err) != RT_OK ||
        rt_certify(tpm, key2.handle, &ak, ch->nonce.data, ch->nonce.len, &cinfo, &csig, &err) !=
            RT_OK) {
      die("certify", err.msg);
      goto out;
    }
    rt_idkey_close(tpm, &key2);
  }
  if (make_key(tpm, alg, kdrop, kadd, &key, &err) != RT_OK) {
    die("key", err.msg);
    goto out;
  }
  if (cinfo.data == NULL && rt_certify(tpm, key.handle, &ak, ch->nonce.data, ch->nonce.len, &cinfo,
                                       &csig, &err) != RT_OK) {
    die("certify", err.msg);
    goto out;
  }
  uint8_t pnonce[64];
  memcpy(pnonce, ch->nonce.data, ch->nonce.len);
  if (is("possession"))
    pnonce[5] ^= 1;
  /* A restricted key cannot sign an outside digest: send an empty proof. */
  if (!is("key-restricted") && rt_sign_possession(tpm, key.handle, &key.pub.publicArea, pnonce,
                                                  ch->nonce.len, &poss, &err) != RT_OK) {
    die("possession", err.msg);
    goto out;
  }
  const char *log_path = getenv("RATTEST_TAMPER_LOG");
  if (!is("no-event-log") && log_path != NULL &&
      rt_file_read(log_path, 16u << 20, &log, &log_len, &err) != RT_OK) {
    die("event log", err.msg);
    goto out;
  }

  /* Finish */
  Rattest__V1__FinishRequest freq = RATTEST__V1__FINISH_REQUEST__INIT;
  uint8_t token[20000];
  if (ch->session_token.len > sizeof token) {
    die("token", "too long");
    goto out;
  }
  memcpy(token, ch->session_token.data, ch->session_token.len);
  if (is("token-tampered"))
    token[ch->session_token.len / 2] ^= 1;
  freq.session_token = (ProtobufCBinaryData){ch->session_token.len, token};
  freq.activated_secret = (ProtobufCBinaryData){secret->size, secret->buffer};
  freq.quote = (ProtobufCBinaryData){quote.len, quote.data};
  freq.quote_signature = (ProtobufCBinaryData){qsig.len, qsig.data};
  freq.event_log = (ProtobufCBinaryData){log_len, log};
  freq.key_public = pub_bytes(&key.pub);
  freq.certify_info = (ProtobufCBinaryData){cinfo.len, cinfo.data};
  freq.certify_signature = (ProtobufCBinaryData){csig.len, csig.data};
  freq.possession_signature = (ProtobufCBinaryData){poss.len, poss.data};
  if (is("token-expired"))
    sleep(3); /* the test's verifier runs with --session-ttl 2s */
  hold();
  const char *elsewhere = getenv("RATTEST_TAMPER_FINISH_AT");
  if (elsewhere != NULL) {
    rt_grpc_client_free(cl);
    cl = NULL;
    if (rt_grpc_client_new(elsewhere, argv[2], 0, &cl, &err) != RT_OK) {
      die("second verifier", err.msg);
      goto out;
    }
  }
  const char *racing = getenv("RATTEST_TAMPER_RACE_AT");
  if (racing != NULL) {
    if (race(cl, racing, argv[2], &freq.base, &s) != 0)
      goto out;
  } else {
    s = call(cl, RT_METHOD_FINISH, &freq.base, &rattest__v1__finish_response__descriptor,
             &finish_resp, &res);
  }
  if (s == GRPC_STATUS_OK && is("token-replayed")) {
    protobuf_c_message_free_unpacked(finish_resp, NULL);
    finish_resp = NULL;
    const char *replica = getenv("RATTEST_TAMPER_REPLAY_AT");
    if (replica != NULL) {
      rt_grpc_client_free(cl);
      cl = NULL;
      if (rt_grpc_client_new(replica, argv[2], 0, &cl, &err) != RT_OK) {
        die("replica", err.msg);
        goto out;
      }
    }
    s = call(cl, RT_METHOD_FINISH, &freq.base, &rattest__v1__finish_response__descriptor,
             &finish_resp, &res);
  }
  /* A refusal must come without certificates. */
  if (s != GRPC_STATUS_OK && finish_resp != NULL) {
    die("verifier", "answered a refusal with a message");
    goto out;
  }
  /* Proofs of receipt the machine could not have made: the verifier must
   * refuse each. confirm-wrong: zero HMACs / an empty signature for every
   * secret; confirm-missing: no proof; confirm-replayed: a second Confirm
   * with the token of a first (refused) one. */
  const Rattest__V1__FinishResponse *fr = (const Rattest__V1__FinishResponse *)finish_resp;
  if (s == GRPC_STATUS_OK && fr != NULL &&
      (is("confirm-wrong") || is("confirm-missing") || is("confirm-replayed"))) {
    if (fr->n_secrets == 0) {
      die("confirm", "the verifier delivered no secret");
      goto out;
    }
    Rattest__V1__ConfirmRequest creq = RATTEST__V1__CONFIRM_REQUEST__INIT;
    Rattest__V1__SecretProof proofs[64], *pp[64];
    uint8_t zero[32] = {0};
    size_t n = is("confirm-missing") || fr->n_secrets > 64 ? 0 : fr->n_secrets;
    for (size_t i = 0; i < n; i++) {
      rattest__v1__secret_proof__init(&proofs[i]);
      proofs[i].name = fr->secrets[i]->name;
      proofs[i].hmac = (ProtobufCBinaryData){sizeof zero, zero};
      pp[i] = &proofs[i];
    }
    creq.confirm_token = fr->confirm_token;
    creq.proofs = pp;
    creq.n_proofs = n;
    ProtobufCMessage *cresp = NULL;
    s = call(cl, RT_METHOD_CONFIRM, &creq.base, &rattest__v1__confirm_response__descriptor, &cresp,
             &res);
    if (cresp != NULL)
      protobuf_c_message_free_unpacked(cresp, NULL);
    cresp = NULL;
    if (is("confirm-replayed"))
      s = call(cl, RT_METHOD_CONFIRM, &creq.base, &rattest__v1__confirm_response__descriptor,
               &cresp, &res);
    if (cresp != NULL)
      protobuf_c_message_free_unpacked(cresp, NULL);
  }
  free(freq.key_public.data);
  rc = 0;
out:
  if (secret != NULL)
    Esys_Free(secret);
  rt_bytes_free(&quote);
  rt_bytes_free(&qsig);
  rt_bytes_free(&cinfo);
  rt_bytes_free(&csig);
  rt_bytes_free(&poss);
  free(log);
  if (begin_resp != NULL)
    protobuf_c_message_free_unpacked(begin_resp, NULL);
  if (finish_resp != NULL)
    protobuf_c_message_free_unpacked(finish_resp, NULL);
  rt_grpc_client_free(cl);
  rt_idkey_close(tpm, &key);
  rt_idkey_close(tpm, &key2);
  rt_ak_close(tpm, &ak2);
  rt_ak_close(tpm, &ak);
  if (tpm != NULL)
    rt_ek_close(tpm, &ek);
  rt_tpm_close(tpm);
  return rc;
}
