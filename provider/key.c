/* The key object shared by keymgmt, signature, store, decoder and encoder:
 * its TPM public area, where the private part lives in the TPM, and a
 * software copy of the public key for what needs no TPM. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <unistd.h>

#include "provider.h"
#include "rt_ek_parent.h"
#include "rt_pcr_session.h"
#include "rt_srk.h"
#include "rt_tpm_meta.h"
#include "rt_tpm_pub.h"

rt_key *rt_key_new(rt_provctx *ctx) {
  rt_key *key = OPENSSL_zalloc(sizeof *key);
  if (key == NULL)
    return NULL;
  key->magic = RT_KEY_MAGIC;
  key->ctx = ctx;
  key->tr = ESYS_TR_NONE;
  return key;
}

void rt_key_free_file(rt_tss2key *file) {
  if (file != NULL)
    OPENSSL_clear_free(file, sizeof *file);
}

void rt_key_free(rt_key *key) {
  if (key == NULL)
    return;
  /* Persistent keys are not closed: ESYS hands out one ESYS_TR per TPM
   * handle and context, shared by every key object of that handle, and
   * Esys_Finalize releases it. Loaded file keys are ours alone: flushed. */
  if (key->tr != ESYS_TR_NONE && key->persistent == 0) {
    rt_tpm *tpm = NULL;
    rt_err err;
    /* Only the process that loaded it flushes it: a fork child shares the
     * connection, and its copy of the key object must leave the parent's
     * TPM object alone. */
    if (rt_prov_tpm_acquire(key->ctx, &tpm, &err) == RT_OK) {
      if (key->pid == getpid())
        rt_tpm_flush(tpm, &key->tr);
      rt_prov_tpm_release(key->ctx);
    }
  }
  rt_key_free_file(key->file);
  EVP_PKEY_free(key->soft);
  key->magic = 0;
  OPENSSL_free(key);
}

void rt_key_move(rt_key *dst, rt_key *src) {
  EVP_PKEY_free(dst->soft);
  rt_key_free_file(dst->file);
  *dst = *src;
  src->type = 0;
  src->tpm_resident = 0;
  src->persistent = 0;
  src->file = NULL;
  src->tr = ESYS_TR_NONE;
  src->soft = NULL;
}

rt_code rt_key_set_public(rt_key *key, const TPMT_PUBLIC *pub, rt_err *err) {
  if (pub->type == TPM2_ALG_ECC) {
    TPMI_ECC_CURVE c = pub->parameters.eccDetail.curveID;
    if (c != TPM2_ECC_NIST_P256 && c != TPM2_ECC_NIST_P384)
      return rt_err_set(err, RT_E_INVALID, "EC key on curve 0x%04x: only P-256 and P-384", c);
    key->type = EVP_PKEY_EC;
  } else if (pub->type == TPM2_ALG_RSA) {
    TPMI_RSA_KEY_BITS b = pub->parameters.rsaDetail.keyBits;
    if (b != 2048 && b != 3072)
      return rt_err_set(err, RT_E_INVALID, "RSA key of %u bits: only 2048 and 3072", b);
    if (pub->unique.rsa.size != b / 8)
      return rt_err_set(err, RT_E_INVALID, "RSA modulus of %u bytes for a %u-bit key",
                        pub->unique.rsa.size, b);
    key->type = EVP_PKEY_RSA;
  } else {
    return rt_err_set(err, RT_E_INVALID, "key type 0x%04x: only EC and RSA", pub->type);
  }
  if (!(pub->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT))
    return rt_err_set(err, RT_E_INVALID, "the key is not a signing key");
  key->pub = *pub;
  return RT_OK;
}

int rt_key_curve_nid(const rt_key *key) {
  if (key->type != EVP_PKEY_EC)
    return NID_undef;
  return key->pub.parameters.eccDetail.curveID == TPM2_ECC_NIST_P384 ? NID_secp384r1
                                                                     : NID_X9_62_prime256v1;
}

