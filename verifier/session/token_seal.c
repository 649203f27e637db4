#include "token_seal.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

/* Longest AAD: a context string and the version byte. */
#define AAD_MAX 64

/* AAD: context string (without its NUL) || version byte. */
static size_t make_aad(const char *context, uint8_t aad[AAD_MAX]) {
  size_t n = strlen(context);
  memcpy(aad, context, n);
  aad[n] = RT_TOKEN_VERSION;
  return n + 1;
}

/* Wipes and frees a plaintext buffer of len bytes (malloc'd as at least 1). */
static void free_plaintext(uint8_t *pt, size_t len) {
  if (pt != NULL)
    OPENSSL_cleanse(pt, len > 0 ? len : 1);
  free(pt);
}

/* Encrypts pt into tok (laid out as token_seal.h says, total bytes). */
static rt_code gcm_encrypt(const rt_token_key *key, const char *context, const uint8_t *pt,
                           size_t pt_len, uint8_t *tok, rt_err *err) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL)
    return rt_err_set(err, RT_E_NOMEM, "sealing: out of memory");
  uint8_t *iv = tok + 1, *ct = tok + 1 + RT_TOKEN_IV_LEN, *tag = ct + pt_len;
  uint8_t aad[AAD_MAX];
  size_t aad_len = make_aad(context, aad);
  tok[0] = RT_TOKEN_VERSION;
  int outl = 0, finl = 0;
  rt_code code = RT_OK;
  if (RAND_bytes(iv, RT_TOKEN_IV_LEN) != 1)
    code = rt_err_set(err, RT_E_CRYPTO, "sealing: RAND_bytes failed");
  /* GCM's default IV length is 12 bytes, the length RT_TOKEN_IV_LEN has. */
  else if (EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), rt_token_key_bytes(key), iv, NULL) != 1 ||
           EVP_EncryptUpdate(ctx, NULL, &outl, aad, (int)aad_len) != 1 ||
           EVP_EncryptUpdate(ctx, ct, &outl, pt, (int)pt_len) != 1 ||
           EVP_EncryptFinal_ex(ctx, ct + outl, &finl) != 1 || (size_t)(outl + finl) != pt_len ||
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, RT_TOKEN_TAG_LEN, tag) != 1)
    code = rt_err_set(err, RT_E_CRYPTO, "sealing: AES-256-GCM failed");
  ERR_clear_error();
  EVP_CIPHER_CTX_free(ctx);
  return code;
}

static rt_code seal_bytes(const rt_token_key *key, const char *context, const uint8_t *pt,
                          size_t pt_len, uint8_t **out, size_t *out_len, rt_err *err) {
  size_t total = RT_TOKEN_MIN_LEN + pt_len;
  if (total > RT_TOKEN_MAX_LEN)
    return rt_err_set(err, RT_E_INVALID, "sealing: a state of %zu bytes makes a token over %d",
                      pt_len, RT_TOKEN_MAX_LEN);
  uint8_t *tok = malloc(total);
  if (tok == NULL)
    return rt_err_set(err, RT_E_NOMEM, "sealing: out of memory");
  rt_code code = gcm_encrypt(key, context, pt, pt_len, tok, err);
  if (code != RT_OK) {
    free(tok);
    return code;
  }
  *out = tok;
  *out_len = total;
  return RT_OK;
}

rt_code rt_token_seal_state(const rt_token_kind *kind, const rt_token_key *key,
                            const ProtobufCMessage *st, uint8_t **out, size_t *out_len,
                            rt_err *err) {
  *out = NULL;
  *out_len = 0;
  rt_code code = kind->check(st, err);
  if (code != RT_OK) {
    rt_err_prefix(err, "sealing: ");
    return code;
  }
  size_t pt_len = protobuf_c_message_get_packed_size(st);
  uint8_t *pt = malloc(pt_len > 0 ? pt_len : 1);
  if (pt == NULL)
    return rt_err_set(err, RT_E_NOMEM, "sealing: out of memory");
  protobuf_c_message_pack(st, pt);
  code = seal_bytes(key, kind->context, pt, pt_len, out, out_len, err);
  free_plaintext(pt, pt_len);
  return code;
}

/* What can be judged before decrypting: length and version. */
static rt_code check_frame(const char *what, const uint8_t *token, size_t token_len,
                           rt_token_reason *reason, rt_err *err) {
  if (token_len < RT_TOKEN_MIN_LEN) {
    rt_token_reason_set(reason, RT_TOKEN_TOO_SHORT);
    return rt_err_set(err, RT_E_INVALID, "%s too short (%zu bytes, at least %d)", what, token_len,
                      RT_TOKEN_MIN_LEN);
  }
  if (token_len > RT_TOKEN_MAX_LEN) {
    rt_token_reason_set(reason, RT_TOKEN_TOO_LONG);
    return rt_err_set(err, RT_E_INVALID, "%s too long (%zu bytes, at most %d)", what, token_len,
                      RT_TOKEN_MAX_LEN);
  }
  if (token[0] != RT_TOKEN_VERSION) {
    rt_token_reason_set(reason, RT_TOKEN_BAD_VERSION);
    return rt_err_set(err, RT_E_INVALID, "%s version %u unknown (want %u)", what, token[0],
                      RT_TOKEN_VERSION);
  }
  return RT_OK;
}

