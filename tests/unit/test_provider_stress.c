/* The provider under concurrency: one key object used by 8 threads × 50
 * signatures (ESYS is not thread-safe: the provider's lock must serialize
 * them). With --fork, 4 children forked after the parent loaded the key
 * each sign 20 times while the parent signs too: they share the parent's
 * connection and its loaded key (provider/tpmconn.c), so this passes only if
 * the lock in shared memory keeps the processes' commands apart; then the
 * parent signs again. Every signature is checked with the public key in the
 * default provider.
 * With --hazards, the races of a shared connection: children forked while
 * a thread of the parent is in TPM commands sign all the same, and after a
 * child is killed while holding the lock every process refuses the
 * connection (its answer may still be pending; retried until the kill hits
 * the lock). The connection is unusable afterwards, so use a persistent key
 * (nothing left loaded).
 * Usage: test_provider_stress MODULE_DIR STORE_URI [--fork|--hazards]
 * (RATTEST_TCTI and RATTEST_STATE_DIR from the harness). */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREADS 8
#define PER_THREAD 50
#define CHILDREN 4
#define CHILD_SIGNATURES 20

static EVP_PKEY *key, *pub;
static int passed, failed;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static void count(int ok, const char *what) {
  pthread_mutex_lock(&count_lock);
  if (ok) {
    passed++;
  } else {
    failed++;
    fprintf(stderr, "FAIL: %s\n", what);
  }
  pthread_mutex_unlock(&count_lock);
}

/* One signature with the TPM key, verified with the software public key. */
static int sign_verify(int n) {
  unsigned char msg[32], sig[512];
  size_t siglen = sizeof sig;
  memset(msg, n & 0xff, sizeof msg);
  EVP_MD_CTX *s = EVP_MD_CTX_new(), *v = EVP_MD_CTX_new();
  int ok = s != NULL && v != NULL &&
           EVP_DigestSignInit_ex(s, NULL, "SHA256", NULL, NULL, key, NULL) &&
           EVP_DigestSign(s, sig, &siglen, msg, sizeof msg) &&
           EVP_DigestVerifyInit_ex(v, NULL, "SHA256", NULL, "provider=default", pub, NULL) &&
           EVP_DigestVerify(v, sig, siglen, msg, sizeof msg) == 1;
  EVP_MD_CTX_free(s);
  EVP_MD_CTX_free(v);
  return ok;
}

static void *worker(void *arg) {
  int base = (int)(size_t)arg * PER_THREAD, good = 0;
  for (int i = 0; i < PER_THREAD; i++)
    good += sign_verify(base + i);
  count(good == PER_THREAD, "a thread's signatures");
  return NULL;
}

static EVP_PKEY *load_key(const char *uri) {
  OSSL_STORE_CTX *st = OSSL_STORE_open(uri, NULL, NULL, NULL, NULL);
  EVP_PKEY *k = NULL;
  while (st != NULL && k == NULL && !OSSL_STORE_eof(st)) {
    OSSL_STORE_INFO *info = OSSL_STORE_load(st);
    if (info != NULL && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
      k = OSSL_STORE_INFO_get1_PKEY(info);
    OSSL_STORE_INFO_free(info);
  }
  OSSL_STORE_close(st);
  return k;
}

/* The provider's refusal of a connection whose lock holder died. */
#define CONN_BROKEN "a process sharing it died during a TPM command"

/* One raw signature of a SHA-256-sized digest with a context set up before:
 * no fetch, so a forked child takes none of OpenSSL's locks on the way into
 * the provider. Returns 1 on success, else 0 with the error text in why. */
static int raw_sign(EVP_PKEY_CTX *pctx, char *why, size_t why_len) {
  unsigned char dgst[32] = {1}, sig[512];
  size_t siglen = sizeof sig;
  ERR_clear_error();
  if (EVP_PKEY_sign(pctx, sig, &siglen, dgst, sizeof dgst) > 0)
    return 1;
  const char *data = NULL;
  int flags = 0;
  unsigned long e = ERR_peek_last_error_all(NULL, NULL, NULL, &data, &flags);
  char code[128];
  ERR_error_string_n(e, code, sizeof code);
  snprintf(why, why_len, "%s (%s)", data != NULL && (flags & ERR_TXT_STRING) ? data : "", code);
  ERR_clear_error();
  return 0;
}

static EVP_PKEY_CTX *raw_sign_ctx(void) {
  EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
  if (pctx == NULL || EVP_PKEY_sign_init(pctx) <= 0 ||
      EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()) <= 0) {
    EVP_PKEY_CTX_free(pctx);
    return NULL;
  }
  return pctx;
}

static atomic_int stop_signing;

static void *sign_loop(void *arg) {
  char why[256];
  while (!atomic_load(&stop_signing))
    raw_sign(arg, why, sizeof why);
  return NULL;
}

