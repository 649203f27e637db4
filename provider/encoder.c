/* encoder for the public key as SubjectPublicKeyInfo, DER and PEM, so
 * `openssl pkey -in rattest:NAME -pubout` works. The key is rebuilt in
 * software (another provider) and written by OpenSSL's own code. */
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "provider.h"

static OSSL_FUNC_encoder_newctx_fn enc_newctx;
static OSSL_FUNC_encoder_freectx_fn enc_freectx;
static OSSL_FUNC_encoder_does_selection_fn enc_does_selection;
static OSSL_FUNC_encoder_encode_fn enc_encode_der, enc_encode_pem;

static void *enc_newctx(void *provctx) {
  return provctx;
}

static void enc_freectx(void *ctx) {
  (void)ctx;
}

static int enc_does_selection(void *ctx, int selection) {
  (void)ctx;
  return (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0;
}

static int enc_encode(rt_provctx *ctx, int pem, OSSL_CORE_BIO *cout, const void *obj_raw,
                      int selection) {
  rt_key *key = (rt_key *)obj_raw;
  rt_err err;
  if (key == NULL || !(selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY))
    return 0;
  EVP_PKEY *soft = rt_key_soft(key, &err);
  if (soft == NULL) {
    rt_prov_raise(ctx, &err);
    return 0;
  }
  BIO *out = BIO_new_from_core_bio(ctx->libctx, cout);
  if (out == NULL)
    return 0;
  int ok = pem ? PEM_write_bio_PUBKEY(out, soft) : i2d_PUBKEY_bio(out, soft);
  BIO_free(out);
  return ok;
}

static int enc_encode_der(void *ctx, OSSL_CORE_BIO *cout, const void *obj_raw,
                          const OSSL_PARAM obj_abstract[], int selection,
                          OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg) {
  (void)obj_abstract;
  (void)cb;
  (void)cbarg;
  return enc_encode(ctx, 0, cout, obj_raw, selection);
}

static int enc_encode_pem(void *ctx, OSSL_CORE_BIO *cout, const void *obj_raw,
                          const OSSL_PARAM obj_abstract[], int selection,
                          OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg) {
  (void)obj_abstract;
  (void)cb;
  (void)cbarg;
  return enc_encode(ctx, 1, cout, obj_raw, selection);
}

const OSSL_DISPATCH rt_encoder_spki_der_functions[] = {
    {OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))enc_newctx},
    {OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))enc_freectx},
    {OSSL_FUNC_ENCODER_DOES_SELECTION, (void (*)(void))enc_does_selection},
    {OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))enc_encode_der},
    {0, NULL}};

const OSSL_DISPATCH rt_encoder_spki_pem_functions[] = {
    {OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))enc_newctx},
    {OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))enc_freectx},
    {OSSL_FUNC_ENCODER_DOES_SELECTION, (void (*)(void))enc_does_selection},
    {OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))enc_encode_pem},
    {0, NULL}};
