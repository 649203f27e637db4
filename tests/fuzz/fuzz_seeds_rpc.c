/* Seeds for the handler targets: requests as the bootstrap sends them,
 * made of tests/data and the fuzz harness's fixed sessions. Begin: the
 * Google vTPM RSA EK with its certificate, an AK of each algorithm, with
 * and without a platform certificate. Finish (fuzz_finish.c's modes): the fixed
 * secret, a quote of the PCRs the gce-cos85 log replays, a new key with its
 * certification and possession signature. Confirm: the right and a wrong
 * proof for the fixed sealed secret. */
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "fuzz_seeds.h"
#include "rattest.pb-c.h"
#include "rt_eventlog.h"
#include "rt_possession.h"
#include "rt_secret_proof.h"
#include "rt_templates.h"
#include "rt_tpm_pub.h"

static ProtobufCBinaryData bin(fuzz_part p) {
  return (ProtobufCBinaryData){p.n, (uint8_t *)p.p};
}

void begin_seeds(void) {
  TPM2B_PUBLIC ek;
  EVP_PKEY *k;
  uint8_t *der;
  size_t der_len;
  fuzz_google_ek(&ek, &der, &der_len);
  keep(der);
  TPM2B_PUBLIC ak = fuzz_ecc_public(rt_template_ak(RT_ALG_ECC_P256), &k);
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

/* A TPM2B_ATTEST of the fixed session: type, this nonce, attested. */
static fuzz_part attest(TPMI_ST_ATTEST type, const TPMU_ATTEST *attested) {
  TPMS_ATTEST a = {.magic = TPM2_GENERATED_VALUE, .type = type, .attested = *attested};
  TPM2B_ATTEST w;
  size_t off = 0;
  a.qualifiedSigner.size = 34;
  memset(a.qualifiedSigner.name, 0x0b, 34);
  a.extraData.size = sizeof fuzz_nonce;
  memcpy(a.extraData.buffer, fuzz_nonce, sizeof fuzz_nonce);
  if (Tss2_MU_TPMS_ATTEST_Marshal(&a, w.attestationData, sizeof w.attestationData, &off) !=
      TSS2_RC_SUCCESS)
    abort();
  w.size = (UINT16)off;
  uint8_t *buf = keep(malloc(sizeof w));
  off = 0;
  if (Tss2_MU_TPM2B_ATTEST_Marshal(&w, buf, sizeof w, &off) != TSS2_RC_SUCCESS)
    abort();
  return (fuzz_part){buf, off};
}

/* The quote of sha256 PCRs 0-7 whose values the gce-cos85 log replays. */
static fuzz_part gce_quote(void) {
  fuzz_part log = data_part("eventlogs/gce-cos85/eventlog.bin");
  rt_eventlog parsed;
  rt_eventlog_pcrs pcrs;
  rt_err err;
  if (rt_eventlog_parse(log.p, log.n, NULL, &parsed, &err) != RT_OK ||
      rt_eventlog_replay(&parsed, &pcrs, &err) != RT_OK)
    abort();
  const rt_eventlog_bank *b = rt_eventlog_pcrs_bank(&pcrs, TPM2_ALG_SHA256);
  TPMU_ATTEST u = {.quote.pcrSelect = {.count = 1}};
  u.quote.pcrSelect.pcrSelections[0] = (TPMS_PCR_SELECTION){TPM2_ALG_SHA256, 3, {0xff, 0, 0}};
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  unsigned len = 0;
  EVP_DigestInit_ex(md, EVP_sha256(), NULL);
  for (int i = 0; i < 8; i++)
    EVP_DigestUpdate(md, b->pcr[i], 32);
  EVP_DigestFinal_ex(md, u.quote.pcrDigest.buffer, &len);
  u.quote.pcrDigest.size = (UINT16)len;
  EVP_MD_CTX_free(md);
  rt_eventlog_free(&parsed);
  return attest(TPM2_ST_ATTEST_QUOTE, &u);
}

static ProtobufCBinaryData signed_by(EVP_PKEY *key, const uint8_t *msg, size_t len) {
  uint8_t *sig = keep(malloc(128));
  return (ProtobufCBinaryData){fuzz_tpm_sign(key, msg, len, sig, 128), sig};
}

/* A request that passes every check of Finish with a fresh session token
 * and its quote and certification signed by that process's fuzz_ak. */
void finish_seeds(void) {
  EVP_PKEY *k;
  TPM2B_PUBLIC key = fuzz_ecc_public(rt_template_key(RT_ALG_ECC_P256), &k);
  TPMU_ATTEST cert = {0};
  rt_err err;
  uint8_t *msg = NULL;
  size_t msg_len = 0;
  if (rt_tpm_pub_name(&key.publicArea, &cert.certify.name, &err) != RT_OK ||
      rt_possession_message(fuzz_nonce, sizeof fuzz_nonce, &msg, &msg_len, &err) != RT_OK)
    abort();
  Rattest__V1__FinishRequest req = RATTEST__V1__FINISH_REQUEST__INIT;
  req.session_token = (ProtobufCBinaryData){1, (uint8_t *)"\x01"};
  req.activated_secret = (ProtobufCBinaryData){sizeof fuzz_secret, (uint8_t *)fuzz_secret};
  req.quote = bin(gce_quote());
  req.quote_signature = (ProtobufCBinaryData){2, (uint8_t *)"\x00\x10"};
  req.event_log = bin(data_part("eventlogs/gce-cos85/eventlog.bin"));
  req.key_public = bin(marshal_pub(&key));
  req.certify_info = bin(attest(TPM2_ST_ATTEST_CERTIFY, &cert));
  req.certify_signature = req.quote_signature;
  req.possession_signature = signed_by(k, msg, msg_len);
  put_msg("finish", "signed-session", 3, &req.base);
  put_msg("finish", "session", 1, &req.base);
  put_msg("finish", "as-sent", 0, &req.base);
  Rattest__V1__PcrValue v = RATTEST__V1__PCR_VALUE__INIT, *values[] = {&v};
  v.bank = (char *)"sha256";
  v.digest = (ProtobufCBinaryData){32, (uint8_t *)fuzz_secret};
  req.event_log = (ProtobufCBinaryData){0, NULL};
  req.n_pcr_values = 1;
  req.pcr_values = values;
  put_msg("finish", "pcr-values", 3, &req.base);
  EVP_PKEY_free(k);
  free(msg);
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
