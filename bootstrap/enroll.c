#include "enroll.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <tss2/tss2_mu.h>
#include <unistd.h>

#include "ak.h"
#include "evidence.h"
#include "idkey.h"
#include "rattest.pb-c.h"
#include "rt_file.h"
#include "rt_grpc.h"
#include "rt_log.h"
#include "rt_methods.h"
#include "rt_pcrsel.h"
#include "rt_state.h"
#include "rt_tpm_pub.h"
#include "rt_tss2key.h"
#include "secret_receive.h"

#define MAX_EVENT_LOG (16u * 1024u * 1024u)
#define RETRY_FIRST_MS 250
#define RETRY_MAX_MS 5000

/* Everything one enrollment holds, released in one place. */
typedef struct {
  const rt_enroll_opts *o;
  rt_tpm *tpm;
  rt_ek ek;
  rt_ak ak;
  rt_idkey key;
  rt_grpc_client *client;
  uint8_t *platform_cert;
  size_t platform_cert_len;
  Rattest__V1__BeginResponse *challenge;
  Rattest__V1__FinishResponse *result;
  rt_state *state;
} enrollment;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Failures worth another try: the verifier was unreachable or busy. */
static int transient(grpc_status_code s) {
  return s == GRPC_STATUS_UNAVAILABLE || s == GRPC_STATUS_DEADLINE_EXCEEDED ||
         s == GRPC_STATUS_RESOURCE_EXHAUSTED;
}

/* Calls with exponential backoff until the overall deadline. Finish is only
 * retried when the verifier was unreachable: a token is single use. */
static grpc_status_code call_retry(enrollment *e, const char *method, const ProtobufCMessage *req,
                                   const ProtobufCMessageDescriptor *type, uint64_t deadline,
                                   int retry_all_transient, ProtobufCMessage **resp,
                                   rt_rpc_result *res) {
  uint64_t wait = RETRY_FIRST_MS;
  for (;;) {
    uint64_t now = now_ms();
    int left = now >= deadline ? 1 : (int)(deadline - now);
    grpc_status_code s = rt_grpc_call(e->client, method, req, type, left, resp, res);
    int again = retry_all_transient ? transient(s) : s == GRPC_STATUS_UNAVAILABLE;
    if (s == GRPC_STATUS_OK || !again || now_ms() + wait >= deadline)
      return s;
    rt_warn("%s: %s (%s); retrying in %llu ms", method, rt_grpc_status_name(s), res->message,
            (unsigned long long)wait);
    usleep((useconds_t)wait * 1000u);
    wait = wait * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : wait * 2;
  }
}

static int fail(const char *what, const char *msg) {
  fprintf(stderr, "rattest-bootstrap enroll: %s: %s\n", what, msg);
  return 1;
}

static int fail_rpc(const char *what, grpc_status_code s, const rt_rpc_result *res) {
  fprintf(stderr, "rattest-bootstrap enroll: %s: %s%s%s: %s\n", what, rt_grpc_status_name(s),
          res->code[0] ? " " : "", res->code, res->message);
  return 1;
}

static rt_code marshal_public(const TPM2B_PUBLIC *pub, ProtobufCBinaryData *out, rt_err *err) {
  out->data = malloc(sizeof *pub);
  if (out->data == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  size_t off = 0;
  if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, out->data, sizeof *pub, &off) != TSS2_RC_SUCCESS) {
    free(out->data);
    out->data = NULL;
    return rt_err_set(err, RT_E_INTERNAL, "marshalling a public area failed");
  }
  out->len = off;
  return RT_OK;
}

#define MAX_INTERMEDIATES 8

/* The EK intermediates a machine may carry for a verifier that only trusts
 * the manufacturer's root: DER certificates from a PEM bundle. */
