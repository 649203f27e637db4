/* keymgmt for EC (P-256, P-384) and RSA (2048, 3072) keys held by the TPM.
 *
 * Only public parts of TPM keys ever leave: export refuses any selection
 * with the private key, which is what makes libcrypto keep signing operations in
 * this provider (it tries to move the key to the signature provider it
 * fetched first and, when that fails, falls back to the key's own).
 * Keys of other providers (imported, generated) are "soft" keys kept in
 * another provider and fully delegated to it (see provider.h). */
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/obj_mac.h>
#include <openssl/params.h>

#include "provider.h"

static OSSL_FUNC_keymgmt_new_fn km_new_ec, km_new_rsa;
static OSSL_FUNC_keymgmt_free_fn km_free;
static OSSL_FUNC_keymgmt_load_fn km_load;
static OSSL_FUNC_keymgmt_has_fn km_has;
static OSSL_FUNC_keymgmt_match_fn km_match;
static OSSL_FUNC_keymgmt_get_params_fn km_get_params;
static OSSL_FUNC_keymgmt_gettable_params_fn km_gettable_ec, km_gettable_rsa;
static OSSL_FUNC_keymgmt_export_fn km_export;
static OSSL_FUNC_keymgmt_import_fn km_import;
static OSSL_FUNC_keymgmt_set_params_fn km_set_params;
static OSSL_FUNC_keymgmt_settable_params_fn km_settable_ec, km_settable_rsa;
static OSSL_FUNC_keymgmt_gen_init_fn km_gen_init_ec, km_gen_init_rsa;
static OSSL_FUNC_keymgmt_gen_set_params_fn km_gen_set_params;
static OSSL_FUNC_keymgmt_gen_settable_params_fn km_gen_settable_params;
static OSSL_FUNC_keymgmt_gen_set_template_fn km_gen_set_template;
static OSSL_FUNC_keymgmt_gen_fn km_gen;
static OSSL_FUNC_keymgmt_gen_cleanup_fn km_gen_cleanup;
static OSSL_FUNC_keymgmt_import_types_fn km_types_ec, km_types_rsa;
static OSSL_FUNC_keymgmt_export_types_fn km_types_ec, km_types_rsa;
static OSSL_FUNC_keymgmt_query_operation_name_fn km_opname_ec, km_opname_rsa;

static void *km_new_type(void *provctx, int type) {
  rt_key *key = rt_key_new(provctx);
  if (key != NULL)
    key->type = type;
  return key;
}

static void *km_new_ec(void *provctx) {
  return km_new_type(provctx, EVP_PKEY_EC);
}

static void *km_new_rsa(void *provctx) {
  return km_new_type(provctx, EVP_PKEY_RSA);
}

static const char *type_name(const rt_key *key) {
  return key->type == EVP_PKEY_RSA ? "RSA" : "EC";
}

static void km_free(void *keydata) {
  rt_key_free(keydata);
}

/* The store and decoder hand us an object they created, by address. We move
 * its contents into a new object and leave them an empty shell to free, so
 * ownership is clear whether or not OpenSSL calls us. */
static void *km_load(const void *reference, size_t reference_sz) {
  if (reference == NULL || reference_sz != sizeof(rt_key *))
    return NULL;
  rt_key *obj = *(rt_key *const *)reference;
  if (obj == NULL || obj->magic != RT_KEY_MAGIC)
    return NULL;
  rt_key *key = rt_key_new(obj->ctx);
  if (key != NULL)
    rt_key_move(key, obj);
  return key;
}

static int km_has(const void *keydata, int selection) {
  const rt_key *key = keydata;
  if (key == NULL || key->type == 0)
    return 0;
  if (key->is_soft) {
    BIGNUM *bn = NULL;
    int ok = key->soft != NULL;
    if (ok && (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY))
      ok = EVP_PKEY_get_bn_param(
          key->soft, key->type == EVP_PKEY_RSA ? OSSL_PKEY_PARAM_RSA_D : OSSL_PKEY_PARAM_PRIV_KEY,
          &bn);
    BN_clear_free(bn);
    return ok;
  }
  if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) && !key->tpm_resident)
    return 0;
  return 1;
}