static void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Children forked while a thread of the parent signs non-stop: the fork
 * handlers wait for the command in flight, so each child's copy is between
 * commands and signs (without them, a child would hold a copy of a
 * mid-command context, and of swtpm's per-command socket). */
static void hazard_fork_mid_command(EVP_PKEY_CTX *thread_ctx, EVP_PKEY_CTX *child_ctx) {
  pthread_t t;
  atomic_store(&stop_signing, 0);
  pthread_create(&t, NULL, sign_loop, thread_ctx);
  int good = 0;
  for (int i = 0; i < 20; i++) {
    pause_ms(5);
    pid_t pid = fork();
    if (pid == 0) {
      char why[256] = "";
      alarm(30);
      if (raw_sign(child_ctx, why, sizeof why))
        _exit(0);
      fprintf(stderr, "child: %s\n", why);
      _exit(1);
    }
    int status = 0;
    good +=
        pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  atomic_store(&stop_signing, 1);
  pthread_join(t, NULL);
  count(good == 20, "20 children forked while a thread signs each sign");
}

/* A child killed while it may hold the lock: once it did, every later use
 * is refused with CONN_BROKEN. */
static void hazard_killed_holder(EVP_PKEY_CTX *pctx) {
  char why[256] = "";
  int broken = 0;
  for (int i = 0; i < 50 && !broken; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      for (;;)
        raw_sign(pctx, why, sizeof why);
    }
    pause_ms(20 + i);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (!raw_sign(pctx, why, sizeof why))
      broken = strstr(why, CONN_BROKEN) != NULL ? 1 : -1;
  }
  if (broken != 1)
    fprintf(stderr, "last signature: %s\n", broken == 0 ? "no refusal in 50 kills" : why);
  count(broken == 1, "a child killed holding the lock: " CONN_BROKEN);
  why[0] = '\0';
  count(!raw_sign(pctx, why, sizeof why) && strstr(why, CONN_BROKEN) != NULL,
        "the connection stays refused");
}

int main(int argc, char **argv) {
  const char *mode = argc == 4 ? argv[3] : "";
  if (argc != 3 &&
      !(argc == 4 && (strcmp(mode, "--fork") == 0 || strcmp(mode, "--hazards") == 0))) {
    fprintf(stderr, "usage: test_provider_stress MODULE_DIR STORE_URI [--fork|--hazards]\n");
    return 2;
  }
  OSSL_PROVIDER_set_default_search_path(NULL, argv[1]);
  OSSL_PROVIDER *rt = OSSL_PROVIDER_load(NULL, "rattest");
  OSSL_PROVIDER *def = OSSL_PROVIDER_load(NULL, "default");
  key = rt != NULL && def != NULL ? load_key(argv[2]) : NULL;
  count(key != NULL, "load the key");
  if (key == NULL)
    goto out;
  /* The public key, re-read into the default provider. */
  unsigned char *der = NULL;
  int len = i2d_PUBKEY(key, &der);
  const unsigned char *p = der;
  pub = len > 0 ? d2i_PUBKEY_ex(NULL, &p, len, NULL, "provider=default") : NULL;
  OPENSSL_free(der);
  count(pub != NULL, "public key");
  if (pub == NULL)
    goto out;

  if (strcmp(mode, "--hazards") == 0) {
    EVP_PKEY_CTX *a = raw_sign_ctx(), *b = raw_sign_ctx();
    count(a != NULL && b != NULL, "signing contexts");
    if (a != NULL && b != NULL) {
      hazard_fork_mid_command(a, b);
      hazard_killed_holder(a);
    }
    EVP_PKEY_CTX_free(a);
    EVP_PKEY_CTX_free(b);
    goto out;
  }

  pthread_t t[THREADS];
  for (size_t i = 0; i < THREADS; i++)
    pthread_create(&t[i], NULL, worker, (void *)i);
  for (size_t i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);

  if (strcmp(mode, "--fork") == 0) {
    pid_t kids[CHILDREN];
    for (int i = 0; i < CHILDREN; i++) {
      kids[i] = fork();
      if (kids[i] == 0) {
        int good = 0;
        for (int j = 0; j < CHILD_SIGNATURES; j++)
          good += sign_verify(1000 + 100 * i + j);
        _exit(good == CHILD_SIGNATURES ? 0 : 1);
      }
    }
    int good = 0;
    for (int j = 0; j < CHILD_SIGNATURES; j++)
      good += sign_verify(2000 + j);
    count(good == CHILD_SIGNATURES, "the parent signs while its children do");
    for (int i = 0; i < CHILDREN; i++) {
      int status = 0;
      count(kids[i] > 0 && waitpid(kids[i], &status, 0) == kids[i] && WIFEXITED(status) &&
                WEXITSTATUS(status) == 0,
            "a forked child's signatures");
    }
    count(sign_verify(4242), "the parent signs after its children");
  }
out:
  EVP_PKEY_free(pub);
  EVP_PKEY_free(key);
  OSSL_PROVIDER_unload(rt);
  OSSL_PROVIDER_unload(def);
  printf("test_provider_stress: %d passed, %d failed\n", passed, failed);
  return failed == 0 && passed > 0 ? 0 : 1;
}
