/* Entry point of the `rattest` OpenSSL 3 provider. The key operations (store,
 * decoder, keymgmt, signature, encoder) come in their own files; until they
 * exist the provider loads, reports its identity and offers no algorithms,
 * so OpenSSL keeps using the default provider for everything. */
#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <stdlib.h>

#include "provider.h"

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

static const OSSL_ALGORITHM *rattest_query_operation(void *provctx, int operation_id,
                                                     int *no_store) {
  (void)provctx;
  (void)operation_id;
  *no_store = 0;
  return NULL;
}

static void rattest_teardown(void *provctx) {
  rt_provctx_free(provctx);
}

static const OSSL_DISPATCH rattest_dispatch[] = {
    {OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))rattest_teardown},
    {OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))rattest_gettable_params},
    {OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))rattest_get_params},
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))rattest_query_operation},
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