static int km_match(const void *a, const void *b, int selection) {
  rt_key *k1 = (rt_key *)a, *k2 = (rt_key *)b;
  rt_err err;
  if (k1->type != k2->type)
    return 0;
  EVP_PKEY *p1 = rt_key_soft(k1, &err), *p2 = rt_key_soft(k2, &err);
  if (p1 == NULL || p2 == NULL)
    return 0;
  if (selection & OSSL_KEYMGMT_SELECT_KEYPAIR)
    return EVP_PKEY_eq(p1, p2) == 1;
  return EVP_PKEY_parameters_eq(p1, p2) == 1;
}

/* What the TPM key answers itself: sizes and the digest it signs with by
 * default (SHA-384 for P-384, where OpenSSL's EC keys say SHA-256). */
static int key_info_params(const rt_key *key, OSSL_PARAM params[]) {
  OSSL_PARAM *p;
  if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_BITS)) != NULL &&
      !OSSL_PARAM_set_int(p, rt_key_bits(key)))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_SECURITY_BITS)) != NULL &&
      !OSSL_PARAM_set_int(p, rt_key_security_bits(key)))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_MAX_SIZE)) != NULL &&
      !OSSL_PARAM_set_int(p, rt_key_max_size(key)))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_DEFAULT_DIGEST)) != NULL &&
      !OSSL_PARAM_set_utf8_string(p, rt_key_curve_nid(key) == NID_secp384r1 ? "SHA384" : "SHA256"))
    return 0;
  return 1;
}

/* The key material (group, point, modulus, exponent) comes from the
 * software copy of the public key, the one conversion of the TPM public
 * area (rt_key_soft); sizes and the default digest from the key itself. */
static int km_get_params(void *keydata, OSSL_PARAM params[]) {
  rt_key *key = keydata;
  if (key->is_soft)
    return key->soft != NULL && EVP_PKEY_get_params(key->soft, params);
  rt_err err;
  EVP_PKEY *soft = rt_key_soft(key, &err);
  if (soft == NULL) {
    rt_prov_raise(key->ctx, &err);
    return 0;
  }
  return EVP_PKEY_get_params(soft, params) && key_info_params(key, params);
}

static const OSSL_PARAM *km_gettable_ec(void *provctx) {
  (void)provctx;
  static const OSSL_PARAM t[] = {
      OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
      OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
      OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
      OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
      OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
      OSSL_PARAM_END};
  return t;
}

static const OSSL_PARAM *km_gettable_rsa(void *provctx) {
  (void)provctx;
  static const OSSL_PARAM t[] = {OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
                                 OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
                                 OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
                                 OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
                                 OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
                                 OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
                                 OSSL_PARAM_END};
  return t;
}

static int km_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg) {
  rt_key *key = keydata;
  if (key != NULL && key->is_soft)
    return key->soft != NULL && EVP_PKEY_export(key->soft, selection, cb, cbarg);
  if (key == NULL || (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY))
    return 0; /* the private key stays in the TPM */
  rt_err err;
  EVP_PKEY *soft = rt_key_soft(key, &err);
  if (soft == NULL) {
    rt_prov_raise(key->ctx, &err);
    return 0;
  }
  /* OpenSSL's EC keymgmt exports (and imports) a public key only with its
   * domain parameters, and the group always went with our point. */
  if (key->type == EVP_PKEY_EC)
    selection |= OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS;
  return EVP_PKEY_export(soft, selection, cb, cbarg);
}

