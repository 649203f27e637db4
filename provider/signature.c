/* Signatures with the TPM-bound key: ECDSA, RSA PKCS#1 v1.5 and RSA-PSS.
 *
 * The message is hashed in software (a digest of another provider, through
 * the child library context); only the digest goes to the TPM, one command
 * per signature: TPM2_Sign with a null ticket (the key is unrestricted), or
 * for RSA-PSS TPM2_RSA_Decrypt with the null scheme on a block padded here.
 * Padding in software gives exactly the salt length the caller asked for
 * (TLS 1.3 demands salt = digest length, and TPMs following FIPS 186 use
 * the maximum with TPM2_Sign). Verification is pure public-key work and is
 * delegated to another provider. */
/* RSA_padding_add_PKCS1_PSS_mgf1 is deprecated in OpenSSL 3 without an EVP
 * replacement for padding alone; it is exactly the EMSA-PSS encoding. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"
#include "rt_kdf.h"
#include "rt_tpm_pub.h"

static OSSL_FUNC_signature_newctx_fn sig_newctx_ecdsa, sig_newctx_rsa;
static OSSL_FUNC_signature_freectx_fn sig_freectx;
static OSSL_FUNC_signature_dupctx_fn sig_dupctx;
static OSSL_FUNC_signature_sign_init_fn sig_init;
static OSSL_FUNC_signature_verify_init_fn sig_init;
static OSSL_FUNC_signature_sign_fn sig_sign;
static OSSL_FUNC_signature_verify_fn sig_verify;
static OSSL_FUNC_signature_digest_sign_init_fn sig_digest_init;
static OSSL_FUNC_signature_digest_verify_init_fn sig_digest_init;
static OSSL_FUNC_signature_digest_sign_update_fn sig_digest_update;
static OSSL_FUNC_signature_digest_verify_update_fn sig_digest_update;
static OSSL_FUNC_signature_digest_sign_final_fn sig_digest_sign_final;
static OSSL_FUNC_signature_digest_verify_final_fn sig_digest_verify_final;
static OSSL_FUNC_signature_get_ctx_params_fn sig_get_ctx_params;
static OSSL_FUNC_signature_gettable_ctx_params_fn sig_gettable_ctx_params;
static OSSL_FUNC_signature_set_ctx_params_fn sig_set_ctx_params;
static OSSL_FUNC_signature_settable_ctx_params_fn sig_settable_ctx_params,
    sig_settable_ctx_params_ec;

typedef struct {
  rt_provctx *ctx;
  rt_key *key;
  int is_rsa;
  EVP_MD *md;
  EVP_MD_CTX *mdctx;
  int pad;     /* RSA_PKCS1_PADDING or RSA_PKCS1_PSS_PADDING */
  int saltlen; /* RSA_PSS_SALTLEN_* or a byte count */
  EVP_MD *mgf1;
} rt_sigctx;

/* Macros, so that errors show where they were raised. */
#define raise_err(s, err) rt_prov_raise((s)->ctx, err)
#define raise_msg(s, code, msg) raise_msg_at(s, code, msg, OPENSSL_FILE, OPENSSL_LINE, OPENSSL_FUNC)

static void raise_msg_at(const rt_sigctx *s, rt_code code, const char *msg, const char *file,
                         int line, const char *func) {
  rt_err err;
  rt_err_set(&err, code, "%s", msg);
  rt_prov_raise_at(s->ctx, &err, file, line, func);
}

static void *sig_newctx(rt_provctx *provctx, int is_rsa) {
  rt_sigctx *s = OPENSSL_zalloc(sizeof *s);
  if (s == NULL)
    return NULL;
  s->ctx = provctx;
  s->is_rsa = is_rsa;
  s->pad = RSA_PKCS1_PADDING;
  s->saltlen = RSA_PSS_SALTLEN_DIGEST;
  return s;
}

static void *sig_newctx_ecdsa(void *provctx, const char *propq) {
  (void)propq;
  return sig_newctx(provctx, 0);
}

static void *sig_newctx_rsa(void *provctx, const char *propq) {
  (void)propq;
  return sig_newctx(provctx, 1);
}

static void sig_freectx(void *vs) {
  rt_sigctx *s = vs;
  if (s == NULL)
    return;
  EVP_MD_free(s->md);
  EVP_MD_free(s->mgf1);
  EVP_MD_CTX_free(s->mdctx);
  OPENSSL_free(s);
}

