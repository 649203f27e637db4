#include "rt_tpm_pub.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <string.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "rt_ec_blank.h"
#include "rt_kdf.h"

/* Strict parsing: the structure must be well formed and fill the buffer. */
static rt_code mu_result(const char *what, TSS2_RC rc, size_t used, size_t len, rt_err *err) {
  if (rc != TSS2_RC_SUCCESS)
    return rt_err_set(err, RT_E_INVALID, "%s: malformed or truncated (%s)", what,
                      Tss2_RC_Decode(rc));
  if (used != len)
    return rt_err_set(err, RT_E_INVALID, "%s: %zu trailing bytes after the structure", what,
                      len - used);
  return RT_OK;
}

/* A TPM2B wrapping a structure must be its 2-byte size followed by exactly
 * that many bytes. libtss2-mu's TPM2B_PUBLIC unmarshaller checks neither that
 * the inner structure fills the declared size nor (tpm2-tss 3.2) the inner
 * result code, so the size is checked here and the inner structure is
 * unmarshalled on its own. Returns the size in *size. */
static rt_code tpm2b_size(const char *what, const uint8_t *buf, size_t len, size_t max,
                          UINT16 *size, rt_err *err) {
  size_t off = 0;
  TSS2_RC rc = Tss2_MU_UINT16_Unmarshal(buf, len, &off, size);
  if (rc != TSS2_RC_SUCCESS)
    return mu_result(what, rc, off, len, err);
  if (*size == 0)
    return rt_err_set(err, RT_E_INVALID, "%s: empty", what);
  if (*size > max)
    return rt_err_set(err, RT_E_INVALID, "%s: size %u is larger than the structure allows", what,
                      (unsigned)*size);
  if (len - off < *size)
    return rt_err_set(err, RT_E_INVALID, "%s: truncated (%zu of %u bytes)", what, len - off,
                      (unsigned)*size);
  if (len - off > *size)
    return rt_err_set(err, RT_E_INVALID, "%s: %zu trailing bytes after the structure", what,
                      len - off - *size);
  return RT_OK;
}

rt_code rt_tpm_pub_unmarshal(const uint8_t *buf, size_t len, TPM2B_PUBLIC *out, rt_err *err) {
  TPM2B_PUBLIC tmp = {0};
  if (buf == NULL || out == NULL)
    return rt_err_set(err, RT_E_INVALID, "TPM2B_PUBLIC: no input");
  rt_code code = tpm2b_size("TPM2B_PUBLIC", buf, len, sizeof tmp.publicArea, &tmp.size, err);
  if (code != RT_OK)
    return code;
  size_t off = 0;
  TSS2_RC rc = Tss2_MU_TPMT_PUBLIC_Unmarshal(buf + 2, tmp.size, &off, &tmp.publicArea);
  code = mu_result("TPM2B_PUBLIC", rc, off, tmp.size, err);
  if (code != RT_OK)
    return code;
  *out = tmp;
  return RT_OK;
}

rt_code rt_tpm_sig_unmarshal(const uint8_t *buf, size_t len, TPMT_SIGNATURE *out, rt_err *err) {
  TPMT_SIGNATURE tmp = {0};
  size_t off = 0;
  if (buf == NULL || out == NULL)
    return rt_err_set(err, RT_E_INVALID, "TPMT_SIGNATURE: no input");
  TSS2_RC rc = Tss2_MU_TPMT_SIGNATURE_Unmarshal(buf, len, &off, &tmp);
  rt_code code = mu_result("TPMT_SIGNATURE", rc, off, len, err);
  if (code != RT_OK)
    return code;
  *out = tmp;
  return RT_OK;
}

rt_code rt_tpm_attest_unmarshal(const uint8_t *buf, size_t len, TPMS_ATTEST *out,
                                const uint8_t **data, size_t *data_len, rt_err *err) {
  TPMS_ATTEST tmp = {0};
  UINT16 size = 0;
  if (buf == NULL || out == NULL || data == NULL || data_len == NULL)
    return rt_err_set(err, RT_E_INVALID, "TPM2B_ATTEST: no input");
  rt_code code = tpm2b_size("TPM2B_ATTEST", buf, len, sizeof tmp, &size, err);
  if (code != RT_OK)
    return code;
  size_t off = 0;
  TSS2_RC rc = Tss2_MU_TPMS_ATTEST_Unmarshal(buf + 2, size, &off, &tmp);
  code = mu_result("TPMS_ATTEST", rc, off, size, err);
  if (code != RT_OK)
    return code;
  if (tmp.magic != TPM2_GENERATED_VALUE)
    return rt_err_set(err, RT_E_INVALID,
                      "TPMS_ATTEST: magic 0x%08x is not TPM_GENERATED_VALUE: not made by a TPM",
                      (unsigned)tmp.magic);
  *out = tmp;
  /* attestationData, the signed bytes, follows the 2-byte size. */
  *data = buf + 2;
  *data_len = size;
  return RT_OK;
}