int rt_key_bits(const rt_key *key) {
  if (key->type == EVP_PKEY_RSA)
    return key->pub.parameters.rsaDetail.keyBits;
  return rt_key_curve_nid(key) == NID_secp384r1 ? 384 : 256;
}

int rt_key_security_bits(const rt_key *key) {
  if (key->type == EVP_PKEY_RSA)
    return rt_key_bits(key) >= 3072 ? 128 : 112; /* NIST SP 800-57 */
  return rt_key_bits(key) / 2;
}

int rt_key_max_size(const rt_key *key) {
  if (key->type == EVP_PKEY_RSA)
    return rt_key_bits(key) / 8;
  /* DER ECDSA-Sig-Value: SEQUENCE of two INTEGERs, each possibly one byte
   * longer than the field for the sign bit. */
  int n = rt_key_bits(key) / 8 + 1;
  return 3 + 2 * (2 + n) + (rt_key_bits(key) > 256 ? 1 : 0);
}

/* The software copy of the public key, built once (rt_tpm_pub, in the child
 * library context, away from this provider). */
static EVP_PKEY *build_soft(rt_key *key, rt_err *err) {
  if (key->soft != NULL)
    return key->soft;
  if (key->is_soft)
    rt_err_set(err, RT_E_INVALID, "empty key");
  else if (rt_tpm_pub_to_evp_ex(&key->pub, key->ctx->libctx, RT_PROPQ_OTHERS, &key->soft, err) !=
           RT_OK)
    rt_err_prefix(err, "the public key in software: ");
  return key->soft;
}

EVP_PKEY *rt_key_soft(rt_key *key, rt_err *err) {
  pthread_mutex_lock(&key->ctx->soft_lock);
  EVP_PKEY *pk = build_soft(key, err);
  pthread_mutex_unlock(&key->ctx->soft_lock);
  return pk;
}

/* The SRK as a transient object, for a key file's load. The first load
 * makes it (CreatePrimary: on a hardware TPM a derivation from the owner
 * seed, the slow part of a load) and saves its context (ContextSave); later
 * loads in this provider instance, forked children too, load that context
 * (ContextLoad) instead. A saved context holds no TPM memory, whereas an SRK
 * kept loaded would take one of the three object slots a TPM without a
 * resource manager may have. The TPM protects the context's integrity; one
 * it no longer accepts (after TPM2_Startup(CLEAR)) is dropped and the SRK
 * made again. A failed save only costs the next load a CreatePrimary. */
static rt_code srk_get(rt_provctx *ctx, rt_tpm *tpm, ESYS_TR *srk, rt_err *err) {
  *srk = ESYS_TR_NONE;
  if (ctx->srk_saved != NULL) {
    if (Esys_ContextLoad(tpm->esys, ctx->srk_saved, srk) == TSS2_RC_SUCCESS)
      return RT_OK;
    *srk = ESYS_TR_NONE;
    Esys_Free(ctx->srk_saved);
    ctx->srk_saved = NULL;
  }
  rt_code rc = rt_srk_create(tpm, srk, NULL, err);
  if (rc != RT_OK)
    return rt_err_prefix(err, "creating the SRK: ");
  TPMS_CONTEXT *saved = NULL;
  if (Esys_ContextSave(tpm->esys, *srk, &saved) == TSS2_RC_SUCCESS)
    ctx->srk_saved = saved;
  return RT_OK;
}

/* Loads the file key under its parent, which is one of the two a key file
 * can name that need no password and no persistent object of ours:
 *   - 0x40000001 (or 0): the standard SRK (srk_get), flushed right after
 *     the load;
 *   - an EK handle (0x81010000-0x810100ff): a key imported under the EK,
 *     as rattest-bootstrap writes a key the verifier delivered; the EK
 *     (persistent and checked to be one, or re-created from its TCG
 *     template) needs a PolicySecret(endorsement) session, see
 *     common/tpm/rt_ek_parent.h.
 * Either way at most two transient objects exist at any time (parent and
 * key) and only the key stays, so no resource manager is needed. Any other
 * persistent parent is refused: its authorization is unknown to us, and a
 * key file could name any object of the TPM. */
