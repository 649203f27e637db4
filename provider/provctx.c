#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "provider.h"

/* Reads one string parameter of our section in openssl.cnf into out. */
static void read_core_param(const OSSL_CORE_HANDLE *handle, OSSL_FUNC_core_get_params_fn *get,
                            const char *name, char *out, size_t out_len) {
  char *value = NULL;
  OSSL_PARAM params[] = {OSSL_PARAM_utf8_ptr(name, &value, 0), OSSL_PARAM_END};
  if (get == NULL || !get(handle, params) || value == NULL)
    return;
  snprintf(out, out_len, "%s", value);
}

rt_provctx *rt_provctx_new(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in) {
  rt_provctx *ctx = OPENSSL_zalloc(sizeof *ctx);
  if (ctx == NULL)
    return NULL;
  ctx->handle = handle;
  OSSL_FUNC_core_get_params_fn *get_params = NULL;
  for (const OSSL_DISPATCH *d = in; d->function_id != 0; d++) {
    switch (d->function_id) {
    case OSSL_FUNC_CORE_GET_PARAMS:
      get_params = OSSL_FUNC_core_get_params(d);
      break;
    case OSSL_FUNC_CORE_NEW_ERROR:
      ctx->core_new_error = OSSL_FUNC_core_new_error(d);
      break;
    case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
      ctx->core_set_error_debug = OSSL_FUNC_core_set_error_debug(d);
      break;
    case OSSL_FUNC_CORE_VSET_ERROR:
      ctx->core_vset_error = OSSL_FUNC_core_vset_error(d);
      break;
    default:
      break;
    }
  }
  read_core_param(handle, get_params, "tcti", ctx->tcti, sizeof ctx->tcti);
  read_core_param(handle, get_params, "state_dir", ctx->state_dir, sizeof ctx->state_dir);
  /* A child library context follows the providers loaded in the parent, so
   * digests computed here use whatever the application configured. */
  ctx->libctx = OSSL_LIB_CTX_new_child(handle, in);
  if (getrandom(ctx->tag, sizeof ctx->tag, 0) != (ssize_t)sizeof ctx->tag) {
    OSSL_LIB_CTX_free(ctx->libctx);
    OPENSSL_free(ctx);
    return NULL;
  }
  if (ctx->libctx == NULL || pthread_mutex_init(&ctx->soft_lock, NULL) != 0) {
    OSSL_LIB_CTX_free(ctx->libctx);
    OPENSSL_free(ctx);
    return NULL;
  }
  if (!rt_prov_conn_init(ctx)) {
    pthread_mutex_destroy(&ctx->soft_lock);
    OSSL_LIB_CTX_free(ctx->libctx);
    OPENSSL_free(ctx);
    return NULL;
  }
  return ctx;
}

void rt_provctx_free(rt_provctx *ctx) {
  if (ctx == NULL)
    return;
  rt_prov_conn_free(ctx);
  Esys_Free(ctx->srk_saved);
  pthread_mutex_destroy(&ctx->soft_lock);
  OSSL_LIB_CTX_free(ctx->libctx);
  OPENSSL_free(ctx);
}

const char *rt_prov_state_dir(const rt_provctx *ctx) {
  if (ctx->state_dir[0] != '\0')
    return ctx->state_dir;
  const char *env = getenv(RT_STATE_DIR_ENV);
  if (env != NULL && env[0] != '\0')
    return env;
  return RT_STATE_DIR_DEFAULT;
}

/* core_vset_error takes a va_list: the message goes through "%s". */
static void vset_error(const rt_provctx *ctx, uint32_t reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void vset_error(const rt_provctx *ctx, uint32_t reason, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ctx->core_vset_error(ctx->handle, reason, fmt, ap);
  va_end(ap);
}

void rt_prov_raise_at(const rt_provctx *ctx, const rt_err *err, const char *file, int line,
                      const char *func) {
  if (ctx == NULL || ctx->core_new_error == NULL || ctx->core_vset_error == NULL)
    return;
  ctx->core_new_error(ctx->handle);
  if (ctx->core_set_error_debug != NULL)
    ctx->core_set_error_debug(ctx->handle, file, line, func);
  vset_error(ctx, (uint32_t)RT_PROV_REASON(err->code), "%s", err->msg);
}