/* Where the keys are built: the library context and property query of
 * rt_tpm_pub_to_evp_ex. */
typedef struct {
  OSSL_LIB_CTX *libctx;
  const char *propq;
} ossl_where;

static rt_code fromdata(const ossl_where *at, const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **out,
                        rt_err *err) {
  OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(at->libctx, type, at->propq);
  int ok = params != NULL && ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
           EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  return ok ? RT_OK : rt_ossl_err(err, "building the public key");
}

static rt_code rsa_to_evp(const ossl_where *at, const TPMT_PUBLIC *pub, EVP_PKEY **out,
                          rt_err *err) {
  const TPMS_RSA_PARMS *p = &pub->parameters.rsaDetail;
  unsigned bits = p->keyBits;
  if (bits != 1024 && bits != 2048 && bits != 3072 && bits != 4096)
    return rt_err_set(err, RT_E_INVALID, "unsupported RSA key size %u bits", bits);
  if (pub->unique.rsa.size != bits / 8)
    return rt_err_set(err, RT_E_INVALID, "RSA modulus is %u bytes, keyBits says %u",
                      (unsigned)pub->unique.rsa.size, bits / 8);
  uint32_t exponent = p->exponent != 0 ? p->exponent : 65537;
  if (exponent < 3 || exponent % 2 == 0)
    return rt_err_set(err, RT_E_INVALID, "RSA exponent %u is not an odd number above 2",
                      (unsigned)exponent);
  BIGNUM *n = BN_bin2bn(pub->unique.rsa.buffer, pub->unique.rsa.size, NULL);
  BIGNUM *e = BN_new();
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  rt_code code = RT_OK;
  if (n == NULL || e == NULL || bld == NULL || BN_set_word(e, exponent) != 1)
    code = rt_ossl_err(err, "RSA key");
  else if ((unsigned)BN_num_bits(n) != bits || !BN_is_odd(n))
    code = rt_err_set(err, RT_E_INVALID, "RSA modulus is not an odd %u-bit number", bits);
  else if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
           OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
    code = rt_ossl_err(err, "RSA key parameters");
  else
    code = fromdata(at, "RSA", bld, out, err);
  OSSL_PARAM_BLD_free(bld);
  BN_free(n);
  BN_free(e);
  return code;
}

/* The EC key at point on group: copied from the curve's blank key in the
 * default context (rt_ec_blank.h), else by EVP_PKEY_fromdata. */
static rt_code ec_key(const ossl_where *at, const char *group, const uint8_t *point, size_t len,
                      EVP_PKEY **out, rt_err *err) {
  if (at->libctx == NULL && at->propq == NULL) {
    int r = rt_ec_blank_key(group, point, len, out);
    if (r >= 0)
      return r == 1 ? RT_OK : rt_err_set(err, RT_E_INVALID, "ECC point refused by OpenSSL");
  }
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  if (bld == NULL ||
      OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, len) != 1) {
    OSSL_PARAM_BLD_free(bld);
    return rt_ossl_err(err, "ECC key parameters");
  }
  rt_code code = fromdata(at, "EC", bld, out, err);
  OSSL_PARAM_BLD_free(bld);
  return code;
}

static rt_code ecc_to_evp(const ossl_where *at, const TPMT_PUBLIC *pub, EVP_PKEY **out,
                          rt_err *err) {
  const char *group, *curve;
  size_t field;
  switch (pub->parameters.eccDetail.curveID) {
  case TPM2_ECC_NIST_P256:
    group = "prime256v1", curve = "P-256", field = 32;
    break;
  case TPM2_ECC_NIST_P384:
    group = "secp384r1", curve = "P-384", field = 48;
    break;
  case TPM2_ECC_NIST_P521:
    group = "secp521r1", curve = "P-521", field = 66;
    break;
  default:
    return rt_err_set(err, RT_E_INVALID,
                      "unsupported ECC curve 0x%04x (NIST P-256, P-384 and P-521 are)",
                      (unsigned)pub->parameters.eccDetail.curveID);
  }
  const TPM2B_ECC_PARAMETER *x = &pub->unique.ecc.x, *y = &pub->unique.ecc.y;
  if (x->size == 0 || y->size == 0 || x->size > field || y->size > field)
    return rt_err_set(err, RT_E_INVALID, "ECC point coordinates of %u and %u bytes do not fit %s",
                      (unsigned)x->size, (unsigned)y->size, curve);
  /* SEC1 uncompressed encoding: 0x04 || x || y, coordinates left-padded. */
  uint8_t point[1 + 2 * 66] = {0x04};
  memcpy(point + 1 + field - x->size, x->buffer, x->size);
  memcpy(point + 1 + 2 * field - y->size, y->buffer, y->size);
  /* The point must be on the curve (an invalid-curve point would let a
   * client learn our ECDH secrets bit by bit): the key's making refuses a
   * point off the curve, and the quick public check refuses that,
   * coordinates outside the field and the point at infinity once more. The
   * full check would add n * Q == infinity, a scalar multiplication as
   * costly as the ECDH itself, which proves nothing more on these curves:
   * their cofactor is 1, so every point on the curve but infinity has the
   * group's prime order. Callers (rt_seed.c) rely on this check and do not
   * repeat it. */
  EVP_PKEY *pkey = NULL;
  rt_code code = ec_key(at, group, point, 1 + 2 * field, &pkey, err);
  EVP_PKEY_CTX *check =
      code == RT_OK ? EVP_PKEY_CTX_new_from_pkey(at->libctx, pkey, at->propq) : NULL;
  if (code != RT_OK || check == NULL || EVP_PKEY_public_check_quick(check) != 1) {
    ERR_clear_error();
    EVP_PKEY_CTX_free(check);
    EVP_PKEY_free(pkey);
    return rt_err_set(err, RT_E_INVALID, "ECC public key is not a valid point on %s", curve);
  }
  EVP_PKEY_CTX_free(check);
  *out = pkey;
  return RT_OK;
}