static rt_code read_intermediates(const char *path, ProtobufCBinaryData *out, size_t *n,
                                  rt_err *err) {
  *n = 0;
  uint8_t *pem = NULL;
  size_t len = 0;
  rt_code code = rt_file_read(path, 1u << 20, &pem, &len, err);
  if (code != RT_OK)
    return rt_err_prefix(err, "--ek-intermediates: ");
  BIO *bio = BIO_new_mem_buf(pem, (int)len);
  X509 *x;
  while (bio != NULL && *n < MAX_INTERMEDIATES &&
         (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    unsigned char *der = NULL;
    int dlen = i2d_X509(x, &der);
    X509_free(x);
    if (dlen <= 0)
      break;
    out[*n].data = der;
    out[*n].len = (size_t)dlen;
    (*n)++;
  }
  BIO_free(bio);
  free(pem);
  ERR_clear_error();
  if (*n == 0)
    return rt_err_set(err, RT_E_INVALID, "--ek-intermediates: %s holds no PEM certificate", path);
  return RT_OK;
}

static int do_begin(enrollment *e, uint64_t deadline) {
  rt_err err;
  Rattest__V1__BeginRequest req = RATTEST__V1__BEGIN_REQUEST__INIT;
  Rattest__V1__EkCertificate certs[RT_MAX_EK_CERTS], *cert_ptrs[RT_MAX_EK_CERTS];
  req.name = (char *)e->o->name;
  for (size_t i = 0; i < e->ek.n_certs; i++) {
    rattest__v1__ek_certificate__init(&certs[i]);
    certs[i].nv_index = e->ek.certs[i].nv_index;
    certs[i].der.data = e->ek.certs[i].der;
    certs[i].der.len = e->ek.certs[i].len;
    cert_ptrs[i] = &certs[i];
  }
  req.n_ek_certs = e->ek.n_certs;
  req.ek_certs = cert_ptrs;
  req.platform_cert.data = e->platform_cert;
  req.platform_cert.len = e->platform_cert_len;
  req.key_algorithm = e->o->key_alg == RT_ALG_RSA_2048
                          ? RATTEST__V1__KEY_ALGORITHM__KEY_ALGORITHM_RSA_2048
                          : RATTEST__V1__KEY_ALGORITHM__KEY_ALGORITHM_ECC_P256;
  int rc = 1;
  ProtobufCBinaryData inters[MAX_INTERMEDIATES];
  size_t n_inters = 0;
  if (e->o->ek_intermediates != NULL &&
      read_intermediates(e->o->ek_intermediates, inters, &n_inters, &err) != RT_OK) {
    fail("Begin", err.msg);
    goto out;
  }
  req.ek_intermediates = inters;
  req.n_ek_intermediates = n_inters;
  if (marshal_public(&e->ek.pub, &req.ek_public, &err) != RT_OK ||
      marshal_public(&e->ak.pub, &req.ak_public, &err) != RT_OK) {
    fail("Begin", err.msg);
    goto out;
  }
  ProtobufCMessage *resp = NULL;
  rt_rpc_result res;
  grpc_status_code s =
      call_retry(e, RT_METHOD_BEGIN, &req.base, &rattest__v1__begin_response__descriptor, deadline,
                 1, &resp, &res);
  if (s != GRPC_STATUS_OK) {
    fail_rpc("the verifier refused Begin", s, &res);
    goto out;
  }
  e->challenge = (Rattest__V1__BeginResponse *)resp;
  rc = 0;
out:
  for (size_t i = 0; i < n_inters; i++)
    OPENSSL_free(inters[i].data);
  free(req.ek_public.data);
  free(req.ak_public.data);
  return rc;
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

/* Answers the challenge and collects the evidence Finish sends. */
static int do_finish(enrollment *e, uint64_t deadline) {
  rt_err err;
  Rattest__V1__BeginResponse *c = e->challenge;
  Rattest__V1__FinishRequest req = RATTEST__V1__FINISH_REQUEST__INIT;
  rt_bytes quote = {0}, quote_sig = {0}, cert_info = {0}, cert_sig = {0}, poss = {0};
  TPM2B_DIGEST *secret = NULL;
  uint8_t *log = NULL;
  size_t log_len = 0;
  rt_pcr_value *values = NULL;
  size_t n_values = 0;
  Rattest__V1__PcrValue *pv = NULL, **pv_ptrs = NULL;
  int rc = 1;

  TPM2B_ID_OBJECT blob;
  TPM2B_ENCRYPTED_SECRET enc;
  size_t off = 0, off2 = 0;
  if (Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(c->credential_blob.data, c->credential_blob.len, &off,
                                        &blob) != TSS2_RC_SUCCESS ||
      off != c->credential_blob.len ||
      Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(c->encrypted_secret.data, c->encrypted_secret.len,
                                               &off2, &enc) != TSS2_RC_SUCCESS ||
      off2 != c->encrypted_secret.len) {
    fail("challenge", "the credential from the verifier does not parse");
    goto out;
  }
  if (rt_ak_activate(e->tpm, &e->ek, &e->ak, &blob, &enc, &secret, &err) != RT_OK) {
    fail("challenge", err.msg);
    goto out;
  }

  TPML_PCR_SELECTION demanded = {.count = 0};
  for (size_t i = 0; i < c->n_pcr_selection; i++) {
    TPMI_ALG_HASH bank = rt_pcr_bank_parse(c->pcr_selection[i]->bank);
    for (size_t k = 0; k < c->pcr_selection[i]->n_pcrs; k++)
      if (rt_pcrsel_add(&demanded, bank, c->pcr_selection[i]->pcrs[k], &err) != RT_OK) {
        fail("challenge PCR selection", err.msg);
        goto out;
      }
  }
  if (rt_quote(e->tpm, &e->ak, c->nonce.data, c->nonce.len, &demanded, &quote, &quote_sig, &err) !=
      RT_OK) {
    fail("quote", err.msg);
    goto out;
  }
  TPML_PCR_SELECTION send;
  if (rt_pcrsel_parse(e->o->pcrs, &send, &err) != RT_OK ||
      rt_pcr_read_all(e->tpm, &send, &values, &n_values, &err) != RT_OK) {
    fail("PCR values", err.msg);
    goto out;
  }
  if (read_event_log(e->o->event_log, &log, &log_len, &err) != RT_OK) {
    fail("event log", err.msg);
    goto out;
  }
  if (rt_idkey_create(e->tpm, e->o->key_alg, &e->key, &err) != RT_OK ||
      rt_certify(e->tpm, e->key.handle, &e->ak, c->nonce.data, c->nonce.len, &cert_info, &cert_sig,
                 &err) != RT_OK ||
      rt_sign_possession(e->tpm, e->key.handle, &e->key.pub.publicArea, c->nonce.data, c->nonce.len,
                         &poss, &err) != RT_OK) {
    fail("identity key", err.msg);
    goto out;
  }

  pv = calloc(n_values ? n_values : 1, sizeof *pv);
  pv_ptrs = calloc(n_values ? n_values : 1, sizeof *pv_ptrs);
  if (pv == NULL || pv_ptrs == NULL) {
    fail("Finish", "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n_values; i++) {
    rattest__v1__pcr_value__init(&pv[i]);
    pv[i].bank = (char *)rt_pcr_bank_name(values[i].bank);
    pv[i].index = values[i].index;
    pv[i].digest.data = values[i].value.buffer;
    pv[i].digest.len = values[i].value.size;
    pv_ptrs[i] = &pv[i];
  }
  req.session_token = c->session_token;
  req.activated_secret.data = secret->buffer;
  req.activated_secret.len = secret->size;
  req.quote = (ProtobufCBinaryData){quote.len, quote.data};
  req.quote_signature = (ProtobufCBinaryData){quote_sig.len, quote_sig.data};
  req.event_log = (ProtobufCBinaryData){log_len, log};
  req.n_pcr_values = n_values;
  req.pcr_values = pv_ptrs;
  if (marshal_public(&e->key.pub, &req.key_public, &err) != RT_OK) {
    fail("Finish", err.msg);
    goto out;
  }
  req.certify_info = (ProtobufCBinaryData){cert_info.len, cert_info.data};
  req.certify_signature = (ProtobufCBinaryData){cert_sig.len, cert_sig.data};
  req.possession_signature = (ProtobufCBinaryData){poss.len, poss.data};

  ProtobufCMessage *resp = NULL;
  rt_rpc_result res;
  grpc_status_code s =
      call_retry(e, RT_METHOD_FINISH, &req.base, &rattest__v1__finish_response__descriptor,
                 deadline, 0, &resp, &res);
  if (s != GRPC_STATUS_OK) {
    fail_rpc("the verifier refused Finish", s, &res);
    goto out;
  }
  e->result = (Rattest__V1__FinishResponse *)resp;
  rc = 0;
out:
  if (secret != NULL) {
    OPENSSL_cleanse(secret->buffer, sizeof secret->buffer);
    Esys_Free(secret);
  }
  free(req.key_public.data);
  free(pv);
  free(pv_ptrs);
  free(values);
  free(log);
  rt_bytes_free(&quote);
  rt_bytes_free(&quote_sig);
  rt_bytes_free(&cert_info);
  rt_bytes_free(&cert_sig);
  rt_bytes_free(&poss);
  return rc;
}

/* PEM of one DER certificate, appended to a growing buffer. */
static int append_pem(char **buf, size_t *len, const ProtobufCBinaryData *der, X509 **keep) {
  const unsigned char *p = der->data;
  X509 *x = d2i_X509(NULL, &p, (long)der->len);
  if (x == NULL)
    return -1;
  BIO *b = BIO_new(BIO_s_mem());
  char *data = NULL;
  long n = 0;
  int ok = b != NULL && PEM_write_bio_X509(b, x) == 1 && (n = BIO_get_mem_data(b, &data)) > 0;
  if (ok) {
    char *nb = realloc(*buf, *len + (size_t)n + 1);
    if (nb == NULL) {
      ok = 0;
    } else {
      memcpy(nb + *len, data, (size_t)n);
      *len += (size_t)n;
      nb[*len] = '\0';
      *buf = nb;
    }
  }
  BIO_free(b);
  if (ok && keep != NULL)
    *keep = x;
  else
    X509_free(x);
  return ok ? 0 : -1;
}

static int write_pem_file(const char *path, const char *pem, size_t len) {
  rt_err err;
  if (rt_file_write_atomic(path, pem, len, 0600, &err) != RT_OK)
    return fail("writing", err.msg);
  return 0;
}

/* Removes an identity's files, except those `keep` also uses. */
static void remove_identity_files(const rt_identity *id, const rt_identity *keep) {
  const char *files[] = {id->key_file, id->cert_file, id->chain_file, id->ak_cert_file};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    if (keep != NULL &&
        (strcmp(files[i], keep->key_file) == 0 || strcmp(files[i], keep->cert_file) == 0 ||
         strcmp(files[i], keep->chain_file) == 0 || strcmp(files[i], keep->ak_cert_file) == 0))
      continue;
    if (unlink(files[i]) != 0 && errno != ENOENT)
      rt_warn("cannot remove %s: %s", files[i], strerror(errno));
  }
}

/* Keeps what was issued: persistent key, key file, certificates, state. */
static int keep_result(enrollment *e, const rt_identity *previous) {
  rt_err err;
  Rattest__V1__FinishResponse *r = e->result;
  char *cert_pem = NULL, *chain_pem = NULL, *ak_pem = NULL;
  size_t cert_len = 0, chain_len = 0, ak_len = 0;
  X509 *cert = NULL;
  EVP_PKEY *ours = NULL;
  const rt_identity *written = NULL; /* files to remove if we fail */
  int rc = 1;

  /* A certificate for any other key than ours is worthless (or an attack):
   * check before anything is written. */
  if (append_pem(&cert_pem, &cert_len, &r->key_certificate, &cert) != 0 ||
      append_pem(&ak_pem, &ak_len, &r->ak_certificate, NULL) != 0) {
    fail("result", "the verifier's certificates do not parse");
    goto out;
  }
  for (size_t i = 0; i < r->n_ca_chain; i++)
    if (append_pem(&chain_pem, &chain_len, &r->ca_chain[i], NULL) != 0) {
      fail("result", "the verifier's CA chain does not parse");
      goto out;
    }
  if (rt_tpm_pub_to_evp(&e->key.pub.publicArea, &ours, &err) != RT_OK ||
      EVP_PKEY_eq(X509_get0_pubkey(cert), ours) != 1) {
    fail("result", "the issued certificate is not for the key this TPM holds");
    goto out;
  }

  rt_identity id;
  memset(&id, 0, sizeof id);
  snprintf(id.name, sizeof id.name, "%s", e->o->name);
  id.handle = e->o->handle;
  /* Each enrollment writes files of its own (named after the certificate's
   * serial): the previous identity stays complete on disk until the state
   * file points at the new one, whatever fails in between. */
  char serial[17] = "";
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
  char *hex = bn ? BN_bn2hex(bn) : NULL;
  if (hex != NULL)
    snprintf(serial, sizeof serial, "%s", hex + (strlen(hex) > 16 ? strlen(hex) - 16 : 0));
  OPENSSL_free(hex);
  BN_free(bn);
  for (char *c = serial; *c; c++)
    *c = (char)tolower((unsigned char)*c);
  const char *d = e->o->state_dir, *n = e->o->name;
  snprintf(id.key_file, sizeof id.key_file, "%s/%s-%s.key.pem", d, n, serial);
  snprintf(id.cert_file, sizeof id.cert_file, "%s/%s-%s.cert.pem", d, n, serial);
  snprintf(id.chain_file, sizeof id.chain_file, "%s/%s-%s.chain.pem", d, n, serial);
  snprintf(id.ak_cert_file, sizeof id.ak_cert_file, "%s/%s-%s.ak.pem", d, n, serial);
  snprintf(id.algorithm, sizeof id.algorithm, "%s", rt_key_alg_name(e->o->key_alg));
  snprintf(id.verifier, sizeof id.verifier, "%s", e->o->verifier);
  /* The EK identity is the one the verifier certified (SAN URI). */
  const char *urn = "urn:rattest:ek:sha256:";
  GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
  for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
    GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
    if (g->type == GEN_URI) {
      const char *u = (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
      if (strncmp(u, urn, strlen(urn)) == 0)
        snprintf(id.ek_sha256, sizeof id.ek_sha256, "%s", u + strlen(urn));
    }
  }
  GENERAL_NAMES_free(sans);
  time_t not_after = 0;
  struct tm tm;
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1)
    not_after = timegm(&tm);
  if (rt_state_time_format(not_after, id.not_after, &err) != RT_OK ||
      rt_state_time_format(time(NULL), id.enrolled_at, &err) != RT_OK) {
    fail("state", err.msg);
    goto out;
  }

  rt_tss2key kf;
  memset(&kf, 0, sizeof kf);
  kf.type = RT_TSS2KEY_LOADABLE;
  kf.empty_auth = 1;
  kf.parent = 0x40000001u; /* the standard SRK, as rt_idkey_create used */
  kf.pub = e->key.pub;
  kf.priv = e->key.priv;
  /* No description: tpm2-openssl 1.1.1 (Debian 12) predates that field of
   * the key-file format and refuses files that carry it. */
  if (rt_tss2key_write(id.key_file, &kf, &err) != RT_OK) {
    fail("writing the key file", err.msg);
    goto out;
  }
  written = &id;
  if (write_pem_file(id.cert_file, cert_pem, cert_len) != 0 ||
      write_pem_file(id.chain_file, chain_pem ? chain_pem : "", chain_len) != 0 ||
      write_pem_file(id.ak_cert_file, ak_pem, ak_len) != 0)
    goto out;

  /* Only now the TPM: the key previously recorded at the handle is ours to
   * replace. */
  TPM2B_PUBLIC old_pub, *old = NULL;
  rt_tss2key old_key;
  if (previous != NULL && previous->handle == e->o->handle &&
      rt_tss2key_read(previous->key_file, &old_key, &err) == RT_OK) {
    old_pub = old_key.pub;
    old = &old_pub;
  }
  if (rt_idkey_persist(e->tpm, &e->key, e->o->handle, old, e->o->force, &err) != RT_OK) {
    fail("persisting the key", err.msg);
    goto out;
  }
  /* The state last: it only ever points at files that are complete. */
  if (rt_state_put(e->state, &id, &err) != RT_OK || rt_state_save(e->state, &err) != RT_OK) {
    fail("state", err.msg);
    goto out;
  }
  written = NULL; /* in use now */
  if (previous != NULL)
    remove_identity_files(previous, &id);
  printf("enrolled identity \"%s\": %s key at handle 0x%08x, valid until %s\n"
         "  key file  %s\n  cert      %s\n  chain     %s\n  EK        sha256:%s\n",
         id.name, id.algorithm, (unsigned)id.handle, id.not_after, id.key_file, id.cert_file,
         id.chain_file, id.ek_sha256);
  rc = 0;
out:
  if (written != NULL)
    remove_identity_files(written, NULL);
  EVP_PKEY_free(ours);
  X509_free(cert);
  free(cert_pem);
  free(chain_pem);
  free(ak_pem);
  return rc;
}

/* The identity is valid when its certificate has not expired and the TPM
 * still holds the key at its handle. */
/* The secrets Finish delivered: each is imported under the EK, opened and
 * recorded (secret_receive.c), then one Confirm proves receipt of all of
 * them to the verifier. A secret that cannot be received stops here: the
 * verifier's audit shows a delivery without confirmation. */
static int do_secrets(enrollment *e, uint64_t deadline) {
  const Rattest__V1__FinishResponse *r = e->result;
  if (r->n_secrets == 0)
    return 0;
  rt_err err;
  rt_identity via;
  if (rt_state_get(e->state, e->o->name, &via, &err) != RT_OK)
    return fail("secrets", err.msg);
  Rattest__V1__SecretProof *proofs = calloc(r->n_secrets, sizeof *proofs);
  Rattest__V1__SecretProof **ptrs = calloc(r->n_secrets, sizeof *ptrs);
  rt_bytes *blobs = calloc(r->n_secrets, sizeof *blobs);
  int rc = 1;
  if (proofs == NULL || ptrs == NULL || blobs == NULL) {
    fail("secrets", "out of memory");
    goto out;
  }
  for (size_t i = 0; i < r->n_secrets; i++) {
    const Rattest__V1__DeliveredSecret *ds = r->secrets[i];
    rt_secret_delivery d;
    memset(&d, 0, sizeof d);
    d.name = ds->name;
    d.type = ds->kind == RATTEST__V1__SECRET_KIND__SECRET_KIND_RSA_KEY ? RT_SECRET_TYPE_RSA_KEY
                                                                       : RT_SECRET_TYPE_SEALED;
    size_t off = 0, off2 = 0, off3 = 0;
    if (ds->kind != RATTEST__V1__SECRET_KIND__SECRET_KIND_SEALED &&
        ds->kind != RATTEST__V1__SECRET_KIND__SECRET_KIND_RSA_KEY) {
      fail(ds->name, "unknown secret kind");
      goto out;
    }
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(ds->public_.data, ds->public_.len, &off, &d.pub) != 0 ||
        off != ds->public_.len ||
        Tss2_MU_TPM2B_PRIVATE_Unmarshal(ds->duplicate.data, ds->duplicate.len, &off2, &d.dup) !=
            0 ||
        off2 != ds->duplicate.len ||
        Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(ds->encrypted_seed.data, ds->encrypted_seed.len,
                                                 &off3, &d.seed) != 0 ||
        off3 != ds->encrypted_seed.len) {
      fail(ds->name, "the delivered secret is malformed");
      goto out;
    }
    for (size_t b = 0; b < ds->n_pcr_policy; b++) {
      TPMI_ALG_HASH bank = rt_pcr_bank_parse(ds->pcr_policy[b]->bank);
      for (size_t k = 0; k < ds->pcr_policy[b]->n_pcrs; k++)
        if (rt_pcrsel_add(&d.pcrs, bank, ds->pcr_policy[b]->pcrs[k], &err) != RT_OK) {
          fail(ds->name, err.msg);
          goto out;
        }
    }
    rt_bytes *certs = calloc(ds->n_certificates + 1, sizeof *certs);
    if (certs == NULL) {
      fail("secrets", "out of memory");
      goto out;
    }
    for (size_t k = 0; k < ds->n_certificates; k++)
      certs[k] = (rt_bytes){ds->certificates[k].data, ds->certificates[k].len};
    d.certs = certs;
    d.n_certs = ds->n_certificates;
    uint32_t handle = 0;
    rt_code code =
        rt_secret_receive(e->tpm, &e->ek, e->state, e->o->state_dir, &via, &d,
                          r->confirm_nonce.data, r->confirm_nonce.len, &blobs[i], &handle, &err);
    free(certs);
    if (code != RT_OK) {
      fail(ds->name, err.msg);
      goto out;
    }
    rattest__v1__secret_proof__init(&proofs[i]);
    proofs[i].name = ds->name;
    if (d.type == RT_SECRET_TYPE_SEALED)
      proofs[i].hmac = (ProtobufCBinaryData){blobs[i].len, blobs[i].data};
    else
      proofs[i].signature = (ProtobufCBinaryData){blobs[i].len, blobs[i].data};
    ptrs[i] = &proofs[i];
    if (handle != 0)
      printf("secret %s: RSA key imported into the TPM at 0x%08x (rattest:%s)\n", ds->name,
             (unsigned)handle, ds->name);
    else
      printf("secret %s: sealed secret imported%s (rattest-bootstrap unseal %s)\n", ds->name,
             d.pcrs.count > 0 ? ", bound to PCR values" : "", ds->name);
  }
  Rattest__V1__ConfirmRequest req = RATTEST__V1__CONFIRM_REQUEST__INIT;
  req.confirm_token = r->confirm_token;
  req.proofs = ptrs;
  req.n_proofs = r->n_secrets;
  ProtobufCMessage *resp = NULL;
  rt_rpc_result res;
  /* Like Finish, Confirm's token is single use: retried only when the
   * verifier was unreachable. */
  grpc_status_code s =
      call_retry(e, RT_METHOD_CONFIRM, &req.base, &rattest__v1__confirm_response__descriptor,
                 deadline, 0, &resp, &res);
  if (s != GRPC_STATUS_OK) {
    fail_rpc("the verifier refused the proofs of receipt", s, &res);
    goto out;
  }
  printf("the verifier confirmed receipt of %zu secret(s)\n",
         ((Rattest__V1__ConfirmResponse *)resp)->n_confirmed);
  protobuf_c_message_free_unpacked(resp, NULL);
  rc = 0;
out:
  for (size_t i = 0; blobs != NULL && i < r->n_secrets; i++)
    rt_bytes_free(&blobs[i]);
  free(blobs);
  free(proofs);
  free(ptrs);
  return rc;
}

