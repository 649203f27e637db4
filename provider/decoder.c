/* decoder for TSS2 PRIVATE KEY files (rt_tss2key_decode).
 *
 * Two steps, as OpenSSL chains decoders: PEM with the TSS2 label becomes DER
 * of structure "TSS2"; a key decoder turns that into our key object, loaded
 * into the TPM under its parent (SRK or EK, key.c), passed by reference.
 *
 * Why the DER is tagged: OpenSSL 3.0's file store hands an object reference
 * it gets straight from a decoder to whatever "EC"/"RSA" keymgmt it fetches,
 * possibly the default provider's, which would take our object for one of
 * its own. What the PEM step outputs instead goes through a fresh key
 * decoder context (the store's try_key_value), which gives a reference only
 * to the keymgmt of the decoder's provider (or asks the decoder to export,
 * see dec_export_object). The key step therefore accepts only DER that went
 * through our PEM step: prefixed with a random per-process tag, which no
 * file can carry. A raw DER key file takes the same path: a DER-to-DER step
 * that recognizes the TSS2 key OIDs and tags the bytes unchanged.
 * Input that is not ours is passed over (return 1 with no object), so other
 * decoders get their turn on ordinary keys and certificates. */
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/pem.h>
#include <string.h>

#include "provider.h"

static OSSL_FUNC_decoder_newctx_fn dec_newctx;
static OSSL_FUNC_decoder_freectx_fn dec_freectx;
static OSSL_FUNC_decoder_decode_fn dec_pem_decode, dec_der_decode, dec_loaded_decode_ec,
    dec_loaded_decode_rsa;
static OSSL_FUNC_decoder_export_object_fn dec_export_object;

static void *dec_newctx(void *provctx) {
  return provctx;
}

static void dec_freectx(void *ctx) {
  (void)ctx;
}

/* Reads the whole input (at most RT_TSS2KEY_MAX_FILE + 1 bytes). */
static unsigned char *read_all(rt_provctx *ctx, OSSL_CORE_BIO *cin, size_t *len) {
  BIO *in = BIO_new_from_core_bio(ctx->libctx, cin);
  unsigned char *buf = OPENSSL_malloc(RT_TSS2KEY_MAX_FILE + 1);
  *len = 0;
  if (in == NULL || buf == NULL) {
    BIO_free(in);
    OPENSSL_free(buf);
    return NULL;
  }
  size_t got;
  while (*len < RT_TSS2KEY_MAX_FILE + 1 &&
         BIO_read_ex(in, buf + *len, RT_TSS2KEY_MAX_FILE + 1 - *len, &got) && got > 0)
    *len += got;
  BIO_free(in);
  return buf;
}

static int is_tss2_pem(const unsigned char *buf, size_t len) {
  static const char begin[] = "-----BEGIN " RT_TSS2KEY_PEM_LABEL "-----";
  size_t i = 0;
  while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
    i++;
  return len - i >= sizeof begin - 1 && memcmp(buf + i, begin, sizeof begin - 1) == 0;
}

/* The key step's error of this thread. OpenSSL's file store runs the key
 * step inside its own error mark and pops it (it tries several decoders), so
 * a message raised there never reaches the user: "Could not read key" alone
 * for a key of another TPM. The key step keeps its error here and the outer
 * step, whose errors survive, raises it again when the inner decoding
 * failed. */
static _Thread_local rt_err key_step_err;
static _Thread_local int key_step_failed;

/* Hands DER on to the key step, prefixed with the per-process tag. */
static int pass_tagged(rt_provctx *ctx, const unsigned char *der, size_t dlen,
                       OSSL_CALLBACK *data_cb, void *data_cbarg) {
  unsigned char *tagged = OPENSSL_malloc(sizeof ctx->tag + dlen);
  if (tagged == NULL)
    return 0;
  memcpy(tagged, ctx->tag, sizeof ctx->tag);
  memcpy(tagged + sizeof ctx->tag, der, dlen);
  OSSL_PARAM params[] = {
      OSSL_PARAM_octet_string(OSSL_OBJECT_PARAM_DATA, tagged, sizeof ctx->tag + dlen),
      OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_STRUCTURE, RT_STRUCTURE_TSS2, 0),
      OSSL_PARAM_END};
  key_step_failed = 0;
  int ok = data_cb(params, data_cbarg);
  OPENSSL_free(tagged);
  if (!ok && key_step_failed)
    rt_prov_raise(ctx, &key_step_err);
  key_step_failed = 0;
  return ok;
}

