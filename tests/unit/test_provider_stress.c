/* The provider under concurrency: one key object used by 8 threads × 50
 * signatures (ESYS is not thread-safe: the provider's mutex must serialize
 * them). With --fork, also 4 forked children signing with the key loaded by
 * the parent (each child must open its own connection and reload the key)
 * and the parent signing again afterwards. Every signature is checked with
 * the public key in the default provider.
 *
 * --fork is not run by ctest yet: swtpm without a resource manager serves
 * one connection at a time (the parent holds one), and the tabrmd TCTI
 * cannot connect in a child forked after the parent's GDBus connection
 * started ("failed to allocate dbus proxy object"). It needs a device TCTI
 * (/dev/tpmrm0) or a child-safe transport.
 * Usage: test_provider_stress MODULE_DIR STORE_URI [--fork] (RATTEST_TCTI and
 * RATTEST_STATE_DIR from the harness). */
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 8
#define PER_THREAD 50
#define CHILDREN 4

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

int main(int argc, char **argv) {
  if (argc != 3 && !(argc == 4 && strcmp(argv[3], "--fork") == 0)) {
    fprintf(stderr, "usage: test_provider_stress MODULE_DIR STORE_URI [--fork]\n");
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

  pthread_t t[THREADS];
  for (size_t i = 0; i < THREADS; i++)
    pthread_create(&t[i], NULL, worker, (void *)i);
  for (size_t i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);

  if (argc == 4) {
    pid_t kids[CHILDREN];
    for (int i = 0; i < CHILDREN; i++) {
      kids[i] = fork();
      if (kids[i] == 0) {
        int good = 0;
        for (int j = 0; j < 5; j++)
          good += sign_verify(1000 + 10 * i + j);
        _exit(good == 5 ? 0 : 1);
      }
    }
    for (int i = 0; i < CHILDREN; i++) {
      int status = 0;
      count(kids[i] > 0 && waitpid(kids[i], &status, 0) == kids[i] && WIFEXITED(status) &&
                WEXITSTATUS(status) == 0,
            "a forked child's signatures");
    }
    count(sign_verify(4242), "the parent signs after the children");
  }
out:
  EVP_PKEY_free(pub);
  EVP_PKEY_free(key);
  OSSL_PROVIDER_unload(rt);
  OSSL_PROVIDER_unload(def);
  printf("test_provider_stress: %d passed, %d failed\n", passed, failed);
  return failed == 0 && passed > 0 ? 0 : 1;
}