static int km_import(void *keydata, int selection, const OSSL_PARAM params[]) {
  rt_key *key = keydata;
  const OSSL_PARAM *ref = OSSL_PARAM_locate_const(params, RT_PARAM_KEY_REF);
  if (ref != NULL) {
    /* Our own decoder's object, exported through OpenSSL's file store:
     * move it into keydata (see decoder.c). */
    rt_key *obj = ref->data_size == sizeof(rt_key *) ? *(rt_key *const *)ref->data : NULL;
    if (obj == NULL || obj->magic != RT_KEY_MAGIC || obj->ctx != key->ctx || obj->type == 0)
      return 0;
    rt_key_move(key, obj);
    return 1;
  }
  /* Anything else is another provider's key (a certificate's, a peer's
   * key share): kept in software, in another provider. */
  EVP_PKEY_CTX *pctx =
      EVP_PKEY_CTX_new_from_name(key->ctx->libctx, type_name(key), RT_PROPQ_OTHERS);
  EVP_PKEY *pk = NULL;
  int ok = pctx != NULL && EVP_PKEY_fromdata_init(pctx) > 0 &&
           EVP_PKEY_fromdata(pctx, &pk, selection, (OSSL_PARAM *)params) > 0;
  EVP_PKEY_CTX_free(pctx);
  if (!ok)
    return 0;
  EVP_PKEY_free(key->soft);
  key->soft = pk;
  key->is_soft = 1;
  key->tpm_resident = 0;
  return 1;
}

static int km_set_params(void *keydata, const OSSL_PARAM params[]) {
  rt_key *key = keydata;
  if (key->is_soft)
    return key->soft != NULL && EVP_PKEY_set_params(key->soft, (OSSL_PARAM *)params);
  return params == NULL || params[0].key == NULL; /* a TPM key does not change */
}

static const OSSL_PARAM *km_settable_ec(void *provctx) {
  (void)provctx;
  static const OSSL_PARAM t[] = {
      OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0), OSSL_PARAM_END};
  return t;
}

static const OSSL_PARAM *km_settable_rsa(void *provctx) {
  (void)provctx;
  static const OSSL_PARAM t[] = {OSSL_PARAM_END};
  return t;
}

/* Key generation (ECDHE shares when OpenSSL fetched our "EC" keymgmt):
 * done by another provider, the result kept as a soft key. */
typedef struct {
  rt_provctx *ctx;
  int type;
  EVP_PKEY_CTX *pctx;
} rt_gen;

static void *km_gen_init(rt_provctx *ctx, int type, int selection, const OSSL_PARAM params[]) {
  rt_gen *g = OPENSSL_zalloc(sizeof *g);
  if (g == NULL)
    return NULL;
  g->ctx = ctx;
  g->type = type;
  g->pctx =
      EVP_PKEY_CTX_new_from_name(ctx->libctx, type == EVP_PKEY_RSA ? "RSA" : "EC", RT_PROPQ_OTHERS);
  int ok = g->pctx != NULL;
  if (ok)
    ok = (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) ? EVP_PKEY_keygen_init(g->pctx) > 0
                                                   : EVP_PKEY_paramgen_init(g->pctx) > 0;
  if (ok && params != NULL)
    ok = EVP_PKEY_CTX_set_params(g->pctx, params) > 0;
  if (!ok) {
    EVP_PKEY_CTX_free(g->pctx);
    OPENSSL_free(g);
    return NULL;
  }
  return g;
}

static void *km_gen_init_ec(void *provctx, int selection, const OSSL_PARAM params[]) {
  return km_gen_init(provctx, EVP_PKEY_EC, selection, params);
}

static void *km_gen_init_rsa(void *provctx, int selection, const OSSL_PARAM params[]) {
  return km_gen_init(provctx, EVP_PKEY_RSA, selection, params);
}

static int km_gen_set_params(void *genctx, const OSSL_PARAM params[]) {
  rt_gen *g = genctx;
  return EVP_PKEY_CTX_set_params(g->pctx, params) > 0;
}