static rt_code load_file_key(rt_key *key, rt_tpm *tpm, rt_err *err) {
  const rt_tss2key *f = key->file;
  if (rt_ek_handle(f->parent))
    return rt_ek_parent_load(tpm, key->ctx->libctx, RT_PROPQ_OTHERS, f->parent, &f->pub, &f->priv,
                             &key->tr, err);
  if (f->parent != 0x40000001u && f->parent != 0)
    return rt_err_set(err, RT_E_INVALID,
                      "key file parent 0x%08x: only 0x40000001 (the standard SRK) or an EK "
                      "(0x%08x-0x%08x) is supported",
                      f->parent, RT_EK_HANDLE_FIRST, RT_EK_HANDLE_LAST);
  ESYS_TR srk;
  rt_code rc = srk_get(key->ctx, tpm, &srk, err);
  if (rc != RT_OK)
    return rc;
  TSS2_RC trc = Esys_Load(tpm->esys, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &f->priv,
                          &f->pub, &key->tr);
  rt_tpm_flush(tpm, &srk);
  if (trc != TSS2_RC_SUCCESS) {
    key->tr = ESYS_TR_NONE;
    return rt_tpm_rc(err, trc, "loading the key file under the SRK (key of another TPM?)");
  }
  return RT_OK;
}

rt_code rt_key_tr(rt_key *key, rt_tpm *tpm, ESYS_TR *tr, rt_err *err) {
  if (!key->tpm_resident)
    return rt_err_set(err, RT_E_INVALID, "the key has no private part in the TPM");
  /* Loaded once; a fork child uses its parent's handle: it shares the
   * connection. */
  if (key->tr == ESYS_TR_NONE) {
    if (key->persistent != 0) {
      TSS2_RC trc = Esys_TR_FromTPMPublic(tpm->esys, key->persistent, ESYS_TR_NONE, ESYS_TR_NONE,
                                          ESYS_TR_NONE, &key->tr);
      /* ESYS keeps one ESYS_TR per handle (see rt_key_free). When another
       * object took the handle since it was made (a renewal persisted a
       * new key there), ESYS refuses with a name mismatch and drops its
       * record; asked again it makes one for the object there now. Key
       * objects of the old record then fail with a bad ESYS_TR instead of
       * signing with a key their certificate does not name. */
      if (trc == TSS2_ESYS_RC_GENERAL_FAILURE)
        trc = Esys_TR_FromTPMPublic(tpm->esys, key->persistent, ESYS_TR_NONE, ESYS_TR_NONE,
                                    ESYS_TR_NONE, &key->tr);
      if (trc != TSS2_RC_SUCCESS) {
        key->tr = ESYS_TR_NONE;
        return rt_tpm_rc(err, trc, "opening the persistent key");
      }
    } else {
      rt_code rc = load_file_key(key, tpm, err);
      if (rc != RT_OK)
        return rc;
    }
    key->pid = getpid();
  }
  *tr = key->tr;
  return RT_OK;
}

#define KEY_SINCE "the key was delivered"

/* A selection only for a key that signs with its policy alone, and such a
 * key only with one: a key that also takes its password is not bound by
 * the PCRs, and a policy we cannot satisfy fails every signature. Checked
 * at load, so the error shows there and not at the first handshake. */
static rt_code set_pcr_policy(rt_key *key, const TPML_PCR_SELECTION *sel, rt_err *err) {
  int with_pcrs = sel != NULL && sel->count > 0;
  int password = (key->pub.objectAttributes & TPMA_OBJECT_USERWITHAUTH) != 0;
  int policy = key->pub.authPolicy.size > 0;
  if (with_pcrs && (password || !policy))
    return rt_err_set(err, RT_E_INVALID, "a PCR policy is recorded for the key, but the key %s",
                      password ? "also signs with its password" : "has no policy");
  if (!with_pcrs && !password)
    return rt_err_set(err, RT_E_INVALID,
                      "the key signs only in a policy session, and no PCR policy is known for it "
                      "(rattest:NAME of a delivered key, or its key file, gives one)");
  if (with_pcrs)
    key->pcr_policy = *sel;
  return RT_OK;
}