static int still_valid(enrollment *e, const rt_identity *id) {
  rt_err err;
  time_t not_after = 0;
  if (rt_state_time_parse(id->not_after, &not_after, &err) != RT_OK || not_after <= time(NULL))
    return 0;
  rt_tss2key k;
  rt_handle_owner owner;
  if (rt_tss2key_read(id->key_file, &k, &err) != RT_OK ||
      rt_handle_owner_of(e->tpm, id->handle, &k.pub, &owner, &err) != RT_OK)
    return 0;
  return owner == RT_HANDLE_OURS;
}

int rt_enroll(const rt_enroll_opts *o) {
  enrollment e;
  memset(&e, 0, sizeof e);
  e.o = o;
  e.ak.handle = e.key.handle = e.ek.handle = ESYS_TR_NONE;
  rt_err err;
  int rc = 1;
  uint64_t deadline = now_ms() + o->timeout_ms;

  if (mkdir(o->state_dir, 0700) != 0 && errno != EEXIST)
    return fail(o->state_dir, strerror(errno));
  if (rt_state_load(o->state_dir, &e.state, &err) != RT_OK)
    return fail("state", err.msg);
  rt_identity previous;
  int have_previous = rt_state_get(e.state, o->name, &previous, &err) == RT_OK;
  /* A delivered RSA key is an identity too, but not one enroll may replace:
   * refused before anything touches the TPM. */
  rt_secret_entry clash;
  if (rt_state_secret_get(e.state, o->name, &clash, &err) == RT_OK &&
      clash.type == RT_SECRET_TYPE_RSA_KEY) {
    rt_state_free(e.state);
    return fail(o->name, "is the name of an RSA key the verifier delivered, not of an "
                         "enrolled identity: choose another --name");
  }

  rt_tpm_quiet_tss_logs();
  if (rt_tpm_open(o->tcti, &e.tpm, &err) != RT_OK) {
    fail("TPM", err.msg);
    goto out;
  }
  if (have_previous && !o->renew && still_valid(&e, &previous)) {
    printf("identity \"%s\" is enrolled and valid until %s: nothing to do (--renew to "
           "enroll again)\n",
           o->name, previous.not_after);
    rc = 0;
    goto out;
  }
  if (rt_ek_open(e.tpm, o->ek, &e.ek, &err) != RT_OK) {
    fail("EK", err.msg);
    goto out;
  }
  if (rt_platform_cert_read(e.tpm, &e.platform_cert, &e.platform_cert_len, &err) != RT_OK ||
      rt_ak_create(e.tpm, &e.ek, RT_ALG_NONE, &e.ak, &err) != RT_OK) {
    fail("AK", err.msg);
    goto out;
  }
  if (rt_grpc_client_new(o->verifier, o->ca_file, 0, &e.client, &err) != RT_OK) {
    fail("verifier", err.msg);
    goto out;
  }
  if (do_begin(&e, deadline) != 0 || do_finish(&e, deadline) != 0)
    goto out;
  rc = keep_result(&e, have_previous ? &previous : NULL);
  /* Secrets are loaded under the EK one at a time: the AK and the key's
   * transient copy go first (a TPM without a resource manager has three
   * object slots). */
  rt_idkey_close(e.tpm, &e.key);
  rt_ak_close(e.tpm, &e.ak);
  if (rc == 0)
    rc = do_secrets(&e, deadline);
out:
  /* Whatever happened, nothing we loaded stays in the TPM. */
  rt_idkey_close(e.tpm, &e.key);
  rt_ak_close(e.tpm, &e.ak);
  if (e.tpm != NULL)
    rt_ek_close(e.tpm, &e.ek);
  rt_tpm_close(e.tpm);
  rt_grpc_client_free(e.client);
  if (e.challenge != NULL)
    protobuf_c_message_free_unpacked(&e.challenge->base, NULL);
  if (e.result != NULL)
    protobuf_c_message_free_unpacked(&e.result->base, NULL);
  free(e.platform_cert);
  rt_state_free(e.state);
  return rc;
}
