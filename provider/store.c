/* store for the `rattest:` scheme.
 *
 *   rattest:NAME                the identity NAME of the bootstrap's state
 *                               file: its key (the persistent handle), then
 *                               its certificate, then the issuing chain;
 *   rattest:handle:0x81000100   a persistent key, nothing else.
 *
 * So `-key rattest:NAME -cert rattest:NAME` both work: OpenSSL takes the
 * first object of the kind it expects. The certificate is checked against
 * the TPM key before anything is handed out: a state entry whose files were
 * mixed up is an error, not a handshake failure later. */
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/pem.h>
#include <openssl/store.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"
#include "rt_pcrsel.h"
#include "rt_state.h"

static OSSL_FUNC_store_open_fn store_open;
static OSSL_FUNC_store_settable_ctx_params_fn store_settable_ctx_params;
static OSSL_FUNC_store_set_ctx_params_fn store_set_ctx_params;
static OSSL_FUNC_store_load_fn store_load;
static OSSL_FUNC_store_eof_fn store_eof;
static OSSL_FUNC_store_close_fn store_close;

#define RT_SCHEME "rattest:"
#define RT_MAX_CERTS 16

typedef struct {
  rt_provctx *ctx;
  char name[RT_STATE_NAME_MAX + 1]; /* "" for a handle URI */
  uint32_t handle;
  int expect;
  int prepared, failed;
  rt_key *key;
  unsigned char *der[RT_MAX_CERTS];
  long der_len[RT_MAX_CERTS];
  int ncerts;
  int next; /* 0: key, 1..ncerts: certificates, then end */
} rt_store;

static void *store_open(void *provctx, const char *uri) {
  rt_provctx *ctx = provctx;
  if (strncmp(uri, RT_SCHEME, strlen(RT_SCHEME)) != 0)
    return NULL;
  const char *rest = uri + strlen(RT_SCHEME);
  rt_store *s = OPENSSL_zalloc(sizeof *s);
  if (s == NULL)
    return NULL;
  s->ctx = ctx;
  rt_err err;
  if (strncmp(rest, "handle:", 7) == 0) {
    char *end = NULL;
    unsigned long h = strtoul(rest + 7, &end, 16);
    if (rest[7] == '\0' || *end != '\0' || h < 0x81000000ul || h > 0x81fffffful) {
      rt_err_set(&err, RT_E_INVALID, "%s: not a persistent handle (0x81000000-0x81ffffff)", uri);
      rt_prov_raise(ctx, &err);
      OPENSSL_free(s);
      return NULL;
    }
    s->handle = (uint32_t)h;
  } else if (rt_name_check(rest, &err) != RT_OK) {
    rt_err_prefix(&err, "%s: ", uri);
    rt_prov_raise(ctx, &err);
    OPENSSL_free(s);
    return NULL;
  } else {
    snprintf(s->name, sizeof s->name, "%s", rest);
  }
  return s;
}

static const OSSL_PARAM *store_settable_ctx_params(void *provctx) {
  (void)provctx;
  static const OSSL_PARAM t[] = {OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL), OSSL_PARAM_END};
  return t;
}

static int store_set_ctx_params(void *vs, const OSSL_PARAM params[]) {
  rt_store *s = vs;
  const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);
  if (p != NULL && !OSSL_PARAM_get_int(p, &s->expect))
    return 0;
  return 1;
}