static void *sig_dupctx(void *vs) {
  rt_sigctx *s = vs, *d = OPENSSL_memdup(s, sizeof *s);
  if (d == NULL)
    return NULL;
  d->mdctx = NULL;
  if ((d->md != NULL && !EVP_MD_up_ref(d->md)) || (d->mgf1 != NULL && !EVP_MD_up_ref(d->mgf1))) {
    OPENSSL_free(d);
    return NULL;
  }
  if (s->mdctx != NULL) {
    d->mdctx = EVP_MD_CTX_new();
    if (d->mdctx == NULL || !EVP_MD_CTX_copy_ex(d->mdctx, s->mdctx)) {
      sig_freectx(d);
      return NULL;
    }
  }
  return d;
}

/* The TPM's name for a digest we sign with (SHA-256, SHA-384, SHA-512),
 * TPM2_ALG_ERROR otherwise. */
static TPM2_ALG_ID tpm_hash(const EVP_MD *md) {
  static const TPM2_ALG_ID supported[] = {TPM2_ALG_SHA256, TPM2_ALG_SHA384, TPM2_ALG_SHA512};
  for (size_t i = 0; i < sizeof supported / sizeof supported[0]; i++)
    if (EVP_MD_is_a(md, rt_tpm_hash_name(supported[i])))
      return supported[i];
  return TPM2_ALG_ERROR;
}

static int set_md(rt_sigctx *s, EVP_MD **slot, const char *name) {
  EVP_MD *md = EVP_MD_fetch(s->ctx->libctx, name, RT_PROPQ_OTHERS);
  if (md == NULL || tpm_hash(md) == TPM2_ALG_ERROR) {
    EVP_MD_free(md);
    rt_err err;
    rt_err_set(&err, RT_E_INVALID, "digest %s: only SHA-256, SHA-384 and SHA-512", name);
    raise_err(s, &err);
    return 0;
  }
  EVP_MD_free(*slot);
  *slot = md;
  return 1;
}

static int sig_init(void *vs, void *provkey, const OSSL_PARAM params[]) {
  rt_sigctx *s = vs;
  rt_key *key = provkey;
  if (key != NULL) {
    if (key->type != (s->is_rsa ? EVP_PKEY_RSA : EVP_PKEY_EC)) {
      raise_msg(s, RT_E_INVALID, "key type does not fit the signature algorithm");
      return 0;
    }
    s->key = key;
  }
  if (s->key == NULL) {
    raise_msg(s, RT_E_INVALID, "no key");
    return 0;
  }
  return sig_set_ctx_params(s, params);
}

static int pss_salt(const rt_sigctx *s, size_t hlen) {
  int emlen = rt_key_bits(s->key) / 8;
  switch (s->saltlen) {
  case RSA_PSS_SALTLEN_DIGEST:
    return (int)hlen;
  case RSA_PSS_SALTLEN_MAX:
  case RSA_PSS_SALTLEN_AUTO:
    return emlen - (int)hlen - 2;
  default:
    return s->saltlen;
  }
}

/* One signature in the TPM: the digest, its algorithm, and for RSA-PSS the
 * EMSA-PSS block the TPM's raw RSA operation turns into the signature. */
typedef struct {
  const unsigned char *dgst;
  size_t dlen;
  TPM2_ALG_ID halg;
  int pss;
  unsigned char em[512];
  size_t emlen; /* the modulus size: PSS block and RSA signature length */
} sign_job;

/* The TPM's answer: a TPM2_Sign signature, or for PSS the raw RSA result. */
typedef struct {
  TPMT_SIGNATURE *sig;
  TPM2B_PUBLIC_KEY_RSA *raw;
} sign_answer;

/* The digest algorithm of a signature over dlen bytes: the one set, else
 * (EVP_PKEY_sign of a precomputed digest without one) inferred from dlen.
 * Returns 0, with the error raised, when dlen does not fit it. */
static int sign_md(rt_sigctx *s, size_t dlen, EVP_MD **fetched, const EVP_MD **md) {
  *fetched = NULL;
  *md = s->md;
  if (*md == NULL) {
    const char *name = dlen == 48 ? "SHA384" : dlen == 64 ? "SHA512" : "SHA256";
    *md = *fetched = EVP_MD_fetch(s->ctx->libctx, name, RT_PROPQ_OTHERS);
  }
  if (*md == NULL || (size_t)EVP_MD_get_size(*md) != dlen) {
    raise_msg(s, RT_E_INVALID, "digest length does not fit the digest algorithm");
    return 0;
  }
  return 1;
}

