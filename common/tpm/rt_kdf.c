#include "rt_kdf.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>

#include "rt_hash.h"

/* The rt_hash table's TPM algorithms. */
static const rt_hash *tpm_hash(TPMI_ALG_HASH alg) {
  const rt_hash *a = rt_hash_by_id(alg);
  return a != NULL && a->tpm ? a : NULL;
}

const char *rt_tpm_hash_name(TPMI_ALG_HASH alg) {
  const rt_hash *a = tpm_hash(alg);
  return a == NULL ? NULL : a->evp_name;
}

size_t rt_tpm_hash_size(TPMI_ALG_HASH alg) {
  const rt_hash *a = tpm_hash(alg);
  return a == NULL ? 0 : a->size;
}

rt_code rt_ossl_err(rt_err *err, const char *what) {
  unsigned long e = ERR_peek_last_error();
  const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
  rt_code code =
      rt_err_set(err, RT_E_CRYPTO, "%s failed%s%s", what, reason ? ": " : "", reason ? reason : "");
  ERR_clear_error();
  return code;
}

/* Checks what both KDFs share and sets *md to the digest name. */
static rt_code kdf_args(const char *kdf, TPMI_ALG_HASH hash, const uint8_t *key, size_t key_len,
                        const char *label, const uint8_t *u, size_t u_len, const uint8_t *v,
                        size_t v_len, const uint8_t *out, size_t out_bits, const char **md,
                        rt_err *err) {
  *md = rt_tpm_hash_name(hash);
  if (*md == NULL)
    return rt_err_set(err, RT_E_INVALID, "%s: unsupported hash algorithm 0x%04x", kdf,
                      (unsigned)hash);
  if (key == NULL || key_len == 0 || label == NULL || out == NULL || (u == NULL && u_len > 0) ||
      (v == NULL && v_len > 0))
    return rt_err_set(err, RT_E_INVALID, "%s: missing key, label or output", kdf);
  if (out_bits == 0 || out_bits % 8 != 0 || out_bits > UINT32_MAX)
    return rt_err_set(err, RT_E_INVALID,
                      "%s: output length of %zu bits is not a positive number of whole bytes", kdf,
                      out_bits);
  return RT_OK;
}

/* The KDFs take one context/info octet string: u || v. */
static uint8_t *concat(const uint8_t *u, size_t u_len, const uint8_t *v, size_t v_len,
                       size_t *len) {
  *len = u_len + v_len;
  uint8_t *buf = malloc(*len > 0 ? *len : 1);
  if (buf == NULL)
    return NULL;
  if (u_len > 0)
    memcpy(buf, u, u_len);
  if (v_len > 0)
    memcpy(buf + u_len, v, v_len);
  return buf;
}

static rt_code kdf_run(const char *kdf_name, OSSL_PARAM *params, uint8_t *out, size_t out_len,
                       rt_err *err) {
  EVP_KDF *kdf = EVP_KDF_fetch(NULL, kdf_name, NULL);
  EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
  rt_code code = RT_OK;
  if (kctx == NULL || EVP_KDF_derive(kctx, out, out_len, params) != 1) {
    OPENSSL_cleanse(out, out_len);
    code = rt_ossl_err(err, kdf_name);
  }
  EVP_KDF_CTX_free(kctx);
  EVP_KDF_free(kdf);
  return code;
}

rt_code rt_kdfa(TPMI_ALG_HASH hash, const uint8_t *key, size_t key_len, const char *label,
                const uint8_t *context_u, size_t context_u_len, const uint8_t *context_v,
                size_t context_v_len, uint8_t *out, size_t out_bits, rt_err *err) {
  const char *md = NULL;
  rt_code code = kdf_args("KDFa", hash, key, key_len, label, context_u, context_u_len, context_v,
                          context_v_len, out, out_bits, &md, err);
  if (code != RT_OK)
    return code;
  size_t ctx_len = 0;
  uint8_t *context = concat(context_u, context_u_len, context_v, context_v_len, &ctx_len);
  if (context == NULL)
    return rt_err_set(err, RT_E_NOMEM, "KDFa: out of memory");
  /* Counter first, 32-bit counter and length, a 0x00 after the label: the
   * KBKDF defaults are the TPM's layout. */
  int one = 1;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, "counter", 0),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, "HMAC", 0),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_len),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)label, strlen(label)),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, context, ctx_len),
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_KBKDF_USE_L, &one),
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_KBKDF_USE_SEPARATOR, &one),
      OSSL_PARAM_construct_end(),
  };
  code = kdf_run(OSSL_KDF_NAME_KBKDF, params, out, out_bits / 8, err);
  OPENSSL_cleanse(context, ctx_len);
  free(context);
  if (code != RT_OK)
    rt_err_prefix(err, "KDFa: ");
  return code;
}

rt_code rt_kdfe(TPMI_ALG_HASH hash, const uint8_t *z, size_t z_len, const char *label,
                const uint8_t *party_u, size_t party_u_len, const uint8_t *party_v,
                size_t party_v_len, uint8_t *out, size_t out_bits, rt_err *err) {
  const char *md = NULL;
  rt_code code = kdf_args("KDFe", hash, z, z_len, label, party_u, party_u_len, party_v, party_v_len,
                          out, out_bits, &md, err);
  if (code != RT_OK)
    return code;
  /* FixedInfo = label with its NUL || PartyUInfo || PartyVInfo. */
  size_t label_len = strlen(label) + 1, uv_len = 0;
  uint8_t *uv = concat(party_u, party_u_len, party_v, party_v_len, &uv_len);
  size_t info_len = 0;
  uint8_t *info = uv ? concat((const uint8_t *)label, label_len, uv, uv_len, &info_len) : NULL;
  free(uv);
  if (info == NULL)
    return rt_err_set(err, RT_E_NOMEM, "KDFe: out of memory");
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)z, z_len),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, info_len),
      OSSL_PARAM_construct_end(),
  };
  code = kdf_run(OSSL_KDF_NAME_SSKDF, params, out, out_bits / 8, err);
  free(info);
  if (code != RT_OK)
    rt_err_prefix(err, "KDFe: ");
  return code;
}
