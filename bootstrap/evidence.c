#include "evidence.h"

#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "rt_pcrsel.h"
#include "rt_possession.h"

static rt_code marshal_attest(const TPM2B_ATTEST *a, rt_bytes *out, rt_err *err) {
  uint8_t buf[sizeof(TPM2B_ATTEST)];
  size_t off = 0;
  TSS2_RC rc = Tss2_MU_TPM2B_ATTEST_Marshal(a, buf, sizeof buf, &off);
  if (rc != TSS2_RC_SUCCESS)
    return rt_err_set(err, RT_E_INTERNAL, "marshalling TPM2B_ATTEST failed (0x%x)", (unsigned)rc);
  return rt_bytes_copy(out, buf, off, err);
}

static rt_code marshal_sig(const TPMT_SIGNATURE *s, rt_bytes *out, rt_err *err) {
  uint8_t buf[sizeof(TPMT_SIGNATURE)];
  size_t off = 0;
  TSS2_RC rc = Tss2_MU_TPMT_SIGNATURE_Marshal(s, buf, sizeof buf, &off);
  if (rc != TSS2_RC_SUCCESS)
    return rt_err_set(err, RT_E_INTERNAL, "marshalling TPMT_SIGNATURE failed (0x%x)", (unsigned)rc);
  return rt_bytes_copy(out, buf, off, err);
}

static rt_code set_nonce(TPM2B_DATA *d, const uint8_t *nonce, size_t len, rt_err *err) {
  if (len > sizeof d->buffer)
    return rt_err_set(err, RT_E_INVALID, "nonce of %zu bytes is too long", len);
  d->size = (uint16_t)len;
  memcpy(d->buffer, nonce, len);
  return RT_OK;
}

static rt_code attest_and_sig(TPM2B_ATTEST *a, TPMT_SIGNATURE *s, rt_bytes *attest, rt_bytes *sig,
                              rt_err *err) {
  rt_code code = marshal_attest(a, attest, err);
  if (code == RT_OK)
    code = marshal_sig(s, sig, err);
  if (code != RT_OK)
    rt_bytes_free(attest);
  return code;
}

rt_code rt_quote(rt_tpm *tpm, const rt_ak *ak, const uint8_t *nonce, size_t nonce_len,
                 const TPML_PCR_SELECTION *sel, rt_bytes *attest, rt_bytes *sig, rt_err *err) {
  TPM2B_DATA qualifying;
  rt_code code = set_nonce(&qualifying, nonce, nonce_len, err);
  if (code != RT_OK)
    return code;
  /* NULL scheme: the AK's own (restricted keys allow no other). */
  TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL};
  TPM2B_ATTEST *quoted = NULL;
  TPMT_SIGNATURE *signature = NULL;
  TSS2_RC rc = Esys_Quote(tpm->esys, ak->handle, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                          &qualifying, &scheme, sel, &quoted, &signature);
  if (rc != TSS2_RC_SUCCESS)
    return rt_tpm_rc(err, rc, "Quote");
  code = attest_and_sig(quoted, signature, attest, sig, err);
  Esys_Free(quoted);
  Esys_Free(signature);
  return code;
}

rt_code rt_pcr_read_all(rt_tpm *tpm, const TPML_PCR_SELECTION *sel, rt_pcr_value **values,
                        size_t *n, rt_err *err) {
  size_t total = rt_pcrsel_count(sel), got = 0;
  *values = calloc(total ? total : 1, sizeof **values);
  *n = 0;
  if (*values == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  /* Ask for what is still missing until the TPM has returned everything;
   * it answers with the selection it actually served. */
  TPML_PCR_SELECTION todo = *sel;
  while (got < total) {
    TPML_PCR_SELECTION *served = NULL;
    TPML_DIGEST *digests = NULL;
    TSS2_RC rc = Esys_PCR_Read(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &todo, NULL,
                               &served, &digests);
    if (rc != TSS2_RC_SUCCESS) {
      free(*values);
      *values = NULL;
      return rt_tpm_rc(err, rc, "PCR_Read");
    }
    size_t d = 0;
    for (uint32_t b = 0; b < served->count; b++) {
      TPMS_PCR_SELECTION *e = &served->pcrSelections[b];
      for (uint32_t i = 0; i < RT_PCR_COUNT; i++) {
        if (i / 8 >= e->sizeofSelect || !(e->pcrSelect[i / 8] & (1u << (i % 8))))
          continue;
        if (d >= digests->count || got >= total)
          break;
        (*values)[got++] = (rt_pcr_value){e->hash, i, digests->digests[d++]};
        /* Served: drop it from what remains to ask for. */
        for (uint32_t t = 0; t < todo.count; t++)
          if (todo.pcrSelections[t].hash == e->hash)
            todo.pcrSelections[t].pcrSelect[i / 8] &= (uint8_t) ~(1u << (i % 8));
      }
    }
    int progress = digests->count > 0;
    Esys_Free(served);
    Esys_Free(digests);
    if (!progress) {
      free(*values);
      *values = NULL;
      return rt_err_set(err, RT_E_TPM, "PCR_Read returned no values for %s",
                        "a selected PCR (bank not active?)");
    }
  }
  *n = got;
  return RT_OK;
}

rt_code rt_certify(rt_tpm *tpm, ESYS_TR key, const rt_ak *ak, const uint8_t *nonce,
                   size_t nonce_len, rt_bytes *attest, rt_bytes *sig, rt_err *err) {
  TPM2B_DATA qualifying;
  rt_code code = set_nonce(&qualifying, nonce, nonce_len, err);
  if (code != RT_OK)
    return code;
  TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL};
  TPM2B_ATTEST *info = NULL;
  TPMT_SIGNATURE *signature = NULL;
  TSS2_RC rc = Esys_Certify(tpm->esys, key, ak->handle, ESYS_TR_PASSWORD, ESYS_TR_PASSWORD,
                            ESYS_TR_NONE, &qualifying, &scheme, &info, &signature);
  if (rc != TSS2_RC_SUCCESS)
    return rt_tpm_rc(err, rc, "Certify");
  code = attest_and_sig(info, signature, attest, sig, err);
  Esys_Free(info);
  Esys_Free(signature);
  return code;
}

rt_code rt_sign_possession(rt_tpm *tpm, ESYS_TR key, const TPMT_PUBLIC *key_pub,
                           const uint8_t *nonce, size_t nonce_len, rt_bytes *sig, rt_err *err) {
  TPM2B_DIGEST digest = {.size = 32};
  rt_code code = rt_possession_digest(nonce, nonce_len, digest.buffer, err);
  if (code != RT_OK)
    return code;
  TPMT_SIG_SCHEME scheme;
  memset(&scheme, 0, sizeof scheme);
  if (key_pub->type == TPM2_ALG_ECC) {
    scheme.scheme = TPM2_ALG_ECDSA;
    scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
  } else {
    scheme.scheme = TPM2_ALG_RSASSA;
    scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
  }
  /* Unrestricted key: a null ticket is enough, the TPM need not have
   * hashed the message itself. */
  TPMT_TK_HASHCHECK ticket = {.tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL};
  TPMT_SIGNATURE *signature = NULL;
  TSS2_RC rc = Esys_Sign(tpm->esys, key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &digest,
                         &scheme, &ticket, &signature);
  if (rc != TSS2_RC_SUCCESS)
    return rt_tpm_rc(err, rc, "signing the possession proof");
  code = marshal_sig(signature, sig, err);
  Esys_Free(signature);
  return code;
}