/* RSA-PSS in the TPM is a raw RSA operation (TPM2_RSA_Decrypt with the null
 * scheme) on a block padded here, which only a decrypt key without a scheme
 * does. */
static int pss_encode(rt_sigctx *s, const EVP_MD *md, sign_job *job) {
  rt_err err;
  EVP_PKEY *soft = rt_key_soft(s->key, &err);
  const RSA *rsa = soft != NULL ? EVP_PKEY_get0_RSA(soft) : NULL;
  const TPMT_PUBLIC *pub = &s->key->pub;
  if (rsa == NULL) {
    raise_msg(s, RT_E_INVALID, "no public key for PSS padding");
    return 0;
  }
  if (!(pub->objectAttributes & TPMA_OBJECT_DECRYPT) ||
      pub->parameters.rsaDetail.scheme.scheme != TPM2_ALG_NULL) {
    raise_msg(s, RT_E_INVALID, "RSA-PSS needs a key with the decrypt attribute and no scheme");
    return 0;
  }
  int salt = pss_salt(s, job->dlen);
  if (salt < 0 || !RSA_padding_add_PKCS1_PSS_mgf1((RSA *)rsa, job->em, job->dgst, md,
                                                  s->mgf1 != NULL ? s->mgf1 : md, salt)) {
    raise_msg(s, RT_E_CRYPTO, "PSS padding failed (salt too long for the key?)");
    return 0;
  }
  return 1;
}

/* Fills job: the digest's TPM algorithm and for PSS the padded block.
 * Returns 0 with the error raised. */
static int sign_prepare(rt_sigctx *s, sign_job *job) {
  EVP_MD *fetched = NULL;
  const EVP_MD *md = NULL;
  int ok = sign_md(s, job->dlen, &fetched, &md);
  if (ok && (job->halg = tpm_hash(md)) == TPM2_ALG_ERROR) {
    raise_msg(s, RT_E_INVALID, "unsupported digest");
    ok = 0;
  }
  if (ok && job->pss)
    ok = pss_encode(s, md, job);
  EVP_MD_free(fetched);
  return ok;
}

static TSS2_RC esys_rsa_raw(rt_tpm *tpm, ESYS_TR key, ESYS_TR auth, const sign_job *job,
                            TPM2B_PUBLIC_KEY_RSA **out) {
  TPM2B_PUBLIC_KEY_RSA in = {.size = (UINT16)job->emlen};
  memcpy(in.buffer, job->em, job->emlen);
  TPMT_RSA_DECRYPT scheme = {.scheme = TPM2_ALG_NULL};
  TPM2B_DATA label = {.size = 0};
  TSS2_RC trc =
      Esys_RSA_Decrypt(tpm->esys, key, auth, ESYS_TR_NONE, ESYS_TR_NONE, &in, &scheme, &label, out);
  OPENSSL_cleanse(&in, sizeof in);
  return trc;
}

/* TPM2_Sign with a null ticket: the key is unrestricted. */
static TSS2_RC esys_sign(rt_tpm *tpm, ESYS_TR key, ESYS_TR auth, int is_rsa, const sign_job *job,
                         TPMT_SIGNATURE **out) {
  TPM2B_DIGEST digest = {.size = (UINT16)job->dlen};
  memcpy(digest.buffer, job->dgst, job->dlen);
  TPMT_SIG_SCHEME scheme = {.scheme = is_rsa ? TPM2_ALG_RSASSA : TPM2_ALG_ECDSA};
  scheme.details.any.hashAlg = job->halg;
  TPMT_TK_HASHCHECK ticket = {.tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL};
  return Esys_Sign(tpm->esys, key, auth, ESYS_TR_NONE, ESYS_TR_NONE, &digest, &scheme, &ticket,
                   out);
}

/* Runs the one signing command under the connection's lock. The session
 * (PCR-bound keys only) is started, used and flushed under the same lock:
 * a process sharing the connection never sees it. */