rt_code rt_tpm_pub_to_evp(const TPMT_PUBLIC *pub, EVP_PKEY **out, rt_err *err) {
  return rt_tpm_pub_to_evp_ex(pub, NULL, NULL, out, err);
}

rt_code rt_tpm_pub_to_evp_ex(const TPMT_PUBLIC *pub, OSSL_LIB_CTX *libctx, const char *propq,
                             EVP_PKEY **out, rt_err *err) {
  if (out == NULL || pub == NULL)
    return rt_err_set(err, RT_E_INVALID, "public key: no input");
  *out = NULL;
  ossl_where at = {.libctx = libctx, .propq = propq};
  switch (pub->type) {
  case TPM2_ALG_RSA:
    return rsa_to_evp(&at, pub, out, err);
  case TPM2_ALG_ECC:
    return ecc_to_evp(&at, pub, out, err);
  default:
    return rt_err_set(err, RT_E_INVALID,
                      "unsupported TPM key type 0x%04x (only RSA and ECC keys are)",
                      (unsigned)pub->type);
  }
}

rt_code rt_tpm_pub_name(const TPMT_PUBLIC *pub, TPM2B_NAME *name, rt_err *err) {
  if (pub == NULL || name == NULL)
    return rt_err_set(err, RT_E_INVALID, "name: no input");
  const char *md_name = rt_tpm_hash_name(pub->nameAlg);
  if (md_name == NULL)
    return rt_err_set(err, RT_E_INVALID, "name: unsupported nameAlg 0x%04x",
                      (unsigned)pub->nameAlg);
  uint8_t buf[sizeof(TPMT_PUBLIC)];
  size_t len = 0;
  TSS2_RC rc = Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, sizeof buf, &len);
  if (rc != TSS2_RC_SUCCESS)
    return rt_err_set(err, RT_E_INVALID, "name: the public area does not marshal (%s)",
                      Tss2_RC_Decode(rc));
  size_t off = 0;
  TPM2B_NAME tmp = {0};
  rc = Tss2_MU_UINT16_Marshal(pub->nameAlg, tmp.name, sizeof tmp.name, &off);
  EVP_MD *md = EVP_MD_fetch(NULL, md_name, NULL);
  unsigned dlen = 0;
  if (rc != TSS2_RC_SUCCESS || md == NULL ||
      EVP_Digest(buf, len, tmp.name + off, &dlen, md, NULL) != 1) {
    EVP_MD_free(md);
    return rt_ossl_err(err, "name digest");
  }
  EVP_MD_free(md);
  tmp.size = (UINT16)(off + dlen);
  *name = tmp;
  return RT_OK;
}

int rt_tpm_pub_matches(const TPMT_PUBLIC *pub, EVP_PKEY *pkey) {
  EVP_PKEY *mine = NULL;
  if (pkey == NULL || rt_tpm_pub_to_evp(pub, &mine, NULL) != RT_OK)
    return 0;
  int eq = EVP_PKEY_eq(mine, pkey) == 1;
  EVP_PKEY_free(mine);
  ERR_clear_error();
  return eq;
}

TPMI_ALG_HASH rt_tpm_sig_hash(const TPMT_SIGNATURE *sig) {
  if (sig == NULL)
    return TPM2_ALG_NULL;
  switch (sig->sigAlg) {
  case TPM2_ALG_RSASSA:
    return sig->signature.rsassa.hash;
  case TPM2_ALG_RSAPSS:
    return sig->signature.rsapss.hash;
  case TPM2_ALG_ECDSA:
    return sig->signature.ecdsa.hash;
  default:
    return TPM2_ALG_NULL;
  }
}

