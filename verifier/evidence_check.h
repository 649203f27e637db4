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

/* PCR values: replayed from the event log (or, when policy allows no log
 * and none was sent, taken from `values`), must reproduce the quote's
 * pcrDigest; then each must pass the policy. */
grpc_status_code rt_check_pcrs(const rt_policy *policy, const TPMS_ATTEST *quote,
                               TPMI_ALG_HASH digest_alg, const ProtobufCBinaryData *event_log,
                               Rattest__V1__PcrValue *const *values, size_t n_values,
                               rt_rpc_status *st);

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