rt_code rt_key_auth(const rt_key *key, rt_tpm *tpm, ESYS_TR *session, rt_err *err) {
  *session = ESYS_TR_PASSWORD;
  if (key->pcr_policy.count == 0)
    return RT_OK;
  /* The policy digest is computed with the key's name algorithm. */
  return rt_pcr_session_start(tpm, key->pub.nameAlg, &key->pcr_policy, KEY_SINCE, session, err);
}

rt_code rt_key_auth_fail(const rt_key *key, TSS2_RC rc, const char *command, rt_err *err) {
  if (key->pcr_policy.count == 0)
    return rt_tpm_rc(err, rc, command);
  return rt_pcr_session_fail(rc, &key->pcr_policy, KEY_SINCE, command, err);
}

rt_code rt_key_from_file(rt_provctx *ctx, rt_tss2key *file, rt_key **out, rt_err *err) {
  *out = NULL;
  if (file->type != RT_TSS2KEY_LOADABLE) {
    rt_key_free_file(file);
    return rt_err_set(err, RT_E_INVALID, "only loadable TSS2 keys are supported");
  }
  /* The one policy we run is a single PolicyPCR (what rattest-bootstrap
   * writes for a PCR-bound delivered key). */
  if (!file->empty_auth || (file->has_policy && !file->has_pcr_policy) || file->has_auth_policy) {
    rt_key_free_file(file);
    return rt_err_set(err, RT_E_INVALID,
                      "keys with a password or a policy other than one TPM2_PolicyPCR are not "
                      "supported");
  }
  rt_key *key = rt_key_new(ctx);
  if (key == NULL) {
    rt_key_free_file(file);
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  }
  key->file = file;
  key->tpm_resident = 1;
  rt_code rc = rt_key_set_public(key, &file->pub.publicArea, err);
  if (rc == RT_OK)
    rc = set_pcr_policy(key, file->has_pcr_policy ? &file->policy_pcrs : NULL, err);
  rt_tpm *tpm = NULL;
  ESYS_TR tr;
  if (rc == RT_OK && (rc = rt_prov_tpm_acquire(ctx, &tpm, err)) == RT_OK) {
    rc = rt_key_tr(key, tpm, &tr, err);
    rt_prov_tpm_release(ctx);
  }
  if (rc != RT_OK) {
    rt_key_free(key);
    return rc;
  }
  *out = key;
  return RT_OK;
}

rt_code rt_key_from_handle(rt_provctx *ctx, uint32_t handle, const TPML_PCR_SELECTION *pcr_sel,
                           rt_key **out, rt_err *err) {
  *out = NULL;
  if (handle < 0x81000000u || handle > 0x81ffffffu)
    return rt_err_set(err, RT_E_INVALID, "0x%08x is not a persistent handle", handle);
  rt_key *key = rt_key_new(ctx);
  if (key == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  key->persistent = handle;
  key->tpm_resident = 1;
  rt_tpm *tpm = NULL;
  ESYS_TR tr;
  rt_code rc = rt_prov_tpm_acquire(ctx, &tpm, err);
  if (rc == RT_OK) {
    rc = rt_key_tr(key, tpm, &tr, err);
    /* The ReadPublic that opened the handle gave it: not asked again. */
    TPM2B_PUBLIC pub;
    if (rc == RT_OK && (rc = rt_tpm_tr_public(tpm, tr, &pub, err)) != RT_OK)
      rt_err_prefix(err, "reading the public area: ");
    rt_prov_tpm_release(ctx);
    if (rc == RT_OK)
      rc = rt_key_set_public(key, &pub.publicArea, err);
    if (rc == RT_OK)
      rc = set_pcr_policy(key, pcr_sel, err);
  }
  if (rc != RT_OK) {
    rt_err_prefix(err, "persistent key 0x%08x: ", handle);
    rt_key_free(key);
    return rc;
  }
  *out = key;
  return RT_OK;
}
