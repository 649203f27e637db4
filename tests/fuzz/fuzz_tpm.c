/* The TPM structures a client sends, through the verifier's checks:
 * TPM2B_PUBLIC (Begin's EK and AK, Finish's key), TPMS_ATTEST in a
 * TPM2B_ATTEST (quote, certification) and TPMT_SIGNATURE. The input's
 * first byte picks the check, the rest is split into fields (fuzz_split):
 *   0  public area: unmarshal, key, name, EK shape; rt_check_key
 *   1  quote, signature: rt_check_quote with the gce-cos85 AK
 *   2  quote, event log: the quote unmarshalled and, as if its signature
 *      had passed, rt_check_pcrs with the log (the PCR digest and the
 *      policy's judgement of every selection a quote can carry)
 *   3  key public, certify info, signature, possession signature:
 *      rt_check_certify and rt_check_possession with the key's own EVP key
 *   4  signature: unmarshal, ECDSA DER, verify with the AK */
#include <openssl/crypto.h>
#include <stdlib.h>

#include "evidence_check.h"
#include "fuzz.h"
#include "rt_templates.h"
#include "rt_tpm_pub.h"

static rt_policy *policy;
static EVP_PKEY *ak;

static ProtobufCBinaryData bin(fuzz_part p) {
  return (ProtobufCBinaryData){p.n, (uint8_t *)p.p};
}

static void check_public(fuzz_part p) {
  TPM2B_PUBLIC pub;
  TPM2B_NAME name;
  EVP_PKEY *k = NULL;
  rt_rpc_status st;
  rt_err err;
  if (rt_tpm_pub_unmarshal(p.p, p.n, &pub, &err) == RT_OK) {
    (void)rt_key_alg_of(&pub.publicArea);
    (void)rt_ek_shape_problem(&pub.publicArea);
    (void)rt_tpm_pub_name(&pub.publicArea, &name, &err);
    if (rt_tpm_pub_to_evp(&pub.publicArea, &k, &err) == RT_OK)
      (void)rt_tpm_pub_matches(&pub.publicArea, k);
    EVP_PKEY_free(k);
  }
  ProtobufCBinaryData b = bin(p);
  (void)rt_check_key(policy, &b, &pub, &st);
}

static void check_quote(const fuzz_part *f) {
  TPML_PCR_SELECTION demanded;
  TPMS_ATTEST quote;
  TPMI_ALG_HASH alg;
  rt_rpc_status st;
  ProtobufCBinaryData a = bin(f[0]), s = bin(f[1]);
  rt_policy_tpml_selection(policy, &demanded);
  (void)rt_check_quote(policy, ak, fuzz_nonce, sizeof fuzz_nonce, &demanded, &a, &s, &quote, &alg,
                       &st);
}

static void check_pcrs(const fuzz_part *f) {
  TPMS_ATTEST quote;
  const uint8_t *signed_data;
  size_t signed_len;
  rt_pcr_proven proven;
  rt_rpc_status st;
  rt_err err;
  if (rt_tpm_attest_unmarshal(f[0].p, f[0].n, &quote, &signed_data, &signed_len, &err) != RT_OK ||
      quote.type != TPM2_ST_ATTEST_QUOTE)
    return;
  ProtobufCBinaryData log = bin(f[1]);
  if (rt_check_pcrs(policy, &quote, TPM2_ALG_SHA256, &log, NULL, 0, &proven, &st) ==
      GRPC_STATUS_OK) {
    uint8_t concat[24 * 3 * 48];
    (void)rt_pcr_proven_concat(&proven, &quote.attested.quote.pcrSelect, concat);
  }
}

static void check_certify(const fuzz_part *f) {
  TPM2B_PUBLIC key;
  EVP_PKEY *k = NULL;
  rt_rpc_status st;
  rt_err err;
  ProtobufCBinaryData pub = bin(f[0]), info = bin(f[1]), sig = bin(f[2]), pos = bin(f[3]);
  if (rt_check_key(policy, &pub, &key, &st) != GRPC_STATUS_OK)
    return;
  (void)rt_check_certify(policy, ak, &key.publicArea, fuzz_nonce, sizeof fuzz_nonce, &info, &sig,
                         &st);
  if (rt_tpm_pub_to_evp(&key.publicArea, &k, &err) == RT_OK)
    (void)rt_check_possession(k, fuzz_nonce, sizeof fuzz_nonce, &pos, &st);
  EVP_PKEY_free(k);
}

static void check_signature(fuzz_part p) {
  TPMT_SIGNATURE sig;
  rt_err err;
  if (rt_tpm_sig_unmarshal(p.p, p.n, &sig, &err) != RT_OK)
    return;
  (void)rt_tpm_sig_hash(&sig);
  if (sig.sigAlg == TPM2_ALG_ECDSA) {
    uint8_t *der = NULL;
    size_t der_len = 0;
    if (rt_tpm_sig_ecdsa_der(&sig.signature.ecdsa, &der, &der_len, &err) == RT_OK)
      OPENSSL_free(der);
  }
  (void)rt_tpm_sig_verify(ak, &sig, fuzz_nonce, sizeof fuzz_nonce, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_part f[4];
  rt_err err;
  if (policy == NULL) {
    TPM2B_PUBLIC pub;
    fuzz_gce_ak(&pub);
    if (rt_policy_default(&policy, &err) != RT_OK ||
        rt_tpm_pub_to_evp(&pub.publicArea, &ak, &err) != RT_OK)
      abort();
  }
  if (size == 0)
    return 0;
  switch (data[0] % 5) {
  case 0:
    check_public((fuzz_part){data + 1, size - 1});
    break;
  case 1:
    fuzz_split(data + 1, size - 1, f, 2);
    check_quote(f);
    break;
  case 2:
    fuzz_split(data + 1, size - 1, f, 2);
    check_pcrs(f);
    break;
  case 3:
    fuzz_split(data + 1, size - 1, f, 4);
    check_certify(f);
    break;
  default:
    check_signature((fuzz_part){data + 1, size - 1});
  }
  return 0;
}
