#include "evidence_check.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "decision.h"
#include "policy_judge.h"
#include "rt_eventlog.h"
#include "rt_pcrsel.h"
#include "rt_possession.h"
#include "rt_templates.h"
#include "rt_tpm_pub.h"

static int hash_ok(const rt_policy *policy, TPMI_ALG_HASH h) {
  if (h == TPM2_ALG_SHA1)
    return rt_policy_allow_sha1(policy);
  return h == TPM2_ALG_SHA256 || h == TPM2_ALG_SHA384 || h == TPM2_ALG_SHA512;
}

static int nonce_equal(const TPM2B_DATA *extra, const uint8_t *nonce, size_t len) {
  return extra->size == len && CRYPTO_memcmp(extra->buffer, nonce, len) == 0;
}

/* The codes one kind of attestation (quote, certification) reports. */
typedef struct {
  const char *what, *malformed, *hash, *signature;
} attest_codes;

static const attest_codes quote_codes = {"quote", "QUOTE_MALFORMED", "QUOTE_HASH",
                                         "QUOTE_SIGNATURE"};
static const attest_codes certify_codes = {"certification", "CERTIFY_MALFORMED", "CERTIFY_HASH",
                                           "CERTIFY_SIGNATURE"};

/* Parses an attestation and verifies its signature by the AK. */
static grpc_status_code signed_attest(const rt_policy *policy, EVP_PKEY *ak, const attest_codes *c,
                                      const ProtobufCBinaryData *attest,
                                      const ProtobufCBinaryData *sig, TPMS_ATTEST *out,
                                      TPMI_ALG_HASH *hash, rt_rpc_status *st) {
  rt_err err;
  const uint8_t *signed_data = NULL;
  size_t signed_len = 0;
  TPMT_SIGNATURE s;
  if (rt_tpm_attest_unmarshal(attest->data, attest->len, out, &signed_data, &signed_len, &err) !=
      RT_OK)
    return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, c->malformed, "%s: %s", c->what, err.msg);
  if (rt_tpm_sig_unmarshal(sig->data, sig->len, &s, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, c->malformed, "%s signature: %s", c->what,
                   err.msg);
  *hash = rt_tpm_sig_hash(&s);
  if (!hash_ok(policy, *hash))
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, c->hash,
                   "%s is signed with a hash the policy does not accept (0x%04x)", c->what,
                   (unsigned)*hash);
  if (rt_tpm_sig_verify(ak, &s, signed_data, signed_len, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, c->signature,
                   "%s is not signed by the attestation key: %s", c->what, err.msg);
  return GRPC_STATUS_OK;
}

grpc_status_code rt_check_quote(const rt_policy *policy, EVP_PKEY *ak, const uint8_t *nonce,
                                size_t nonce_len, const TPML_PCR_SELECTION *demanded,
                                const ProtobufCBinaryData *attest, const ProtobufCBinaryData *sig,
                                TPMS_ATTEST *quote, TPMI_ALG_HASH *digest_alg, rt_rpc_status *st) {
  grpc_status_code s = signed_attest(policy, ak, &quote_codes, attest, sig, quote, digest_alg, st);
  if (s != GRPC_STATUS_OK)
    return s;
  if (quote->type != TPM2_ST_ATTEST_QUOTE)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "QUOTE_TYPE",
                   "quote is an attestation of type 0x%04x, not a quote", (unsigned)quote->type);
  if (!nonce_equal(&quote->extraData, nonce, nonce_len))
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "QUOTE_NONCE",
                   "quote does not carry this session's nonce");
  if (!rt_pcrsel_equal(&quote->attested.quote.pcrSelect, demanded)) {
    char got[256], want[256];
    rt_pcrsel_format(&quote->attested.quote.pcrSelect, got, sizeof got);
    rt_pcrsel_format(demanded, want, sizeof want);
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "QUOTE_PCR_SELECTION",
                   "quote covers %s, the verifier demanded %s", got, want);
  }
  return GRPC_STATUS_OK;
}

