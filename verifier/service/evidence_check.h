/* The verifier's judgement of Finish evidence: the quote (nonce, PCR
 * selection, AK signature), the PCR values behind it (event log replay, or
 * the values sent when policy allows no log) and the policy's expected
 * values, the certified key, its certification and its possession proof.
 * Each function returns GRPC_STATUS_OK or fills st with the specific code
 * (docs/protocol.md). */
#ifndef RT_VERIFIER_EVIDENCE_CHECK_H
#define RT_VERIFIER_EVIDENCE_CHECK_H

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "policy.h"
#include "rattest.pb-c.h"
#include "rt_grpc.h"

/* Quote: TPM-generated, ATTEST_QUOTE, extraData == nonce, selection exactly
 * `demanded`, signed by the AK with an acceptable hash. *quote receives the
 * parsed structure, *digest_alg the signature's hash (= pcrDigest's). */
grpc_status_code rt_check_quote(const rt_policy *policy, EVP_PKEY *ak, const uint8_t *nonce,
                                size_t nonce_len, const TPML_PCR_SELECTION *demanded,
                                const ProtobufCBinaryData *attest, const ProtobufCBinaryData *sig,
                                TPMS_ATTEST *quote, TPMI_ALG_HASH *digest_alg, rt_rpc_status *st);

/* The quoted PCR values, proven: what secrets can be sealed to. */
typedef struct {
  TPML_PCR_SELECTION sel; /* the quote's selection */
  /* value[b][i]: PCR i of sel.pcrSelections[b].hash, digest-size bytes. */
  uint8_t value[TPM2_NUM_PCR_BANKS][RT_POLICY_NUM_PCRS][64];
} rt_pcr_proven;

/* PCR values: replayed from the event log (or, when policy allows no log
 * and none was sent, taken from `values`), must reproduce the quote's
 * pcrDigest; then each must pass the policy, and the log its event rules.
 * proven (may be NULL) receives the values on success. */
grpc_status_code rt_check_pcrs(const rt_policy *policy, const TPMS_ATTEST *quote,
                               TPMI_ALG_HASH digest_alg, const ProtobufCBinaryData *event_log,
                               Rattest__V1__PcrValue *const *values, size_t n_values,
                               rt_pcr_proven *proven, rt_rpc_status *st);

/* The values of the PCRs in sel (a subset of proven->sel), concatenated in
 * the order the TPM reads them (banks as in sel, indexes ascending): the
 * input of a PolicyPCR digest. Returns the length, 0 if a PCR is not in
 * proven. out holds at least 24 * 3 * 48 bytes. */
size_t rt_pcr_proven_concat(const rt_pcr_proven *proven, const TPML_PCR_SELECTION *sel,
                            uint8_t *out);

/* The key to certify: parses, algorithm allowed, attributes of a
 * TPM-resident unrestricted signing key. */
grpc_status_code rt_check_key(const rt_policy *policy, const ProtobufCBinaryData *key_public,
                              TPM2B_PUBLIC *key, rt_rpc_status *st);

/* TPM2_Certify of that key by the AK over the nonce. */
grpc_status_code rt_check_certify(const rt_policy *policy, EVP_PKEY *ak, const TPMT_PUBLIC *key,
                                  const uint8_t *nonce, size_t nonce_len,
                                  const ProtobufCBinaryData *info, const ProtobufCBinaryData *sig,
                                  rt_rpc_status *st);

/* The key's signature over the possession message (rt_possession.h). */
grpc_status_code rt_check_possession(EVP_PKEY *key, const uint8_t *nonce, size_t nonce_len,
                                     const ProtobufCBinaryData *sig, rt_rpc_status *st);

#endif
