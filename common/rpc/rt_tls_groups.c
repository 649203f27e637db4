#define _GNU_SOURCE
#include "rt_tls_groups.h"

#include <dlfcn.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>

/* The groups, by preference: a client's X25519 share is taken at once. */
#define GROUPS "X25519:P-256"

typedef long (*ctrl_fn)(SSL_CTX *, int, long, void *);

static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;
static ctrl_fn libssl_ctrl;
static atomic_int widen;

static void resolve(void) {
  *(void **)&libssl_ctrl = dlsym(RTLD_NEXT, "SSL_CTX_ctrl");
}

void rt_tls_groups_widen(void) {
  atomic_store(&widen, 1);
}

/* grpc's SSL_CTX_set_tmp_ecdh (and every other SSL_CTX_ctrl macro of the
 * process) calls this one. */
long SSL_CTX_ctrl(SSL_CTX *ctx, int cmd, long larg, void *parg) {
  pthread_once(&resolve_once, resolve);
  if (libssl_ctrl == NULL)
    return 0;
  if (cmd == SSL_CTRL_SET_TMP_ECDH && atomic_load(&widen))
    return libssl_ctrl(ctx, SSL_CTRL_SET_GROUPS_LIST, 0, (void *)GROUPS);
  return libssl_ctrl(ctx, cmd, larg, parg);
}