static rt_code sign_in_tpm(rt_sigctx *s, const sign_job *job, sign_answer *ans, rt_err *err) {
  rt_tpm *tpm = NULL;
  rt_code rc = rt_prov_tpm_acquire(s->ctx, &tpm, err);
  if (rc != RT_OK)
    return rc;
  ESYS_TR tr, auth = ESYS_TR_NONE;
  rc = rt_key_tr(s->key, tpm, &tr, err);
  if (rc == RT_OK)
    rc = rt_key_auth(s->key, tpm, &auth, err);
  TSS2_RC trc = TSS2_RC_SUCCESS;
  if (rc == RT_OK)
    trc = job->pss ? esys_rsa_raw(tpm, tr, auth, job, &ans->raw)
                   : esys_sign(tpm, tr, auth, s->is_rsa, job, &ans->sig);
  rt_tpm_flush(tpm, &auth);
  if (rc == RT_OK && trc != TSS2_RC_SUCCESS)
    rc = rt_key_auth_fail(s->key, trc, job->pss ? "TPM2_RSA_Decrypt (PSS)" : "TPM2_Sign", err);
  rt_prov_tpm_release(s->ctx);
  return rc;
}

/* An RSA signature is modulus-sized; the TPM may drop leading zero bytes. */
static int rsa_sig_out(const TPM2B_PUBLIC_KEY_RSA *r, size_t emlen, unsigned char *sig,
                       size_t *siglen, size_t sigsize) {
  if (r->size > emlen || sigsize < emlen)
    return 0;
  memset(sig, 0, emlen - r->size);
  memcpy(sig + emlen - r->size, r->buffer, r->size);
  *siglen = emlen;
  return 1;
}

/* An ECDSA signature is the DER ECDSA-Sig-Value of the TPM's r and s. */
static int ecdsa_sig_out(const TPMS_SIGNATURE_ECC *ecc, unsigned char *sig, size_t *siglen,
                         size_t sigsize) {
  uint8_t *der = NULL;
  size_t der_len = 0;
  rt_err err;
  if (rt_tpm_sig_ecdsa_der(ecc, &der, &der_len, &err) != RT_OK)
    return 0;
  int ok = der_len <= sigsize;
  if (ok) {
    memcpy(sig, der, der_len);
    *siglen = der_len;
  }
  OPENSSL_free(der);
  return ok;
}

/* The signature over a digest, made in the TPM. */
static int tpm_sign(rt_sigctx *s, unsigned char *sig, size_t *siglen, size_t sigsize,
                    const unsigned char *dgst, size_t dlen) {
  sign_job job = {.dgst = dgst,
                  .dlen = dlen,
                  .pss = s->is_rsa && s->pad == RSA_PKCS1_PSS_PADDING,
                  .emlen = (size_t)rt_key_bits(s->key) / 8};
  if (!sign_prepare(s, &job)) {
    OPENSSL_cleanse(job.em, sizeof job.em);
    return 0;
  }
  sign_answer ans = {NULL, NULL};
  rt_err err;
  rt_code rc = sign_in_tpm(s, &job, &ans, &err);
  OPENSSL_cleanse(job.em, sizeof job.em);
  int ok = 0;
  if (rc != RT_OK)
    raise_err(s, &err);
  else if (job.pss || s->is_rsa)
    ok = rsa_sig_out(job.pss ? ans.raw : &ans.sig->signature.rsassa.sig, job.emlen, sig, siglen,
                     sigsize);
  else
    ok = ecdsa_sig_out(&ans.sig->signature.ecdsa, sig, siglen, sigsize);
  if (rc == RT_OK && !ok)
    raise_msg(s, RT_E_INVALID, "signature buffer too small or TPM answer malformed");
  Esys_Free(ans.sig);
  Esys_Free(ans.raw);
  return ok;
}

/* A software key (OpenSSL fetched our signature for another provider's
 * key): signed by that provider. */
static int soft_sign(rt_sigctx *s, unsigned char *sig, size_t *siglen, size_t sigsize,
                     const unsigned char *dgst, size_t dlen) {
  EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(s->ctx->libctx, s->key->soft, RT_PROPQ_OTHERS);
  int ok = pctx != NULL && EVP_PKEY_sign_init(pctx) > 0 &&
           (s->md == NULL || EVP_PKEY_CTX_set_signature_md(pctx, s->md) > 0);
  if (ok && s->is_rsa) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, s->pad) > 0;
    if (ok && s->pad == RSA_PKCS1_PSS_PADDING)
      ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, s->saltlen) > 0 &&
           (s->mgf1 == NULL || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, s->mgf1) > 0);
  }
  *siglen = sigsize;
  ok = ok && EVP_PKEY_sign(pctx, sig, siglen, dgst, dlen) > 0;
  EVP_PKEY_CTX_free(pctx);
  return ok;
}

