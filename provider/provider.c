/* Entry point of the `rattest` OpenSSL 3 provider: TPM-bound keys through
 * store (rattest:), decoder (TSS2 PRIVATE KEY), keymgmt, signature and
 * encoder, one file each. Nothing else: hashing, verification of peers,
 * key exchange and randomness stay with the other providers. */
#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/prov_ssl.h>
#include <stdlib.h>

#include "provider.h"

static OSSL_FUNC_provider_teardown_fn rattest_teardown;
static OSSL_FUNC_provider_gettable_params_fn rattest_gettable_params;
static OSSL_FUNC_provider_get_params_fn rattest_get_params;
static OSSL_FUNC_provider_query_operation_fn rattest_query_operation;
static OSSL_FUNC_provider_get_capabilities_fn rattest_get_capabilities;
static OSSL_FUNC_provider_get_reason_strings_fn rattest_get_reason_strings;

static const OSSL_PARAM *rattest_gettable_params(void *provctx) {
  (void)provctx;
  static const OSSL_PARAM params[] = {
      OSSL_PARAM_DEFN(OSSL_PROV_PARAM_NAME, OSSL_PARAM_UTF8_PTR, NULL, 0),
      OSSL_PARAM_DEFN(OSSL_PROV_PARAM_VERSION, OSSL_PARAM_UTF8_PTR, NULL, 0),
      OSSL_PARAM_DEFN(OSSL_PROV_PARAM_BUILDINFO, OSSL_PARAM_UTF8_PTR, NULL, 0),
      OSSL_PARAM_DEFN(OSSL_PROV_PARAM_STATUS, OSSL_PARAM_INTEGER, NULL, 0), OSSL_PARAM_END};
  return params;
}

static int rattest_get_params(void *provctx, OSSL_PARAM params[]) {
  (void)provctx;
  OSSL_PARAM *p;
  p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
  if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "rattest TPM 2.0 key provider"))
    return 0;
  p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
  if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, RATTEST_VERSION))
    return 0;
  p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO);
  if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "rattest " RATTEST_VERSION))
    return 0;
  p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
  if (p != NULL && !OSSL_PARAM_set_int(p, 1))
    return 0;
  return 1;
}

#define RT_PROPS "provider=rattest"

static const OSSL_ALGORITHM rt_keymgmt[] = {
    {"EC:id-ecPublicKey:1.2.840.10045.2.1", RT_PROPS, rt_keymgmt_ec_functions, "TPM-bound EC key"},
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", RT_PROPS, rt_keymgmt_rsa_functions,
     "TPM-bound RSA key"},
    {NULL, NULL, NULL, NULL}};

static const OSSL_ALGORITHM rt_signature[] = {
    {"ECDSA", RT_PROPS, rt_signature_ecdsa_functions, "ECDSA in the TPM"},
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", RT_PROPS, rt_signature_rsa_functions,
     "RSA PKCS#1 v1.5 and PSS in the TPM"},
    {NULL, NULL, NULL, NULL}};

static const OSSL_ALGORITHM rt_store[] = {
    {"rattest", RT_PROPS, rt_store_functions, "rattest:NAME and rattest:handle:0x81..."},
    {NULL, NULL, NULL, NULL}};

static const OSSL_ALGORITHM rt_decoder[] = {
    {"DER", RT_PROPS ",input=pem", rt_decoder_pem_functions, "TSS2 PRIVATE KEY PEM to DER"},
    {"DER", RT_PROPS ",input=der", rt_decoder_der_functions, "TSS2 PRIVATE KEY DER, tagged"},
    {"EC", RT_PROPS ",input=der,structure=" RT_STRUCTURE_TSS2, rt_decoder_loaded_ec_functions,
     "TSS2 PRIVATE KEY loaded in the TPM (EC)"},
    {"RSA", RT_PROPS ",input=der,structure=" RT_STRUCTURE_TSS2, rt_decoder_loaded_rsa_functions,
     "TSS2 PRIVATE KEY loaded in the TPM (RSA)"},
    {NULL, NULL, NULL, NULL}};

static const OSSL_ALGORITHM rt_encoder[] = {
    {"EC", RT_PROPS ",output=der,structure=SubjectPublicKeyInfo", rt_encoder_spki_der_functions,
     NULL},
    {"EC", RT_PROPS ",output=pem,structure=SubjectPublicKeyInfo", rt_encoder_spki_pem_functions,
     NULL},
    {"RSA", RT_PROPS ",output=der,structure=SubjectPublicKeyInfo", rt_encoder_spki_der_functions,
     NULL},
    {"RSA", RT_PROPS ",output=pem,structure=SubjectPublicKeyInfo", rt_encoder_spki_pem_functions,
     NULL},
    {NULL, NULL, NULL, NULL}};