/* Reads every CERTIFICATE block of a PEM file as DER. */
static rt_code read_certs(rt_store *s, const char *path, int required, rt_err *err) {
  BIO *bio = BIO_new_file(path, "rb");
  if (bio == NULL)
    return rt_err_set(err, RT_E_NOT_FOUND, "cannot read %s", path);
  int before = s->ncerts;
  char *name = NULL, *header = NULL;
  unsigned char *data = NULL;
  long len = 0;
  while (PEM_read_bio(bio, &name, &header, &data, &len) > 0) {
    if (strcmp(name, PEM_STRING_X509) == 0 && s->ncerts < RT_MAX_CERTS) {
      s->der[s->ncerts] = data;
      s->der_len[s->ncerts++] = len;
      data = NULL;
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    name = header = NULL;
    data = NULL;
  }
  BIO_free(bio);
  if (required && s->ncerts == before)
    return rt_err_set(err, RT_E_INVALID, "%s holds no certificate", path);
  return RT_OK;
}

static rt_code check_cert(rt_store *s, rt_err *err) {
  const unsigned char *p = s->der[0];
  X509 *x = X509_new_ex(s->ctx->libctx, RT_PROPQ_OTHERS);
  EVP_PKEY *soft = rt_key_soft(s->key, err);
  if (x == NULL || soft == NULL || d2i_X509(&x, &p, s->der_len[0]) == NULL) {
    X509_free(x);
    return rt_err_set(err, RT_E_INVALID, "certificate of identity %s does not parse", s->name);
  }
  EVP_PKEY *ck = X509_get0_pubkey(x);
  int eq = ck != NULL && EVP_PKEY_eq(ck, soft) == 1;
  X509_free(x);
  if (!eq)
    return rt_err_set(err, RT_E_INVALID,
                      "identity %s: the certificate does not match the TPM key (handle 0x%08x)",
                      s->name, s->handle);
  return RT_OK;
}

/* The PCR selection the state records for the delivered rsa-key at
 * handle (count 0: none): the selection a persistent PCR-bound key signs
 * with. A key rattest did not receive has no entry. */
typedef struct {
  uint32_t handle;
  TPML_PCR_SELECTION *sel;
  rt_err *err;
  rt_code code;
} pcrs_of;

static int find_pcrs(const rt_secret_entry *e, void *arg) {
  pcrs_of *p = arg;
  if (e->type != RT_SECRET_TYPE_RSA_KEY || e->handle != p->handle || e->pcrs[0] == '\0')
    return 0;
  p->code = rt_pcrsel_parse(e->pcrs, p->sel, p->err);
  if (p->code != RT_OK)
    rt_err_prefix(p->err, "secrets.%s.pcrs: ", e->name);
  return 1;
}

static rt_code recorded_pcrs(const rt_state *st, uint32_t handle, TPML_PCR_SELECTION *sel,
                             rt_err *err) {
  pcrs_of p = {.handle = handle, .sel = sel, .err = err, .code = RT_OK};
  memset(sel, 0, sizeof *sel);
  rt_code rc = rt_state_secret_foreach(st, find_pcrs, &p, err);
  return rc != RT_OK ? rc : p.code;
}

static rt_code prepare(rt_store *s, rt_err *err) {
  rt_state *st = NULL;
  rt_identity id;
  TPML_PCR_SELECTION sel = {.count = 0};
  const char *dir = rt_prov_state_dir(s->ctx);
  rt_code rc = rt_state_load(dir, &st, err);
  if (s->name[0] == '\0') {
    /* A handle needs no state file; one that loads gives the selection of
     * a PCR-bound key persistent there. */
    rc = rc == RT_OK ? recorded_pcrs(st, s->handle, &sel, err) : RT_OK;
    rt_state_free(st);
    if (rc != RT_OK)
      return rt_err_prefix(err, "state directory %s: ", dir);
    return rt_key_from_handle(s->ctx, s->handle, &sel, &s->key, err);
  }
  if (rc != RT_OK)
    return rt_err_prefix(err, "state directory %s: ", dir);
  rc = rt_state_get(st, s->name, &id, err);
  if (rc == RT_OK)
    rc = recorded_pcrs(st, id.handle, &sel, err);
  rt_state_free(st);
  if (rc == RT_E_NOT_FOUND)
    return rt_err_set(err, RT_E_NOT_FOUND, "rattest:%s: no identity of that name in %s/%s", s->name,
                      dir, RT_STATE_FILE);
  if (rc != RT_OK)
    return rt_err_prefix(err, "rattest:%s: state: ", s->name);
  s->handle = id.handle;
  rc = read_certs(s, id.cert_file, 1, err);
  if (rc == RT_OK)
    rc = read_certs(s, id.chain_file, 0, err);
  if (rc != RT_OK)
    return rt_err_prefix(err, "rattest:%s: ", s->name);
  rc = rt_key_from_handle(s->ctx, id.handle, &sel, &s->key, err);
  if (rc != RT_OK)
    return rt_err_prefix(err, "rattest:%s: ", s->name);
  return check_cert(s, err);
}

static int store_load(void *vs, OSSL_CALLBACK *object_cb, void *object_cbarg,
                      OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg) {
  rt_store *s = vs;
  (void)pw_cb;
  (void)pw_cbarg;
  if (!s->prepared) {
    rt_err err;
    s->prepared = 1;
    if (prepare(s, &err) != RT_OK) {
      rt_prov_raise(s->ctx, &err);
      s->failed = 1;
      return 0;
    }
  }
  if (s->failed)
    return 0;
  while (s->next <= s->ncerts) {
    int i = s->next++;
    if (i == 0) {
      if (s->expect != 0 && s->expect != OSSL_STORE_INFO_PKEY)
        continue;
      int type = OSSL_OBJECT_PKEY;
      const char *dtype = s->key->type == EVP_PKEY_RSA ? "RSA" : "EC";
      rt_key *key = s->key; /* our keymgmt moves it out, leaving a shell */
      OSSL_PARAM params[] = {
          OSSL_PARAM_int(OSSL_OBJECT_PARAM_TYPE, &type),
          OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE, (char *)dtype, 0),
          OSSL_PARAM_octet_string(OSSL_OBJECT_PARAM_REFERENCE, &key, sizeof key), OSSL_PARAM_END};
      return object_cb(params, object_cbarg);
    }
    if (s->expect != 0 && s->expect != OSSL_STORE_INFO_CERT)
      continue;
    int type = OSSL_OBJECT_CERT;
    OSSL_PARAM params[] = {
        OSSL_PARAM_int(OSSL_OBJECT_PARAM_TYPE, &type),
        OSSL_PARAM_octet_string(OSSL_OBJECT_PARAM_DATA, s->der[i - 1], (size_t)s->der_len[i - 1]),
        OSSL_PARAM_END};
    return object_cb(params, object_cbarg);
  }
  return 1;
}

static int store_eof(void *vs) {
  rt_store *s = vs;
  if (s->failed)
    return 1;
  if (!s->prepared)
    return 0;
  /* Skip what will not be handed out, so OpenSSL stops asking. */
  return s->next > s->ncerts || (s->expect == OSSL_STORE_INFO_PKEY && s->next > 0);
}

static int store_close(void *vs) {
  rt_store *s = vs;
  rt_key_free(s->key);
  for (int i = 0; i < s->ncerts; i++)
    OPENSSL_free(s->der[i]);
  OPENSSL_free(s);
  return 1;
}

const OSSL_DISPATCH rt_store_functions[] = {
    {OSSL_FUNC_STORE_OPEN, (void (*)(void))store_open},
    {OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS, (void (*)(void))store_settable_ctx_params},
    {OSSL_FUNC_STORE_SET_CTX_PARAMS, (void (*)(void))store_set_ctx_params},
    {OSSL_FUNC_STORE_LOAD, (void (*)(void))store_load},
    {OSSL_FUNC_STORE_EOF, (void (*)(void))store_eof},
    {OSSL_FUNC_STORE_CLOSE, (void (*)(void))store_close},
    {0, NULL}};
