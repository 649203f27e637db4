#include "attest.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "rt_kdf.h"
#include "rt_possession.h"

/* r and s of a DER ECDSA signature into a TPM ECDSA signature, each padded
 * to the field size as a TPM writes them. */
static rt_code ecdsa_sig(const uint8_t *der, size_t der_len, size_t field, TPMT_SIGNATURE *s,
                         rt_err *err) {
  const unsigned char *p = der;
  ECDSA_SIG *e = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
  TPMS_SIGNATURE_ECC *ecc = &s->signature.ecdsa;
  s->sigAlg = TPM2_ALG_ECDSA;
  ecc->hash = TPM2_ALG_SHA256;
  ecc->signatureR.size = ecc->signatureS.size = (UINT16)field;
  int ok = e != NULL && field <= sizeof ecc->signatureR.buffer &&
           BN_bn2binpad(ECDSA_SIG_get0_r(e), ecc->signatureR.buffer, (int)field) >= 0 &&
           BN_bn2binpad(ECDSA_SIG_get0_s(e), ecc->signatureS.buffer, (int)field) >= 0;
  ECDSA_SIG_free(e);
  return ok ? RT_OK : rt_ossl_err(err, "ECDSA signature");
}

/* key's signature of msg with SHA-256 (ECDSA, or RSASSA-PKCS1-v1_5),
 * marshalled as a TPMT_SIGNATURE. */
static rt_code sign(EVP_PKEY *key, const uint8_t *msg, size_t msg_len, rt_bytes *out, rt_err *err) {
  uint8_t der[512];
  size_t der_len = sizeof der;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx != NULL && EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, key, NULL) == 1 &&
           EVP_DigestSign(ctx, der, &der_len, msg, msg_len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok)
    return rt_ossl_err(err, "signing");
  TPMT_SIGNATURE s;
  memset(&s, 0, sizeof s);
  rt_code code = RT_OK;
  if (EVP_PKEY_is_a(key, "RSA")) {
    s.sigAlg = TPM2_ALG_RSASSA;
    s.signature.rsassa.hash = TPM2_ALG_SHA256;
    s.signature.rsassa.sig.size = (UINT16)der_len;
    memcpy(s.signature.rsassa.sig.buffer, der, der_len);
  } else {
    code = ecdsa_sig(der, der_len, (size_t)(EVP_PKEY_get_bits(key) + 7) / 8, &s, err);
  }
  uint8_t buf[sizeof s];
  size_t off = 0;
  TSS2_RC rc = TSS2_RC_SUCCESS;
  if (code == RT_OK &&
      (rc = Tss2_MU_TPMT_SIGNATURE_Marshal(&s, buf, sizeof buf, &off)) != TSS2_RC_SUCCESS)
    code = rt_err_set(err, RT_E_INTERNAL, "marshalling TPMT_SIGNATURE failed (0x%x)", (unsigned)rc);
  if (code == RT_OK)
    code = rt_bytes_copy(out, buf, off, err);
  return code;
}

/* The header every attestation of this machine's AK carries. */
static rt_code attest_head(lg_machine *m, TPM2_ST type, const uint8_t *nonce, size_t nonce_len,
                           TPMS_ATTEST *a, rt_err *err) {
  memset(a, 0, sizeof *a);
  if (nonce_len > sizeof a->extraData.buffer)
    return rt_err_set(err, RT_E_INVALID, "nonce of %zu bytes is too long", nonce_len);
  a->magic = TPM2_GENERATED_VALUE;
  a->type = type;
  a->qualifiedSigner = m->ak_qn;
  a->extraData.size = (UINT16)nonce_len;
  memcpy(a->extraData.buffer, nonce, nonce_len);
  m->clock_ms += 7;
  a->clockInfo.clock = m->clock_ms;
  a->clockInfo.resetCount = m->reset_count;
  a->clockInfo.restartCount = m->restart_count;
  a->clockInfo.safe = TPM2_YES;
  a->firmwareVersion = m->firmware;
  return RT_OK;
}

/* a marshalled into a TPM2B_ATTEST, and the AK's signature of its
 * attestationData. */
static rt_code attest_and_sign(const lg_machine *m, const TPMS_ATTEST *a, rt_bytes *attest,
                               rt_bytes *sig, rt_err *err) {
  TPM2B_ATTEST out;
  size_t off = 0, off2 = 0;
  TSS2_RC rc =
      Tss2_MU_TPMS_ATTEST_Marshal(a, out.attestationData, sizeof out.attestationData, &off);
  if (rc != TSS2_RC_SUCCESS)
    return rt_err_set(err, RT_E_INTERNAL, "marshalling TPMS_ATTEST failed (0x%x)", (unsigned)rc);
  out.size = (UINT16)off;
  uint8_t buf[sizeof out];
  rc = Tss2_MU_TPM2B_ATTEST_Marshal(&out, buf, sizeof buf, &off2);
  if (rc != TSS2_RC_SUCCESS)
    return rt_err_set(err, RT_E_INTERNAL, "marshalling TPM2B_ATTEST failed (0x%x)", (unsigned)rc);
  rt_code code = rt_bytes_copy(attest, buf, off2, err);
  if (code == RT_OK)
    code = sign(m->ak, out.attestationData, out.size, sig, err);
  if (code != RT_OK)
    rt_bytes_free(attest);
  return code;
}

rt_code lg_quote(lg_machine *m, const uint8_t *nonce, size_t nonce_len,
                 const TPML_PCR_SELECTION *sel, const uint8_t pcr_digest[32], rt_bytes *attest,
                 rt_bytes *sig, rt_err *err) {
  TPMS_ATTEST a;
  rt_code code = attest_head(m, TPM2_ST_ATTEST_QUOTE, nonce, nonce_len, &a, err);
  if (code != RT_OK)
    return code;
  a.attested.quote.pcrSelect = *sel;
  a.attested.quote.pcrDigest.size = 32;
  memcpy(a.attested.quote.pcrDigest.buffer, pcr_digest, 32);
  return attest_and_sign(m, &a, attest, sig, err);
}

rt_code lg_certify(lg_machine *m, const uint8_t *nonce, size_t nonce_len, rt_bytes *attest,
                   rt_bytes *sig, rt_err *err) {
  TPMS_ATTEST a;
  rt_code code = attest_head(m, TPM2_ST_ATTEST_CERTIFY, nonce, nonce_len, &a, err);
  if (code != RT_OK)
    return code;
  a.attested.certify.name = m->key_name;
  a.attested.certify.qualifiedName = m->key_qn;
  return attest_and_sign(m, &a, attest, sig, err);
}

rt_code lg_possession(const lg_machine *m, const uint8_t *nonce, size_t nonce_len, rt_bytes *sig,
                      rt_err *err) {
  uint8_t *msg = NULL;
  size_t len = 0;
  rt_code code = rt_possession_message(nonce, nonce_len, &msg, &len, err);
  if (code == RT_OK)
    code = sign(m->key, msg, len, sig, err);
  free(msg);
  return code;
}
