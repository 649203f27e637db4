#include <openssl/crypto.h>
#include <stdlib.h>

#include "provider.h"

rt_provctx *rt_provctx_new(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in) {
  rt_provctx *ctx = calloc(1, sizeof *ctx);
  if (ctx == NULL)
    return NULL;
  ctx->handle = handle;
  /* A child library context follows the providers loaded in the parent, so
   * digests computed here use whatever the application configured. */
  ctx->libctx = OSSL_LIB_CTX_new_child(handle, in);
  if (ctx->libctx == NULL) {
    free(ctx);
    return NULL;
  }
  return ctx;
}

void rt_provctx_free(rt_provctx *ctx) {
  if (ctx == NULL)
    return;
  OSSL_LIB_CTX_free(ctx->libctx);
  free(ctx);
}