static int sig_sign(void *vs, unsigned char *sig, size_t *siglen, size_t sigsize,
                    const unsigned char *tbs, size_t tbslen) {
  rt_sigctx *s = vs;
  if (s->key != NULL && s->key->is_soft && s->key->soft != NULL) {
    if (sig == NULL) {
      *siglen = (size_t)EVP_PKEY_get_size(s->key->soft);
      return 1;
    }
    return soft_sign(s, sig, siglen, sigsize, tbs, tbslen);
  }
  if (s->key == NULL || !s->key->tpm_resident) {
    raise_msg(s, RT_E_INVALID, "the key has no private part in the TPM");
    return 0;
  }
  if (sig == NULL) {
    *siglen = (size_t)rt_key_max_size(s->key);
    return 1;
  }
  return tpm_sign(s, sig, siglen, sigsize, tbs, tbslen);
}

/* Verification in software with the public key, in another provider. */
static int soft_verify(rt_sigctx *s, const unsigned char *sig, size_t siglen,
                       const unsigned char *dgst, size_t dlen) {
  rt_err err;
  EVP_PKEY *soft = rt_key_soft(s->key, &err);
  if (soft == NULL) {
    raise_err(s, &err);
    return 0;
  }
  EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(s->ctx->libctx, soft, RT_PROPQ_OTHERS);
  int ok = pctx != NULL && EVP_PKEY_verify_init(pctx) > 0 &&
           (s->md == NULL || EVP_PKEY_CTX_set_signature_md(pctx, s->md) > 0);
  if (ok && s->is_rsa) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, s->pad) > 0;
    if (ok && s->pad == RSA_PKCS1_PSS_PADDING)
      ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(
               pctx, s->saltlen == RSA_PSS_SALTLEN_DIGEST ? (int)dlen : s->saltlen) > 0 &&
           (s->mgf1 == NULL || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, s->mgf1) > 0);
  }
  ok = ok && EVP_PKEY_verify(pctx, sig, siglen, dgst, dlen) > 0;
  EVP_PKEY_CTX_free(pctx);
  return ok;
}

static int sig_verify(void *vs, const unsigned char *sig, size_t siglen, const unsigned char *tbs,
                      size_t tbslen) {
  return soft_verify(vs, sig, siglen, tbs, tbslen);
}

static int sig_digest_init(void *vs, const char *mdname, void *provkey, const OSSL_PARAM params[]) {
  rt_sigctx *s = vs;
  if (!sig_init(s, provkey, params))
    return 0;
  if (mdname == NULL || mdname[0] == '\0')
    mdname = rt_key_curve_nid(s->key) == NID_secp384r1 ? "SHA384" : "SHA256";
  if (!set_md(s, &s->md, mdname))
    return 0;
  if (s->mdctx == NULL && (s->mdctx = EVP_MD_CTX_new()) == NULL)
    return 0;
  return EVP_DigestInit_ex2(s->mdctx, s->md, NULL);
}

static int sig_digest_update(void *vs, const unsigned char *data, size_t len) {
  rt_sigctx *s = vs;
  return s->mdctx != NULL && EVP_DigestUpdate(s->mdctx, data, len);
}

