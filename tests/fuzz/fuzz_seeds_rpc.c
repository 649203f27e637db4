/* Seeds for the handler targets: requests as the bootstrap sends them,
 * made of tests/data and the fuzz harness's fixed sessions. Begin: the
 * Google vTPM RSA EK with its certificate, an AK of each algorithm, with
 * and without a platform certificate. Finish (token replaced, mode 1, and
 * as sent, mode 0): the fixed secret, the gce-cos85 quotes and log, a new
 * key with a valid possession signature. Confirm: the right and a wrong
 * proof for the fixed sealed secret. */
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "fuzz_seeds.h"
#include "rattest.pb-c.h"
#include "rt_possession.h"
#include "rt_secret_proof.h"
#include "rt_templates.h"

static ProtobufCBinaryData bin(fuzz_part p) {
  return (ProtobufCBinaryData){p.n, (uint8_t *)p.p};
}

void begin_seeds(void) {
  TPM2B_PUBLIC ek;
  EVP_PKEY *k;
  uint8_t *der;
  size_t der_len;
  fuzz_google_ek(&ek, &der, &der_len);
  TPM2B_PUBLIC ak = ecc_public(rt_template_ak(RT_ALG_ECC_P256), &k);
  Rattest__V1__EkCertificate cert = RATTEST__V1__EK_CERTIFICATE__INIT;
  Rattest__V1__EkCertificate *certs[] = {&cert};
  Rattest__V1__BeginRequest req = RATTEST__V1__BEGIN_REQUEST__INIT;
  cert.nv_index = 0x01c00002;
  cert.der = (ProtobufCBinaryData){der_len, der};
  req.name = (char *)FUZZ_NAME;
  req.n_ek_certs = 1;
  req.ek_certs = certs;
  req.ek_public = bin(marshal_pub(&ek));
  req.ak_public = bin(marshal_pub(&ak));
  req.key_algorithm = RATTEST__V1__KEY_ALGORITHM__KEY_ALGORITHM_ECC_P256;
  put_msg("begin", "ecc-ak", -1, &req.base);
  TPM2B_PUBLIC gce;
  fuzz_gce_ak(&gce);
  req.ak_public = bin(marshal_pub(&gce));
  req.key_algorithm = RATTEST__V1__KEY_ALGORITHM__KEY_ALGORITHM_RSA_2048;
  put_msg("begin", "gce-ak", -1, &req.base);
  req.ak_public = bin(marshal_pub(&ak));
  req.platform_cert = bin(data_part("platformcerts/rfc7468-attribute-cert.pem"));
  put_msg("begin", "platform-cert", -1, &req.base);
  EVP_PKEY_free(k);
}

/* The key's ECDSA signature over the possession digest, as a marshalled
 * TPMT_SIGNATURE (what the TPM returns for TPM2_Sign). */
static fuzz_part possession(EVP_PKEY *key) {
  uint8_t digest[32], sig[80];
  size_t sig_len = sizeof sig;
  rt_err err;
  EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(key, NULL);
  if (rt_possession_digest(fuzz_nonce, sizeof fuzz_nonce, digest, &err) != RT_OK || c == NULL ||
      EVP_PKEY_sign_init(c) != 1 || EVP_PKEY_sign(c, sig, &sig_len, digest, 32) != 1)
    abort();
  EVP_PKEY_CTX_free(c);
  const unsigned char *p = sig;
  ECDSA_SIG *e = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
  TPMT_SIGNATURE t = {.sigAlg = TPM2_ALG_ECDSA};
  t.signature.ecdsa.hash = TPM2_ALG_SHA256;
  t.signature.ecdsa.signatureR.size = 32;
  t.signature.ecdsa.signatureS.size = 32;
  BN_bn2binpad(ECDSA_SIG_get0_r(e), t.signature.ecdsa.signatureR.buffer, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(e), t.signature.ecdsa.signatureS.buffer, 32);
  ECDSA_SIG_free(e);
  uint8_t *buf = malloc(sizeof t);
  size_t off = 0;
  if (Tss2_MU_TPMT_SIGNATURE_Marshal(&t, buf, sizeof t, &off) != TSS2_RC_SUCCESS)
    abort();
  return (fuzz_part){buf, off};
}

void finish_seeds(void) {
  EVP_PKEY *k;
  TPM2B_PUBLIC key = ecc_public(rt_template_key(RT_ALG_ECC_P256), &k);
  Rattest__V1__FinishRequest req = RATTEST__V1__FINISH_REQUEST__INIT;
  req.session_token = (ProtobufCBinaryData){1, (uint8_t *)"\x01"};
  req.activated_secret = (ProtobufCBinaryData){sizeof fuzz_secret, (uint8_t *)fuzz_secret};
  req.quote = bin(wrapped_quote("attestations/gce-cos85/quote_sha256.tpms_attest.bin"));
  req.quote_signature = bin(data_part("attestations/gce-cos85/quote_sha256.tpmt_signature.bin"));
  req.event_log = bin(data_part("eventlogs/gce-cos85/eventlog.bin"));
  req.key_public = bin(marshal_pub(&key));
  req.certify_info = req.quote;
  req.certify_signature = req.quote_signature;
  req.possession_signature = bin(possession(k));
  put_msg("finish", "fixed-session", 1, &req.base);
  put_msg("finish", "as-sent", 0, &req.base);
  Rattest__V1__PcrValue v = RATTEST__V1__PCR_VALUE__INIT, *values[] = {&v};
  v.bank = (char *)"sha256";
  v.digest = (ProtobufCBinaryData){32, (uint8_t *)fuzz_secret};
  req.event_log = (ProtobufCBinaryData){0, NULL};
  req.n_pcr_values = 1;
  req.pcr_values = values;
  put_msg("finish", "pcr-values", 1, &req.base);
  EVP_PKEY_free(k);
}

void confirm_seeds(void) {
  uint8_t mac[32];
  rt_err err;
  if (rt_secret_proof_hmac((const uint8_t *)FUZZ_SECRET_DATA, strlen(FUZZ_SECRET_DATA),
                           FUZZ_SECRET_NAME, fuzz_nonce, sizeof fuzz_nonce, mac, &err) != RT_OK)
    abort();
  Rattest__V1__SecretProof proof = RATTEST__V1__SECRET_PROOF__INIT, *proofs[] = {&proof};
  Rattest__V1__ConfirmRequest req = RATTEST__V1__CONFIRM_REQUEST__INIT;
  proof.name = (char *)FUZZ_SECRET_NAME;
  proof.hmac = (ProtobufCBinaryData){32, mac};
  req.confirm_token = (ProtobufCBinaryData){1, (uint8_t *)"\x01"};
  req.n_proofs = 1;
  req.proofs = proofs;
  put_msg("confirm", "right-proof", 1, &req.base);
  put_msg("confirm", "as-sent", 0, &req.base);
  mac[0] ^= 1;
  put_msg("confirm", "wrong-proof", 1, &req.base);
  proof.hmac = (ProtobufCBinaryData){0, NULL};
  proof.signature = (ProtobufCBinaryData){4, (uint8_t *)"\x00\x14\x00\x0b"};
  put_msg("confirm", "signature-proof", 1, &req.base);
}