static const OSSL_PARAM *km_gen_settable_params(void *genctx, void *provctx) {
  rt_gen *g = genctx;
  (void)provctx;
  return g != NULL ? EVP_PKEY_CTX_settable_params(g->pctx) : NULL;
}

static int km_gen_set_template(void *genctx, void *templ) {
  rt_gen *g = genctx;
  rt_key *t = templ;
  if (g->type != EVP_PKEY_EC || t == NULL)
    return 1;
  char group[64];
  rt_err err;
  EVP_PKEY *soft = rt_key_soft(t, &err);
  if (soft == NULL ||
      !EVP_PKEY_get_utf8_string_param(soft, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL))
    return 0;
  return EVP_PKEY_CTX_set_group_name(g->pctx, group) > 0;
}

static void *km_gen(void *genctx, OSSL_CALLBACK *cb, void *cbarg) {
  rt_gen *g = genctx;
  (void)cb;
  (void)cbarg;
  EVP_PKEY *pk = NULL;
  if (EVP_PKEY_generate(g->pctx, &pk) <= 0)
    return NULL;
  rt_key *key = km_new_type(g->ctx, g->type);
  if (key == NULL) {
    EVP_PKEY_free(pk);
    return NULL;
  }
  key->soft = pk;
  key->is_soft = 1;
  return key;
}

static void km_gen_cleanup(void *genctx) {
  rt_gen *g = genctx;
  if (g == NULL)
    return;
  EVP_PKEY_CTX_free(g->pctx);
  OPENSSL_free(g);
}

static const OSSL_PARAM *km_types_ec(int selection) {
  (void)selection;
  static const OSSL_PARAM t[] = {OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
                                 OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
                                 OSSL_PARAM_BN(OSSL_PKEY_PARAM_PRIV_KEY, NULL, 0), OSSL_PARAM_END};
  return t;
}

static const OSSL_PARAM *km_types_rsa(int selection) {
  (void)selection;
  static const OSSL_PARAM t[] = {OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
                                 OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
                                 OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_D, NULL, 0), OSSL_PARAM_END};
  return t;
}

static const char *km_opname_ec(int operation_id) {
  return operation_id == OSSL_OP_SIGNATURE ? "ECDSA" : NULL;
}

static const char *km_opname_rsa(int operation_id) {
  return operation_id == OSSL_OP_SIGNATURE ? "RSA" : NULL;
}

#define RT_KEYMGMT_COMMON                                                                          \
  {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))km_free},                                               \
      {OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))km_load},                                           \
      {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))km_has},                                             \
      {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))km_match},                                         \
      {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))km_get_params},                               \
      {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))km_export},                                       \
      {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))km_import},                                       \
      {OSSL_FUNC_KEYMGMT_SET_PARAMS, (void (*)(void))km_set_params},                               \
      {OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, (void (*)(void))km_gen_set_params},                       \
      {OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS, (void (*)(void))km_gen_settable_params},             \
      {OSSL_FUNC_KEYMGMT_GEN_SET_TEMPLATE, (void (*)(void))km_gen_set_template},                   \
      {OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))km_gen}, {                                           \
    OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))km_gen_cleanup                                  \
  }

const OSSL_DISPATCH rt_keymgmt_ec_functions[] = {
    RT_KEYMGMT_COMMON,
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))km_new_ec},
    {OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))km_gen_init_ec},
    {OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, (void (*)(void))km_settable_ec},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))km_gettable_ec},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))km_types_ec},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))km_types_ec},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))km_opname_ec},
    {0, NULL}};

const OSSL_DISPATCH rt_keymgmt_rsa_functions[] = {
    RT_KEYMGMT_COMMON,
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))km_new_rsa},
    {OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))km_gen_init_rsa},
    {OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, (void (*)(void))km_settable_rsa},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))km_gettable_rsa},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))km_types_rsa},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))km_types_rsa},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))km_opname_rsa},
    {0, NULL}};