static const OSSL_ALGORITHM *rattest_query_operation(void *provctx, int operation_id,
                                                     int *no_store) {
  (void)provctx;
  *no_store = 0;
  switch (operation_id) {
  case OSSL_OP_KEYMGMT:
    return rt_keymgmt;
  case OSSL_OP_SIGNATURE:
    return rt_signature;
  case OSSL_OP_STORE:
    return rt_store;
  case OSSL_OP_DECODER:
    return rt_decoder;
  case OSSL_OP_ENCODER:
    return rt_encoder;
  default:
    return NULL;
  }
}

/* TLS groups. libssl uses a group only when the "EC" keymgmt it fetches
 * comes from the provider that declared the group; with rattest loaded
 * first that fetch finds ours (it generates ECDHE shares through another
 * provider, see keymgmt.c), so we declare the NIST groups too. */
typedef struct {
  const char *name, *internal;
  unsigned int id, secbits;
} rt_group;

static const rt_group rt_groups[] = {
    {"secp256r1", "prime256v1", 23, 128}, {"P-256", "prime256v1", 23, 128},
    {"secp384r1", "secp384r1", 24, 192},  {"P-384", "secp384r1", 24, 192},
    {"secp521r1", "secp521r1", 25, 256},  {"P-521", "secp521r1", 25, 256}};

static int rattest_get_capabilities(void *provctx, const char *capability, OSSL_CALLBACK *cb,
                                    void *arg) {
  (void)provctx;
  if (OPENSSL_strcasecmp(capability, "TLS-GROUP") != 0)
    return 0;
  for (size_t i = 0; i < sizeof rt_groups / sizeof rt_groups[0]; i++) {
    unsigned int id = rt_groups[i].id, bits = rt_groups[i].secbits;
    int min_tls = TLS1_VERSION, max_tls = 0, min_dtls = DTLS1_VERSION, max_dtls = 0;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_CAPABILITY_TLS_GROUP_NAME,
                                                            (char *)rt_groups[i].name, 0),
                           OSSL_PARAM_construct_utf8_string(OSSL_CAPABILITY_TLS_GROUP_NAME_INTERNAL,
                                                            (char *)rt_groups[i].internal, 0),
                           OSSL_PARAM_construct_utf8_string(OSSL_CAPABILITY_TLS_GROUP_ALG, "EC", 0),
                           OSSL_PARAM_uint(OSSL_CAPABILITY_TLS_GROUP_ID, &id),
                           OSSL_PARAM_uint(OSSL_CAPABILITY_TLS_GROUP_SECURITY_BITS, &bits),
                           OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MIN_TLS, &min_tls),
                           OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MAX_TLS, &max_tls),
                           OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MIN_DTLS, &min_dtls),
                           OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MAX_DTLS, &max_dtls),
                           OSSL_PARAM_END};
    if (!cb(params, arg))
      return 0;
  }
  return 1;
}

/* What OpenSSL prints for the reasons rt_prov_raise raises: each rt_code's
 * name, rt_err.h's codes being RT_E_INVALID to RT_E_INTERNAL. The core
 * keeps the pointers, so the table is filled once and never changes. */
static OSSL_ITEM reason_strings[RT_E_INTERNAL - RT_E_INVALID + 2]; /* + the {0, NULL} end */
static pthread_once_t reason_strings_once = PTHREAD_ONCE_INIT;

static void fill_reason_strings(void) {
  for (rt_code c = RT_E_INVALID; c <= RT_E_INTERNAL; c++)
    reason_strings[c - RT_E_INVALID] =
        (OSSL_ITEM){(unsigned)RT_PROV_REASON(c), (void *)rt_code_name(c)};
}

static const OSSL_ITEM *rattest_get_reason_strings(void *provctx) {
  (void)provctx;
  pthread_once(&reason_strings_once, fill_reason_strings);
  return reason_strings;
}

static void rattest_teardown(void *provctx) {
  rt_provctx_free(provctx);
}

static const OSSL_DISPATCH rattest_dispatch[] = {
    {OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))rattest_teardown},
    {OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))rattest_gettable_params},
    {OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))rattest_get_params},
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))rattest_query_operation},
    {OSSL_FUNC_PROVIDER_GET_CAPABILITIES, (void (*)(void))rattest_get_capabilities},
    {OSSL_FUNC_PROVIDER_GET_REASON_STRINGS, (void (*)(void))rattest_get_reason_strings},
    {0, NULL}};

/* The only symbol the module exports (everything else is hidden). */
__attribute__((visibility("default"))) int OSSL_provider_init(const OSSL_CORE_HANDLE *handle,
                                                              const OSSL_DISPATCH *in,
                                                              const OSSL_DISPATCH **out,
                                                              void **provctx) {
  *provctx = rt_provctx_new(handle, in);
  if (*provctx == NULL)
    return 0;
  *out = rattest_dispatch;
  return 1;
}