static int dec_pem_decode(void *vctx, OSSL_CORE_BIO *cin, int selection, OSSL_CALLBACK *data_cb,
                          void *data_cbarg, OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg) {
  rt_provctx *ctx = vctx;
  (void)selection;
  (void)pw_cb;
  (void)pw_cbarg;
  size_t len;
  unsigned char *buf = read_all(ctx, cin, &len);
  if (buf == NULL)
    return 0;
  int ok = 1;
  if (len <= RT_TSS2KEY_MAX_FILE && is_tss2_pem(buf, len)) {
    BIO *mem = BIO_new_mem_buf(buf, (int)len);
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long dlen = 0;
    if (mem != NULL && PEM_read_bio(mem, &name, &header, &der, &dlen) > 0 &&
        strcmp(name, RT_TSS2KEY_PEM_LABEL) == 0) {
      ok = pass_tagged(ctx, der, (size_t)dlen, data_cb, data_cbarg);
    } else {
      rt_err err;
      rt_err_set(&err, RT_E_INVALID, "TSS2 PRIVATE KEY: malformed PEM");
      rt_prov_raise(ctx, &err);
      ok = 0;
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    BIO_free(mem);
  }
  OPENSSL_free(buf);
  return ok;
}

/* A raw DER key file starts with a SEQUENCE whose first element is one of
 * the draft's key type OIDs, 2.23.133.10.1.{3,4,5} (loadable, importable,
 * sealed). Only the start is checked: rt_tss2key_decode judges the rest, so
 * a broken file gets its precise error instead of being passed over. */
static int is_tss2_der(const unsigned char *buf, size_t len) {
  static const unsigned char oid[] = {0x06, 0x06, 0x67, 0x81, 0x05, 0x0a, 0x01};
  size_t i = 2;
  if (len < 2 || buf[0] != 0x30)
    return 0;
  if (buf[1] & 0x80) { /* long form length: 1 or 2 bytes for our sizes */
    size_t n = buf[1] & 0x7f;
    if (n == 0 || n > 2)
      return 0;
    i += n;
  }
  return len >= i + sizeof oid + 1 && memcmp(buf + i, oid, sizeof oid) == 0 &&
         buf[i + sizeof oid] >= 3 && buf[i + sizeof oid] <= 5;
}

static int dec_der_decode(void *vctx, OSSL_CORE_BIO *cin, int selection, OSSL_CALLBACK *data_cb,
                          void *data_cbarg, OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg) {
  rt_provctx *ctx = vctx;
  (void)selection;
  (void)pw_cb;
  (void)pw_cbarg;
  size_t len;
  unsigned char *buf = read_all(ctx, cin, &len);
  if (buf == NULL)
    return 0;
  int ok = 1; /* not a TSS2 key: other decoders get their turn */
  if (len <= RT_TSS2KEY_MAX_FILE && is_tss2_der(buf, len))
    ok = pass_tagged(ctx, buf, len, data_cb, data_cbarg);
  OPENSSL_free(buf);
  return ok;
}

/* Tagged DER from dec_pem_decode or dec_der_decode becomes a loaded key, by reference. */
static int dec_loaded_decode(rt_provctx *ctx, int type_wanted, OSSL_CORE_BIO *cin,
                             OSSL_CALLBACK *data_cb, void *data_cbarg) {
  size_t len;
  unsigned char *buf = read_all(ctx, cin, &len);
  if (buf == NULL)
    return 0;
  if (len <= sizeof ctx->tag || len > RT_TSS2KEY_MAX_FILE ||
      CRYPTO_memcmp(buf, ctx->tag, sizeof ctx->tag) != 0) {
    OPENSSL_free(buf);
    return 1; /* not from our step 1 */
  }
  rt_err err;
  rt_tss2key *file = OPENSSL_zalloc(sizeof *file);
  rt_key *key = NULL;
  rt_code rc = file == NULL
                   ? rt_err_set(&err, RT_E_NOMEM, "out of memory")
                   : rt_tss2key_decode(buf + sizeof ctx->tag, len - sizeof ctx->tag, file, &err);
  OPENSSL_free(buf);
  if (rc == RT_OK) {
    if ((file->pub.publicArea.type == TPM2_ALG_ECC) != (type_wanted == EVP_PKEY_EC)) {
      rt_key_free_file(file);
      return 1;
    }
    rc = rt_key_from_file(ctx, file, &key, &err); /* takes file */
  } else {
    rt_key_free_file(file);
  }
  if (rc != RT_OK) {
    rt_err_prefix(&err, "TSS2 PRIVATE KEY: ");
    rt_prov_raise(ctx, &err);
    key_step_err = err;
    key_step_failed = 1;
    return 0;
  }
  int type = OSSL_OBJECT_PKEY;
  OSSL_PARAM params[] = {
      OSSL_PARAM_int(OSSL_OBJECT_PARAM_TYPE, &type),
      OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                                       type_wanted == EVP_PKEY_RSA ? "RSA" : "EC", 0),
      OSSL_PARAM_octet_string(OSSL_OBJECT_PARAM_REFERENCE, &key, sizeof key), OSSL_PARAM_END};
  int ok = data_cb(params, data_cbarg);
  rt_key_free(key); /* an empty shell when our keymgmt took it over */
  return ok;
}

