/* Provider context shared by every operation of the rattest provider. */
#ifndef RT_PROVIDER_H
#define RT_PROVIDER_H

#include <openssl/core.h>

typedef struct rt_provctx {
  const OSSL_CORE_HANDLE *handle;
  /* Library context of the core, for the software operations (digests) the
   * operations delegate to other providers. */
  OSSL_LIB_CTX *libctx;
} rt_provctx;

rt_provctx *rt_provctx_new(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in);
void rt_provctx_free(rt_provctx *ctx);

#endif