/* The value of one PCR: from the replayed log, or from the values sent. */
static const uint8_t *pcr_value(const rt_eventlog_pcrs *replayed,
                                Rattest__V1__PcrValue *const *values, size_t n_values,
                                TPMI_ALG_HASH bank, uint32_t index, size_t size) {
  if (replayed != NULL) {
    const rt_eventlog_bank *b = rt_eventlog_pcrs_bank(replayed, bank);
    return b != NULL && b->size == size ? b->pcr[index] : NULL;
  }
  const char *name = rt_pcr_bank_name(bank);
  for (size_t i = 0; i < n_values; i++)
    if (values[i]->index == index && name != NULL && strcmp(values[i]->bank, name) == 0 &&
        values[i]->digest.len == size)
      return values[i]->digest.data;
  return NULL;
}

/* The sent log parsed, its algorithms checked, replayed into *replayed. */
static grpc_status_code read_log(const ProtobufCBinaryData *event_log, rt_eventlog *log,
                                 rt_eventlog_pcrs *replayed, rt_rpc_status *st) {
  rt_err err;
  if (rt_eventlog_parse(event_log->data, event_log->len, NULL, log, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "EVENTLOG_MALFORMED", "event log: %s",
                   err.msg);
  const char *alg_code = rt_log_alg_code(log, &err);
  if (alg_code != NULL)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, alg_code, "%s", err.msg);
  if (rt_eventlog_replay(log, replayed, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "EVENTLOG_MALFORMED", "event log replay: %s",
                   err.msg);
  return GRPC_STATUS_OK;
}

/* Whether the selected PCR values (replayed, or sent) hash to the quote's
 * pcrDigest: the TPM hashed them in the order of its pcrSelect, banks as
 * listed, indexes ascending, with the signing scheme's hash. */
static grpc_status_code digest_matches(const TPMS_ATTEST *quote, TPMI_ALG_HASH digest_alg,
                                       const rt_eventlog_pcrs *replayed,
                                       Rattest__V1__PcrValue *const *values, size_t n_values,
                                       rt_rpc_status *st) {
  const TPML_PCR_SELECTION *sel = &quote->attested.quote.pcrSelect;
  const char *name = rt_pcr_bank_name(digest_alg);
  const EVP_MD *alg = EVP_get_digestbyname(name != NULL ? name : "");
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  grpc_status_code s = GRPC_STATUS_OK;
  if (alg == NULL || md == NULL || EVP_DigestInit_ex(md, alg, NULL) != 1)
    s = rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "cannot hash PCR values");
  for (uint32_t b = 0; b < sel->count && s == GRPC_STATUS_OK; b++) {
    TPMI_ALG_HASH bank = sel->pcrSelections[b].hash;
    size_t size = rt_pcr_bank_size(bank);
    for (uint32_t i = 0; i < RT_PCR_COUNT && s == GRPC_STATUS_OK; i++) {
      if (!rt_pcrsel_has(sel, bank, i))
        continue;
      const uint8_t *v = pcr_value(replayed, values, n_values, bank, i, size);
      if (v == NULL)
        s = rt_deny(st, GRPC_STATUS_PERMISSION_DENIED,
                    replayed ? "EVENTLOG_BANK_MISSING" : "PCR_VALUE_MISSING",
                    "no %s value for PCR %u (%s)", rt_pcr_bank_name(bank), (unsigned)i,
                    replayed ? "the event log lacks this bank" : "not among the values sent");
      else
        EVP_DigestUpdate(md, v, size);
    }
  }
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  const TPM2B_DIGEST *quoted = &quote->attested.quote.pcrDigest;
  if (s == GRPC_STATUS_OK && (EVP_DigestFinal_ex(md, digest, &dlen) != 1 || quoted->size != dlen ||
                              memcmp(quoted->buffer, digest, dlen) != 0))
    s = rt_deny(st, GRPC_STATUS_PERMISSION_DENIED,
                replayed ? "EVENTLOG_REPLAY_MISMATCH" : "QUOTE_PCR_DIGEST",
                replayed ? "the event log does not replay to the quoted PCR values"
                         : "the PCR values sent are not the quoted ones");
  EVP_MD_CTX_free(md);
  return s;
}

/* Without a log: each sent value (now known to be the TPM's) against the
 * policy's allow-lists. */