static int sig_digest_sign_final(void *vs, unsigned char *sig, size_t *siglen, size_t sigsize) {
  rt_sigctx *s = vs;
  unsigned char dgst[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  if (sig == NULL)
    return sig_sign(s, NULL, siglen, sigsize, NULL, 0);
  if (s->mdctx == NULL || !EVP_DigestFinal_ex(s->mdctx, dgst, &dlen))
    return 0;
  return sig_sign(s, sig, siglen, sigsize, dgst, dlen);
}

static int sig_digest_verify_final(void *vs, const unsigned char *sig, size_t siglen) {
  rt_sigctx *s = vs;
  unsigned char dgst[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  if (s->mdctx == NULL || !EVP_DigestFinal_ex(s->mdctx, dgst, &dlen))
    return 0;
  return soft_verify(s, sig, siglen, dgst, dlen);
}

static int sig_get_ctx_params(void *vs, OSSL_PARAM params[]) {
  rt_sigctx *s = vs;
  OSSL_PARAM *p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST);
  if (p != NULL && s->md != NULL && !OSSL_PARAM_set_utf8_string(p, EVP_MD_get0_name(s->md)))
    return 0;
  return 1;
}

static const OSSL_PARAM *sig_gettable_ctx_params(void *vs, void *provctx) {
  (void)vs;
  (void)provctx;
  static const OSSL_PARAM t[] = {OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
                                 OSSL_PARAM_END};
  return t;
}

static int sig_set_ctx_params(void *vs, const OSSL_PARAM params[]) {
  rt_sigctx *s = vs;
  const OSSL_PARAM *p;
  if (params == NULL)
    return 1;
  if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST)) != NULL) {
    const char *name = NULL;
    if (!OSSL_PARAM_get_utf8_string_ptr(p, &name) || !set_md(s, &s->md, name))
      return 0;
  }
  if (!s->is_rsa)
    return 1;
  if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) != NULL) {
    int pad = 0;
    if (p->data_type == OSSL_PARAM_UTF8_STRING) {
      const char *v = p->data;
      pad = strcmp(v, OSSL_PKEY_RSA_PAD_MODE_PKCSV15) == 0 ? RSA_PKCS1_PADDING
            : strcmp(v, OSSL_PKEY_RSA_PAD_MODE_PSS) == 0   ? RSA_PKCS1_PSS_PADDING
                                                           : 0;
    } else if (!OSSL_PARAM_get_int(p, &pad)) {
      return 0;
    }
    if (pad != RSA_PKCS1_PADDING && pad != RSA_PKCS1_PSS_PADDING) {
      raise_msg(s, RT_E_INVALID, "RSA padding: only PKCS#1 v1.5 and PSS");
      return 0;
    }
    s->pad = pad;
  }
  if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) != NULL) {
    int salt;
    if (p->data_type == OSSL_PARAM_UTF8_STRING) {
      const char *v = p->data;
      if (strcmp(v, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST) == 0)
        salt = RSA_PSS_SALTLEN_DIGEST;
      else if (strcmp(v, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX) == 0)
        salt = RSA_PSS_SALTLEN_MAX;
      else if (strcmp(v, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO) == 0)
        salt = RSA_PSS_SALTLEN_AUTO;
      else
        salt = atoi(v);
    } else if (!OSSL_PARAM_get_int(p, &salt)) {
      return 0;
    }
    if (salt < RSA_PSS_SALTLEN_MAX) {
      raise_msg(s, RT_E_INVALID, "invalid PSS salt length");
      return 0;
    }
    s->saltlen = salt;
  }
  if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) != NULL) {
    const char *name = NULL;
    if (!OSSL_PARAM_get_utf8_string_ptr(p, &name) || !set_md(s, &s->mgf1, name))
      return 0;
  }
  return 1;
}

static const OSSL_PARAM *sig_settable_ctx_params(void *vs, void *provctx) {
  (void)vs;
  (void)provctx;
  static const OSSL_PARAM t[] = {OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
                                 OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
                                 OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
                                 OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
                                 OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
                                 OSSL_PARAM_END};
  return t;
}

static const OSSL_PARAM *sig_settable_ctx_params_ec(void *vs, void *provctx) {
  (void)vs;
  (void)provctx;
  static const OSSL_PARAM t[] = {OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
                                 OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
                                 OSSL_PARAM_END};
  return t;
}

#define RT_SIGNATURE_COMMON                                                                        \
  {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sig_freectx},                                      \
      {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))sig_dupctx},                                    \
      {OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))sig_init},                                   \
      {OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))sig_sign},                                        \
      {OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))sig_init},                                 \
      {OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))sig_verify},                                    \
      {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))sig_digest_init},                     \
      {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, (void (*)(void))sig_digest_update},                 \
      {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, (void (*)(void))sig_digest_sign_final},              \
      {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, (void (*)(void))sig_digest_init},                   \
      {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, (void (*)(void))sig_digest_update},               \
      {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, (void (*)(void))sig_digest_verify_final},          \
      {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))sig_get_ctx_params},                    \
      {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))sig_gettable_ctx_params}, {        \
    OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))sig_set_ctx_params                         \
  }

const OSSL_DISPATCH rt_signature_ecdsa_functions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sig_newctx_ecdsa},
    RT_SIGNATURE_COMMON,
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))sig_settable_ctx_params_ec},
    {0, NULL}};

const OSSL_DISPATCH rt_signature_rsa_functions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sig_newctx_rsa},
    RT_SIGNATURE_COMMON,
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))sig_settable_ctx_params},
    {0, NULL}};