rt_code rt_tpm_sig_ecdsa_der(const TPMS_SIGNATURE_ECC *ecc, uint8_t **der, size_t *der_len,
                             rt_err *err) {
  ECDSA_SIG *s = ECDSA_SIG_new();
  BIGNUM *r = BN_bin2bn(ecc->signatureR.buffer, ecc->signatureR.size, NULL);
  BIGNUM *sv = BN_bin2bn(ecc->signatureS.buffer, ecc->signatureS.size, NULL);
  if (s == NULL || r == NULL || sv == NULL || ECDSA_SIG_set0(s, r, sv) != 1) {
    ECDSA_SIG_free(s);
    BN_free(r);
    BN_free(sv);
    return rt_ossl_err(err, "ECDSA signature");
  }
  unsigned char *p = NULL;
  int n = i2d_ECDSA_SIG(s, &p);
  ECDSA_SIG_free(s);
  if (n <= 0)
    return rt_ossl_err(err, "ECDSA signature encoding");
  *der = p;
  *der_len = (size_t)n;
  return RT_OK;
}

static const char *scheme_name(TPMI_ALG_SIG_SCHEME scheme) {
  switch (scheme) {
  case TPM2_ALG_RSASSA:
    return "RSASSA";
  case TPM2_ALG_RSAPSS:
    return "RSAPSS";
  case TPM2_ALG_ECDSA:
    return "ECDSA";
  default:
    return "?";
  }
}

rt_code rt_tpm_sig_verify(EVP_PKEY *key, const TPMT_SIGNATURE *sig, const uint8_t *msg,
                          size_t msg_len, rt_err *err) {
  if (key == NULL || sig == NULL || (msg == NULL && msg_len > 0))
    return rt_err_set(err, RT_E_INVALID, "signature: no key, signature or message");
  int key_type = EVP_PKEY_get_base_id(key);
  const uint8_t *sig_bytes = NULL;
  size_t sig_len = 0;
  uint8_t *der = NULL;
  int padding = 0;
  switch (sig->sigAlg) {
  case TPM2_ALG_RSASSA:
  case TPM2_ALG_RSAPSS:
    if (key_type != EVP_PKEY_RSA &&
        !(key_type == EVP_PKEY_RSA_PSS && sig->sigAlg == TPM2_ALG_RSAPSS))
      return rt_err_set(err, RT_E_INVALID, "signature: %s signature with a non-RSA key",
                        scheme_name(sig->sigAlg));
    /* rsassa and rsapss share the TPMS_SIGNATURE_RSA layout. */
    sig_bytes = sig->signature.rsassa.sig.buffer;
    sig_len = sig->signature.rsassa.sig.size;
    padding = sig->sigAlg == TPM2_ALG_RSASSA ? RSA_PKCS1_PADDING : RSA_PKCS1_PSS_PADDING;
    break;
  case TPM2_ALG_ECDSA:
    if (key_type != EVP_PKEY_EC)
      return rt_err_set(err, RT_E_INVALID, "signature: ECDSA signature with a non-EC key");
    break;
  default:
    return rt_err_set(err, RT_E_INVALID, "signature: unsupported scheme 0x%04x",
                      (unsigned)sig->sigAlg);
  }
  TPMI_ALG_HASH hash = rt_tpm_sig_hash(sig);
  const char *md = rt_tpm_hash_name(hash);
  if (md == NULL)
    return rt_err_set(err, RT_E_INVALID, "signature: unsupported hash 0x%04x in a %s signature",
                      (unsigned)hash, scheme_name(sig->sigAlg));
  if (sig->sigAlg == TPM2_ALG_ECDSA) {
    rt_code code = rt_tpm_sig_ecdsa_der(&sig->signature.ecdsa, &der, &sig_len, err);
    if (code != RT_OK)
      return code;
    sig_bytes = der;
  }

  EVP_MD_CTX *mctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pctx = NULL;
  rt_code code = RT_OK;
  if (mctx == NULL || EVP_DigestVerifyInit_ex(mctx, &pctx, md, NULL, NULL, key, NULL) != 1 ||
      (padding != 0 && EVP_PKEY_CTX_set_rsa_padding(pctx, padding) != 1) ||
      (padding == RSA_PKCS1_PSS_PADDING &&
       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1)) {
    code = rt_ossl_err(err, "signature verification setup");
  } else if (EVP_DigestVerify(mctx, sig_bytes, sig_len, msg, msg_len) != 1) {
    ERR_clear_error();
    code = rt_err_set(err, RT_E_CRYPTO, "%s/%s signature does not verify", scheme_name(sig->sigAlg),
                      md);
  }
  EVP_MD_CTX_free(mctx);
  OPENSSL_free(der);
  return code;
}