static grpc_status_code judge_values(const rt_policy *policy, const TPML_PCR_SELECTION *sel,
                                     Rattest__V1__PcrValue *const *values, size_t n_values,
                                     rt_rpc_status *st) {
  for (uint32_t b = 0; b < sel->count; b++) {
    TPMI_ALG_HASH bank = sel->pcrSelections[b].hash;
    size_t size = rt_pcr_bank_size(bank);
    for (uint32_t i = 0; i < RT_PCR_COUNT; i++) {
      char why[256] = "";
      if (rt_pcrsel_has(sel, bank, i) &&
          rt_policy_check_pcrs(policy, bank, i, pcr_value(NULL, values, n_values, bank, i, size),
                               size, why, sizeof why) != RT_POLICY_ALLOW)
        return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "POLICY_PCR", "%s", why);
    }
  }
  return GRPC_STATUS_OK;
}

/* With a log: the judgement `policy check` makes too (policy_judge.h). */
static grpc_status_code judge_log(const rt_policy *policy, const rt_eventlog *log,
                                  const rt_eventlog_pcrs *replayed, rt_rpc_status *st) {
  rt_log_verdict v;
  rt_err err;
  if (rt_policy_judge_replayed(policy, log, replayed, &v, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "event log state: %s", err.msg);
  if (v.code != NULL)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, v.code, "%s", v.why);
  return GRPC_STATUS_OK;
}

static void record_proven(const TPML_PCR_SELECTION *sel, const rt_eventlog_pcrs *replayed,
                          Rattest__V1__PcrValue *const *values, size_t n_values,
                          rt_pcr_proven *proven) {
  memset(proven, 0, sizeof *proven);
  proven->sel = *sel;
  for (uint32_t b = 0; b < sel->count && b < TPM2_NUM_PCR_BANKS; b++) {
    TPMI_ALG_HASH bank = sel->pcrSelections[b].hash;
    size_t size = rt_pcr_bank_size(bank);
    for (uint32_t i = 0; i < RT_PCR_COUNT; i++)
      if (rt_pcrsel_has(sel, bank, i))
        memcpy(proven->value[b][i], pcr_value(replayed, values, n_values, bank, i, size), size);
  }
}

grpc_status_code rt_check_pcrs(const rt_policy *policy, const TPMS_ATTEST *quote,
                               TPMI_ALG_HASH digest_alg, const ProtobufCBinaryData *event_log,
                               Rattest__V1__PcrValue *const *values, size_t n_values,
                               rt_pcr_proven *proven, rt_rpc_status *st) {
  const TPML_PCR_SELECTION *sel = &quote->attested.quote.pcrSelect;
  rt_eventlog log;
  rt_eventlog_pcrs *replayed = NULL;
  grpc_status_code s = GRPC_STATUS_OK;
  memset(&log, 0, sizeof log);
  if (event_log->len == 0 && rt_policy_require_event_log(policy))
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "EVENTLOG_REQUIRED",
                   "the policy requires an event log and none was sent");
  if (event_log->len > 0 && (replayed = calloc(1, sizeof *replayed)) == NULL)
    return rt_deny(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "INTERNAL", "out of memory");
  if (replayed != NULL)
    s = read_log(event_log, &log, replayed, st);
  if (s == GRPC_STATUS_OK)
    s = digest_matches(quote, digest_alg, replayed, values, n_values, st);
  /* Only now are the values known to be the TPM's: judge them. */
  if (s == GRPC_STATUS_OK)
    s = replayed != NULL ? judge_log(policy, &log, replayed, st)
                         : judge_values(policy, sel, values, n_values, st);
  if (s == GRPC_STATUS_OK && proven != NULL)
    record_proven(sel, replayed, values, n_values, proven);
  rt_eventlog_free(&log);
  free(replayed);
  return s;
}