/* Authenticates and decrypts a framed token's ciphertext into pt (ct_len
 * bytes, already allocated). */
static rt_code gcm_decrypt(const rt_token_key *key, const rt_token_kind *kind, const uint8_t *token,
                           size_t ct_len, uint8_t *pt, rt_token_reason *reason, rt_err *err) {
  const uint8_t *iv = token + 1, *ct = token + 1 + RT_TOKEN_IV_LEN;
  uint8_t tag[RT_TOKEN_TAG_LEN], aad[AAD_MAX];
  memcpy(tag, ct + ct_len, sizeof tag);
  size_t aad_len = make_aad(kind->context, aad);
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int outl = 0, finl = 0;
  rt_code code = RT_OK;
  if (ctx == NULL) {
    rt_token_reason_set(reason, RT_TOKEN_FAILURE);
    return rt_err_set(err, RT_E_NOMEM, "opening %s: out of memory", kind->what);
  }
  if (EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), rt_token_key_bytes(key), iv, NULL) != 1 ||
      EVP_DecryptUpdate(ctx, NULL, &outl, aad, (int)aad_len) != 1 ||
      EVP_DecryptUpdate(ctx, pt, &outl, ct, (int)ct_len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, RT_TOKEN_TAG_LEN, tag) != 1) {
    rt_token_reason_set(reason, RT_TOKEN_FAILURE);
    code = rt_err_set(err, RT_E_INTERNAL, "opening %s: AES-256-GCM failed", kind->what);
  } else if (EVP_DecryptFinal_ex(ctx, pt + outl, &finl) != 1) {
    /* The tag is checked here; until it passes, pt is attacker-chosen
     * garbage and is never parsed. */
    rt_token_reason_set(reason, RT_TOKEN_BAD_TAG);
    code =
        rt_err_set(err, RT_E_CRYPTO,
                   "%s does not authenticate (tampered, or sealed under another key)", kind->what);
  }
  ERR_clear_error();
  EVP_CIPHER_CTX_free(ctx);
  return code;
}

/* Frame, authenticate, decrypt, parse: the state as the token holds it,
 * not yet checked. */
static rt_code open_message(const rt_token_kind *kind, const rt_token_key *key,
                            const uint8_t *token, size_t token_len, ProtobufCMessage **out,
                            rt_token_reason *reason, rt_err *err) {
  rt_code code = check_frame(kind->what, token, token_len, reason, err);
  if (code != RT_OK)
    return code;
  size_t ct_len = token_len - RT_TOKEN_MIN_LEN;
  uint8_t *pt = malloc(ct_len > 0 ? ct_len : 1);
  if (pt == NULL) {
    rt_token_reason_set(reason, RT_TOKEN_FAILURE);
    return rt_err_set(err, RT_E_NOMEM, "opening %s: out of memory", kind->what);
  }
  code = gcm_decrypt(key, kind, token, ct_len, pt, reason, err);
  if (code == RT_OK) {
    *out = protobuf_c_message_unpack(kind->type, NULL, ct_len, pt);
    if (*out == NULL) {
      rt_token_reason_set(reason, RT_TOKEN_BAD_PLAINTEXT);
      code = rt_err_set(err, RT_E_INVALID, "%s holds no valid %s", kind->what, kind->state);
    }
  }
  free_plaintext(pt, ct_len);
  return code;
}

rt_code rt_token_open_state(const rt_token_kind *kind, const rt_token_key *key,
                            const uint8_t *token, size_t token_len, time_t now,
                            ProtobufCMessage **out, rt_token_reason *reason, rt_err *err) {
  *out = NULL;
  rt_token_reason_set(reason, RT_TOKEN_OK);
  ProtobufCMessage *st = NULL;
  rt_code code = open_message(kind, key, token, token_len, &st, reason, err);
  if (code != RT_OK)
    return code;
  int64_t expires = kind->expires(st);
  code = kind->check(st, err);
  if (code != RT_OK) {
    rt_token_reason_set(reason, RT_TOKEN_BAD_PLAINTEXT);
    rt_err_prefix(err, "%s: ", kind->what);
  } else if ((int64_t)now >= expires) {
    rt_token_reason_set(reason, RT_TOKEN_EXPIRED);
    code = rt_err_set(err, RT_E_INVALID, "%s expired at %lld (now %lld)", kind->what,
                      (long long)expires, (long long)now);
  }
  if (code != RT_OK) {
    kind->free(st);
    return code;
  }
  *out = st;
  return RT_OK;
}

rt_code rt_token_random_field(ProtobufCBinaryData *field, size_t len, rt_err *err) {
  field->data = malloc(len);
  if (field->data == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory for a token state");
  field->len = len;
  if (RAND_bytes(field->data, (int)len) != 1) {
    ERR_clear_error();
    return rt_err_set(err, RT_E_CRYPTO, "RAND_bytes failed for a token state");
  }
  return RT_OK;
}