static int dec_loaded_decode_ec(void *vctx, OSSL_CORE_BIO *cin, int selection,
                                OSSL_CALLBACK *data_cb, void *data_cbarg,
                                OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg) {
  (void)selection;
  (void)pw_cb;
  (void)pw_cbarg;
  return dec_loaded_decode(vctx, EVP_PKEY_EC, cin, data_cb, data_cbarg);
}

static int dec_loaded_decode_rsa(void *vctx, OSSL_CORE_BIO *cin, int selection,
                                 OSSL_CALLBACK *data_cb, void *data_cbarg,
                                 OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg) {
  (void)selection;
  (void)pw_cb;
  (void)pw_cbarg;
  return dec_loaded_decode(vctx, EVP_PKEY_RSA, cin, data_cb, data_cbarg);
}

/* A key decoder context whose keymgmt is not the decoder's provider's asks
 * the decoder to export the object and imports that. Only our keymgmt
 * understands the one parameter we export (the object's address); any
 * other refuses it, so the key never ends up public-only elsewhere. */
static int dec_export_object(void *vctx, const void *reference, size_t reference_sz,
                             OSSL_CALLBACK *export_cb, void *export_cbarg) {
  (void)vctx;
  if (reference == NULL || reference_sz != sizeof(rt_key *))
    return 0;
  rt_key *key = *(rt_key **)reference;
  if (key == NULL)
    return 0;
  OSSL_PARAM params[] = {OSSL_PARAM_octet_string(RT_PARAM_KEY_REF, (void *)reference, reference_sz),
                         OSSL_PARAM_END};
  return export_cb(params, export_cbarg);
}

const OSSL_DISPATCH rt_decoder_pem_functions[] = {
    {OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))dec_newctx},
    {OSSL_FUNC_DECODER_FREECTX, (void (*)(void))dec_freectx},
    {OSSL_FUNC_DECODER_DECODE, (void (*)(void))dec_pem_decode},
    {0, NULL}};

const OSSL_DISPATCH rt_decoder_der_functions[] = {
    {OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))dec_newctx},
    {OSSL_FUNC_DECODER_FREECTX, (void (*)(void))dec_freectx},
    {OSSL_FUNC_DECODER_DECODE, (void (*)(void))dec_der_decode},
    {0, NULL}};

const OSSL_DISPATCH rt_decoder_loaded_ec_functions[] = {
    {OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))dec_newctx},
    {OSSL_FUNC_DECODER_FREECTX, (void (*)(void))dec_freectx},
    {OSSL_FUNC_DECODER_DECODE, (void (*)(void))dec_loaded_decode_ec},
    {OSSL_FUNC_DECODER_EXPORT_OBJECT, (void (*)(void))dec_export_object},
    {0, NULL}};

const OSSL_DISPATCH rt_decoder_loaded_rsa_functions[] = {
    {OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))dec_newctx},
    {OSSL_FUNC_DECODER_FREECTX, (void (*)(void))dec_freectx},
    {OSSL_FUNC_DECODER_DECODE, (void (*)(void))dec_loaded_decode_rsa},
    {OSSL_FUNC_DECODER_EXPORT_OBJECT, (void (*)(void))dec_export_object},
    {0, NULL}};