grpc_status_code rt_check_key(const rt_policy *policy, const ProtobufCBinaryData *key_public,
                              TPM2B_PUBLIC *key, rt_rpc_status *st) {
  rt_err err;
  if (rt_tpm_pub_unmarshal(key_public->data, key_public->len, key, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "KEY_MALFORMED", "key public: %s", err.msg);
  const TPMT_PUBLIC *p = &key->publicArea;
  rt_key_alg alg = rt_key_alg_of(p);
  if (alg == RT_ALG_NONE || !rt_policy_key_alg_allowed(policy, alg))
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "KEY_ALGORITHM",
                   "key algorithm %s is not allowed by the policy",
                   alg == RT_ALG_NONE ? "(unsupported)" : rt_key_alg_name(alg));
  /* Born in this TPM, never leaves it, usable for signing without
   * restriction: what makes a certificate for it meaningful. */
  const TPMA_OBJECT need = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                           TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                           TPMA_OBJECT_SIGN_ENCRYPT;
  if ((p->objectAttributes & need) != need)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "KEY_ATTRIBUTES",
                   "key attributes 0x%08x lack fixedTPM, fixedParent, sensitiveDataOrigin, "
                   "userWithAuth or sign",
                   (unsigned)p->objectAttributes);
  if (p->objectAttributes & TPMA_OBJECT_RESTRICTED)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "KEY_ATTRIBUTES",
                   "the key is restricted: it could not sign TLS handshakes");
  return GRPC_STATUS_OK;
}

grpc_status_code rt_check_certify(const rt_policy *policy, EVP_PKEY *ak, const TPMT_PUBLIC *key,
                                  const uint8_t *nonce, size_t nonce_len,
                                  const ProtobufCBinaryData *info, const ProtobufCBinaryData *sig,
                                  rt_rpc_status *st) {
  TPMS_ATTEST a;
  TPMI_ALG_HASH h;
  grpc_status_code s = signed_attest(policy, ak, &certify_codes, info, sig, &a, &h, st);
  if (s != GRPC_STATUS_OK)
    return s;
  if (a.type != TPM2_ST_ATTEST_CERTIFY)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "CERTIFY_TYPE",
                   "certification is an attestation of type 0x%04x", (unsigned)a.type);
  if (!nonce_equal(&a.extraData, nonce, nonce_len))
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "CERTIFY_NONCE",
                   "certification does not carry this session's nonce");
  TPM2B_NAME name;
  rt_err err;
  if (rt_tpm_pub_name(key, &name, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "KEY_MALFORMED", "key name: %s", err.msg);
  const TPM2B_NAME *certified = &a.attested.certify.name;
  if (certified->size != name.size || memcmp(certified->name, name.name, name.size) != 0)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "CERTIFY_NAME",
                   "the certification is of another object than the key sent");
  return GRPC_STATUS_OK;
}

grpc_status_code rt_check_possession(EVP_PKEY *key, const uint8_t *nonce, size_t nonce_len,
                                     const ProtobufCBinaryData *sig, rt_rpc_status *st) {
  rt_err err;
  TPMT_SIGNATURE s;
  if (rt_tpm_sig_unmarshal(sig->data, sig->len, &s, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "POSSESSION_MALFORMED",
                   "possession signature: %s", err.msg);
  if (rt_tpm_sig_hash(&s) != TPM2_ALG_SHA256)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "POSSESSION_SIGNATURE",
                   "possession signature must use SHA-256");
  uint8_t *msg = NULL;
  size_t len = 0;
  if (rt_possession_message(nonce, nonce_len, &msg, &len, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "%s", err.msg);
  rt_code code = rt_tpm_sig_verify(key, &s, msg, len, &err);
  free(msg);
  if (code != RT_OK)
    return rt_deny(st, GRPC_STATUS_PERMISSION_DENIED, "POSSESSION_SIGNATURE",
                   "the key's possession signature does not verify: %s", err.msg);
  return GRPC_STATUS_OK;
}

size_t rt_pcr_proven_concat(const rt_pcr_proven *proven, const TPML_PCR_SELECTION *sel,
                            uint8_t *out) {
  size_t n = 0;
  for (uint32_t b = 0; b < sel->count; b++) {
    TPMI_ALG_HASH bank = sel->pcrSelections[b].hash;
    size_t size = rt_pcr_bank_size(bank);
    uint32_t pb = 0;
    while (pb < proven->sel.count && proven->sel.pcrSelections[pb].hash != bank)
      pb++;
    for (uint32_t i = 0; i < RT_PCR_COUNT; i++) {
      if (!rt_pcrsel_has(sel, bank, i))
        continue;
      if (pb == proven->sel.count || !rt_pcrsel_has(&proven->sel, bank, i))
        return 0;
      memcpy(out + n, proven->value[pb][i], size);
      n += size;
    }
  }
  return n;
}
