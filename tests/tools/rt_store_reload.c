/* One process, two loads of the same store URI with a command in between
 * (a renewal): the provider must hand out what the state says at each load,
 * not what it read the first time. Prints "first SERIAL", "second SERIAL"
 * (the certificate's serial in hex) and, each time, whether a signature of
 * the loaded key verifies with the loaded certificate; then whether the
 * first key object still signs for the first certificate ("stale yes|no"),
 * which tells whether a server that did not reload keeps working.
 * Usage: rt_store_reload MODULE_DIR URI CMD (RATTEST_TCTI and
 * RATTEST_STATE_DIR from the environment). Exit 0 when both loads gave a key
 * and a certificate and CMD exited 0. */
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  EVP_PKEY *key;
  X509 *cert;
} loaded;

static int load(const char *uri, loaded *out) {
  OSSL_STORE_CTX *st = OSSL_STORE_open(uri, NULL, NULL, NULL, NULL);
  while (st != NULL && !OSSL_STORE_eof(st)) {
    OSSL_STORE_INFO *info = OSSL_STORE_load(st);
    int type = info != NULL ? OSSL_STORE_INFO_get_type(info) : 0;
    if (type == OSSL_STORE_INFO_PKEY && out->key == NULL)
      out->key = OSSL_STORE_INFO_get1_PKEY(info);
    else if (type == OSSL_STORE_INFO_CERT && out->cert == NULL)
      out->cert = OSSL_STORE_INFO_get1_CERT(info);
    OSSL_STORE_INFO_free(info);
  }
  OSSL_STORE_close(st);
  return out->key != NULL && out->cert != NULL;
}

/* Whether key signs what cert's public key verifies. */
static int signs_for(EVP_PKEY *key, X509 *cert) {
  unsigned char msg[32] = "rattest renewal", sig[512];
  size_t siglen = sizeof sig;
  EVP_MD_CTX *s = EVP_MD_CTX_new(), *v = EVP_MD_CTX_new();
  int ok =
      s != NULL && v != NULL &&
      EVP_DigestSignInit_ex(s, NULL, "SHA256", NULL, NULL, key, NULL) == 1 &&
      EVP_DigestSign(s, sig, &siglen, msg, sizeof msg) == 1 &&
      EVP_DigestVerifyInit_ex(v, NULL, "SHA256", NULL, NULL, X509_get0_pubkey(cert), NULL) == 1 &&
      EVP_DigestVerify(v, sig, siglen, msg, sizeof msg) == 1;
  EVP_MD_CTX_free(s);
  EVP_MD_CTX_free(v);
  ERR_clear_error();
  return ok;
}

static void print(const char *what, const loaded *l) {
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(l->cert), NULL);
  char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
  printf("%s %s signs %s\n", what, hex != NULL ? hex : "?",
         signs_for(l->key, l->cert) ? "yes" : "no");
  OPENSSL_free(hex);
  BN_free(bn);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: rt_store_reload MODULE_DIR URI CMD\n");
    return 2;
  }
  OSSL_PROVIDER_set_default_search_path(NULL, argv[1]);
  OSSL_PROVIDER *rt = OSSL_PROVIDER_load(NULL, "rattest");
  OSSL_PROVIDER *def = OSSL_PROVIDER_load(NULL, "default");
  loaded a = {0}, b = {0};
  int rc = 1;
  if (rt == NULL || def == NULL || !load(argv[2], &a)) {
    ERR_print_errors_fp(stderr);
    goto out;
  }
  print("first", &a);
  fflush(stdout);
  if (system(argv[3]) != 0) {
    fprintf(stderr, "rt_store_reload: the command failed\n");
    goto out;
  }
  if (!load(argv[2], &b)) {
    ERR_print_errors_fp(stderr);
    goto out;
  }
  print("second", &b);
  printf("stale %s\n", signs_for(a.key, a.cert) ? "yes" : "no");
  rc = 0;
out:
  EVP_PKEY_free(a.key);
  EVP_PKEY_free(b.key);
  X509_free(a.cert);
  X509_free(b.cert);
  OSSL_PROVIDER_unload(def);
  OSSL_PROVIDER_unload(rt);
  return rc;
}
