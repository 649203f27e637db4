/* rt_policy_pcr_digest (rt_dup.h): the policy a sealed object carries so
 * that only a TPM in a given PCR state opens it (TPM 2.0 Part 3,
 * TPM2_PolicyPCR). */
#include <openssl/evp.h>
#include <string.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "rt_dup.h"
#include "rt_kdf.h"

/* H(a || b || c) with one of the supported hashes. */
static rt_code digest3(const char *md_name, const uint8_t *a, size_t a_len, const uint8_t *b,
                       size_t b_len, const uint8_t *c, size_t c_len, uint8_t *out, rt_err *err) {
  EVP_MD *md = EVP_MD_fetch(NULL, md_name, NULL);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  rt_code code = RT_OK;
  if (md == NULL || ctx == NULL || EVP_DigestInit_ex2(ctx, md, NULL) != 1 ||
      EVP_DigestUpdate(ctx, a, a_len) != 1 || EVP_DigestUpdate(ctx, b, b_len) != 1 ||
      EVP_DigestUpdate(ctx, c, c_len) != 1 || EVP_DigestFinal_ex(ctx, out, NULL) != 1)
    code = rt_ossl_err(err, md_name);
  EVP_MD_CTX_free(ctx);
  EVP_MD_free(md);
  return code;
}

/* The number of value bytes sel asks for: each selected PCR contributes its
 * bank's digest. A selection the TPM would reject, or one that selects
 * nothing (a policy bound to no PCR binds nothing), is RT_E_INVALID. */
static rt_code selection_size(const TPML_PCR_SELECTION *sel, size_t *total, rt_err *err) {
  size_t pcrs = 0;
  *total = 0;
  if (sel->count == 0 || sel->count > TPM2_NUM_PCR_BANKS)
    return rt_err_set(err, RT_E_INVALID, "%u PCR banks selected (1 to %u)", (unsigned)sel->count,
                      (unsigned)TPM2_NUM_PCR_BANKS);
  for (UINT32 i = 0; i < sel->count; i++) {
    const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];
    size_t bank = rt_tpm_hash_size(s->hash);
    if (bank == 0)
      return rt_err_set(err, RT_E_INVALID, "unsupported PCR bank 0x%04x", (unsigned)s->hash);
    if (s->sizeofSelect == 0 || s->sizeofSelect > TPM2_PCR_SELECT_MAX)
      return rt_err_set(err, RT_E_INVALID, "PCR select of %u bytes (1 to %u)",
                        (unsigned)s->sizeofSelect, (unsigned)TPM2_PCR_SELECT_MAX);
    for (unsigned b = 0; b < s->sizeofSelect; b++)
      for (unsigned bit = 0; bit < 8; bit++)
        if (s->pcrSelect[b] & (1u << bit)) {
          *total += bank;
          pcrs++;
        }
  }
  if (pcrs == 0)
    return rt_err_set(err, RT_E_INVALID, "no PCR selected");
  return RT_OK;
}

rt_code rt_pcr_values_digest(TPMI_ALG_HASH alg, const uint8_t *values, size_t values_len,
                             TPM2B_DIGEST *out, rt_err *err) {
  memset(out, 0, sizeof *out);
  const char *md = rt_tpm_hash_name(alg);
  if (md == NULL)
    return rt_err_set(err, RT_E_INVALID, "PCR digest: unsupported hash 0x%04x", (unsigned)alg);
  rt_code code = digest3(md, values, values_len, NULL, 0, NULL, 0, out->buffer, err);
  if (code == RT_OK)
    out->size = (UINT16)rt_tpm_hash_size(alg);
  return code;
}

rt_code rt_policy_pcr_digest(TPMI_ALG_HASH alg, const TPML_PCR_SELECTION *sel,
                             const uint8_t *values, size_t values_len, TPM2B_DIGEST *out,
                             rt_err *err) {
  if (out != NULL)
    memset(out, 0, sizeof *out);
  if (sel == NULL || out == NULL || (values == NULL && values_len > 0))
    return rt_err_set(err, RT_E_INVALID, "PolicyPCR digest: missing argument");
  const char *md = rt_tpm_hash_name(alg);
  size_t dsize = rt_tpm_hash_size(alg);
  if (md == NULL)
    return rt_err_set(err, RT_E_INVALID, "PolicyPCR digest: unsupported policy hash 0x%04x",
                      (unsigned)alg);
  size_t want = 0;
  rt_code code = selection_size(sel, &want, err);
  if (code != RT_OK) {
    rt_err_prefix(err, "PolicyPCR digest: ");
    return code;
  }
  if (values_len != want)
    return rt_err_set(err, RT_E_INVALID,
                      "PolicyPCR digest: %zu bytes of PCR values, the selection needs %zu",
                      values_len, want);

  /* digestTPM = H(values); then H(old policy (zero) || TPM_CC_PolicyPCR ||
   * pcrs || digestTPM). The selection is hashed as marshalled, select size
   * included: the TPM hashes the command's own bytes. */
  uint8_t zero[64] = {0}, mid[sizeof(UINT32) + sizeof(TPML_PCR_SELECTION)];
  TPM2B_DIGEST values_digest;
  size_t mid_len = 0;
  code = rt_pcr_values_digest(alg, values, values_len, &values_digest, err);
  if (code == RT_OK) {
    TSS2_RC rc = Tss2_MU_UINT32_Marshal(TPM2_CC_PolicyPCR, mid, sizeof mid, &mid_len);
    if (rc == TSS2_RC_SUCCESS)
      rc = Tss2_MU_TPML_PCR_SELECTION_Marshal(sel, mid, sizeof mid, &mid_len);
    if (rc != TSS2_RC_SUCCESS)
      code = rt_err_set(err, RT_E_INVALID, "marshalling the PCR selection: %s", Tss2_RC_Decode(rc));
  }
  if (code == RT_OK)
    code = digest3(md, zero, dsize, mid, mid_len, values_digest.buffer, dsize, out->buffer, err);
  if (code != RT_OK) {
    memset(out, 0, sizeof *out);
    rt_err_prefix(err, "PolicyPCR digest: ");
    return code;
  }
  out->size = (UINT16)dsize;
  return RT_OK;
}
