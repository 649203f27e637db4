/* verifier/evidence_check with real TPM quotes and their real AKs: the
 * gce-cos85 vTPM attestation (quotes of the sha1, sha256 and sha384 banks,
 * PCRs 0-23, nonce 0x9009, RSASSA-SHA256) and the Windows GCE Shielded VM
 * quote (sha1 PCRs 0-23, empty nonce, RSASSA-SHA1). Each goes through
 * rt_check_quote and rt_check_pcrs exactly as Finish calls them: accepted
 * with a policy demanding its selection, its pcrDigest reproduced from
 * pcrs.txt and compared with the event log's replay, each refusal with its
 * specific code, and thousands of deterministic mutations of the attestation
 * and signature bytes, every one refused with a quote code. The gce AK
 * certificate chains to Google's CA and holds the AK's key.
 *
 * Usage: test_fixture_quotes DATA_DIR   (ctest: fixture_quotes)
 * DATA_DIR is tests/data. */
#include <inttypes.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "evidence_check.h"
#include "policy.h"
#include "rt_eventlog.h"
#include "rt_file.h"
#include "rt_hex.h"
#include "rt_pcrsel.h"
#include "rt_templates.h"
#include "rt_test.h"
#include "rt_tpm.h"
#include "rt_tpm_pub.h"

#define BIT(n) (UINT32_C(1) << (n))
#define NPCR RT_PCR_COUNT
#define MAX_FILE (1 << 20)
#define MAX_DIGEST 64

typedef struct {
  const char *name;    /* for messages */
  const char *dir;     /* folder under DATA_DIR with ak_pub and the quote */
  const char *quote;   /* QUOTE.tpms_attest.bin and QUOTE.tpmt_signature.bin */
  const char *log_dir; /* folder with eventlog.bin and pcrs.txt */
  TPMI_ALG_HASH bank;  /* the quoted bank; every quote covers its PCRs 0-23 */
  TPMI_ALG_HASH sig_hash;
  uint8_t nonce[2];
  size_t nonce_len;
  /* Quoted PCRs that have no event in the log yet are not at their reset
   * value, so the log alone cannot reproduce the quote. */
  uint32_t log_gaps;
} quote_fixture;

#define GCE "attestations/gce-cos85"
#define GCE_LOG "eventlogs/gce-cos85"
#define WIN "eventlogs/windows-gcp-shielded-vm"

/* PCR10 is IMA's: the COS kernel extends it, the firmware log (all the
 * fixture has) never holds its events. */
static const quote_fixture fixtures[] = {
    {"gce-cos85 sha1",
     GCE,
     "quote_sha1",
     GCE_LOG,
     TPM2_ALG_SHA1,
     TPM2_ALG_SHA256,
     {0x90, 0x09},
     2,
     BIT(10)},
    {"gce-cos85 sha256",
     GCE,
     "quote_sha256",
     GCE_LOG,
     TPM2_ALG_SHA256,
     TPM2_ALG_SHA256,
     {0x90, 0x09},
     2,
     BIT(10)},
    {"gce-cos85 sha384",
     GCE,
     "quote_sha384",
     GCE_LOG,
     TPM2_ALG_SHA384,
     TPM2_ALG_SHA256,
     {0x90, 0x09},
     2,
     BIT(10)},
    {"windows sha1", WIN, "quote_sha1", WIN, TPM2_ALG_SHA1, TPM2_ALG_SHA1, {0}, 0, 0},
};
#define N_FIXTURES (sizeof fixtures / sizeof fixtures[0])
#define WINDOWS (&loaded[3])
#define GCE_SHA256 (&loaded[1])

typedef struct {
  const quote_fixture *fx;
  TPMT_PUBLIC ak_pub;
  EVP_PKEY *ak;
  uint8_t *tpms; /* the TPMS_ATTEST as published */
  size_t tpms_len;
  uint8_t *sig; /* TPMT_SIGNATURE */
  size_t sig_len;
  uint8_t *log;
  size_t log_len;
  /* pcrs.txt, the fixture's bank */
  uint8_t pcr[NPCR][MAX_DIGEST];
  uint32_t listed;
} quote_data;

static quote_data loaded[N_FIXTURES];

static char *path_join(const char *a, const char *b, const char *c) {
  size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
  char *p = malloc(n);
  snprintf(p, n, "%s/%s/%s", a, b, c);
  return p;
}

static uint8_t *read_data(const char *data_dir, const char *dir, const char *file, size_t *len) {
  char *path = path_join(data_dir, dir, file);
  uint8_t *data = NULL;
  rt_err err;
  if (rt_file_read(path, MAX_FILE, &data, len, &err) != RT_OK) {
    CHECK(0, "%s", err.msg);
    data = NULL;
    *len = 0;
  }
  free(path);
  return data;
}

static bool unhex(const char *s, uint8_t *out, size_t want) {
  if (strlen(s) != 2 * want)
    return false;
  for (size_t i = 0; i < want; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1)
      return false;
    out[i] = (uint8_t)v;
  }
  return true;
}

/* The fixture bank's lines of pcrs.txt ("bank index hex"). */
static bool load_pcrs(const char *data_dir, quote_data *q) {
  size_t len;
  uint8_t *text = read_data(data_dir, q->fx->log_dir, "pcrs.txt", &len);
  const char *want = rt_pcr_bank_name(q->fx->bank);
  size_t size = rt_pcr_bank_size(q->fx->bank);
  bool ok = text != NULL;
  char *save = NULL;
  q->listed = 0;
  for (char *line = ok ? strtok_r((char *)text, "\n", &save) : NULL; line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    char bank[16], val[2 * MAX_DIGEST + 2];
    int pcr;
    if (line[0] == '#')
      continue;
    if (sscanf(line, "%15s %d %129s", bank, &pcr, val) != 3 || pcr < 0 || pcr >= NPCR) {
      CHECK(0, "%s pcrs.txt: bad line \"%s\"", q->fx->name, line);
      ok = false;
      break;
    }
    if (strcmp(bank, want) != 0)
      continue;
    CHECK(!(q->listed & BIT(pcr)), "%s pcrs.txt: PCR %d twice", q->fx->name, pcr);
    if (!unhex(val, q->pcr[pcr], size)) {
      CHECK(0, "%s pcrs.txt: bad value \"%s\"", q->fx->name, line);
      ok = false;
      break;
    }
    q->listed |= BIT(pcr);
  }
  free(text);
  CHECK(q->listed == BIT(24) - 1, "%s pcrs.txt: %s PCRs %#" PRIx32 ", want 0-23", q->fx->name, want,
        q->listed);
  return ok && q->listed == BIT(24) - 1;
}

/* The AK as the verifier gets it: ak_public is a TPM2B_PUBLIC, so the
 * published TPMT_PUBLIC is unmarshalled and wrapped by libtss2-mu, then
 * parsed and converted by the verifier's own functions. */
static bool load_ak(const char *data_dir, quote_data *q) {
  size_t len, off = 0;
  uint8_t *raw = read_data(data_dir, q->fx->dir, "ak_pub.tpmt_public.bin", &len);
  TPM2B_PUBLIC wrap = {0};
  uint8_t wire[sizeof(TPM2B_PUBLIC)];
  size_t wire_len = 0;
  rt_err err;
  bool ok = false;
  if (raw == NULL)
    return false;
  TSS2_RC rc = Tss2_MU_TPMT_PUBLIC_Unmarshal(raw, len, &off, &wrap.publicArea);
  CHECK(rc == TSS2_RC_SUCCESS && off == len, "%s AK: TPMT_PUBLIC rc 0x%x, %zu of %zu bytes",
        q->fx->name, rc, off, len);
  if (rc != TSS2_RC_SUCCESS || off != len)
    goto out;
  rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&wrap, wire, sizeof wire, &wire_len);
  CHECK(rc == TSS2_RC_SUCCESS && wire_len == len + 2, "%s AK: TPM2B_PUBLIC rc 0x%x", q->fx->name,
        rc);
  TPM2B_PUBLIC pub;
  if (rt_tpm_pub_unmarshal(wire, wire_len, &pub, &err) != RT_OK) {
    CHECK(0, "%s AK: %s", q->fx->name, err.msg);
    goto out;
  }
  q->ak_pub = pub.publicArea;
  if (rt_tpm_pub_to_evp(&q->ak_pub, &q->ak, &err) != RT_OK) {
    CHECK(0, "%s AK: %s", q->fx->name, err.msg);
    goto out;
  }
  CHECK(rt_key_alg_of(&q->ak_pub) == RT_ALG_RSA_2048, "%s AK is not RSA 2048", q->fx->name);
  CHECK(EVP_PKEY_get_bits(q->ak) == 2048, "%s AK bits %d", q->fx->name, EVP_PKEY_get_bits(q->ak));
  ok = true;
out:
  free(raw);
  return ok;
}

static bool load(const char *data_dir, quote_data *q, const quote_fixture *fx) {
  char file[64];
  memset(q, 0, sizeof *q);
  q->fx = fx;
  snprintf(file, sizeof file, "%s.tpms_attest.bin", fx->quote);
  q->tpms = read_data(data_dir, fx->dir, file, &q->tpms_len);
  snprintf(file, sizeof file, "%s.tpmt_signature.bin", fx->quote);
  q->sig = read_data(data_dir, fx->dir, file, &q->sig_len);
  q->log = read_data(data_dir, fx->log_dir, "eventlog.bin", &q->log_len);
  bool ak = load_ak(data_dir, q), pcrs = load_pcrs(data_dir, q);
  return q->tpms != NULL && q->sig != NULL && q->log != NULL && ak && pcrs;
}

static void unload(quote_data *q) {
  EVP_PKEY_free(q->ak);
  free(q->tpms);
  free(q->sig);
  free(q->log);
}

/* ---- the verifier's calls ------------------------------------------------ */

/* Finish carries the quote as the TPM2B_ATTEST Esys returns; the fixtures
 * publish the TPMS_ATTEST inside it. */
static size_t wrap_attest(const uint8_t *tpms, size_t len, uint8_t *out, size_t cap) {
  TPM2B_ATTEST a;
  size_t off = 0;
  if (len > sizeof a.attestationData)
    return 0;
  a.size = (UINT16)len;
  memcpy(a.attestationData, tpms, len);
  if (Tss2_MU_TPM2B_ATTEST_Marshal(&a, out, cap, &off) != TSS2_RC_SUCCESS)
    return 0;
  return off;
}

static rt_policy *policy_json(const char *json) {
  rt_policy *p = NULL;
  rt_err err;
  CHECK(rt_policy_parse(json, strlen(json), &p, &err) == RT_OK, "policy %s: %s", json, err.msg);
  return p;
}

/* A policy demanding PCRs `mask` of `bank` (and `mask2` of `bank2` if not
 * 0); `extra` is more JSON members ("" or starting with a comma). */
static rt_policy *policy_for(TPMI_ALG_HASH bank, uint32_t mask, TPMI_ALG_HASH bank2, uint32_t mask2,
                             bool allow_sha1, bool require_log, const char *extra) {
  char json[4096], list[2][128];
  uint32_t masks[2] = {mask, mask2};
  for (int b = 0; b < 2; b++) {
    size_t n = 0;
    list[b][0] = '\0';
    for (int i = 0; i < NPCR; i++)
      if (masks[b] & BIT(i))
        n += (size_t)snprintf(list[b] + n, sizeof list[b] - n, "%s%d", n ? ", " : "", i);
  }
  char second[160] = "";
  if (mask2 != 0)
    snprintf(second, sizeof second, ", \"%s\": [%s]", rt_pcr_bank_name(bank2), list[1]);
  snprintf(json, sizeof json,
           "{\"pcrs\": {\"%s\": [%s]%s}, \"allow_sha1\": %s, \"require_event_log\": %s%s}",
           rt_pcr_bank_name(bank), list[0], second, allow_sha1 ? "true" : "false",
           require_log ? "true" : "false", extra);
  return policy_json(json);
}

#define ALL (BIT(24) - 1)

/* The policy the fixture passes: its bank's PCRs 0-23, sha1 allowed where
 * the quote needs it. */
static rt_policy *policy_of(const quote_fixture *fx, bool require_log) {
  bool sha1 = fx->bank == TPM2_ALG_SHA1 || fx->sig_hash == TPM2_ALG_SHA1;
  return policy_for(fx->bank, ALL, 0, 0, sha1, require_log, "");
}

typedef struct {
  grpc_status_code status;
  const char *code; /* "OK" on success */
  char message[512];
  TPMS_ATTEST quote;
  TPMI_ALG_HASH digest_alg;
} outcome;

static const char *code_of(grpc_status_code s, const rt_rpc_status *st) {
  if (s == GRPC_STATUS_OK)
    return "OK";
  return st->code != NULL ? st->code : "(no code)";
}

/* rt_check_quote as Finish calls it: the selection comes from the policy,
 * attest is the wire TPM2B_ATTEST. */
static void check_quote_wire(const rt_policy *p, EVP_PKEY *ak, const uint8_t *nonce,
                             size_t nonce_len, const uint8_t *wire, size_t wire_len,
                             const uint8_t *sig, size_t sig_len, outcome *o) {
  TPML_PCR_SELECTION demanded;
  rt_rpc_status st;
  memset(&st, 0, sizeof st);
  memset(o, 0, sizeof *o);
  rt_policy_tpml_selection(p, &demanded);
  ProtobufCBinaryData a = {wire_len, (uint8_t *)wire}, s = {sig_len, (uint8_t *)sig};
  o->status =
      rt_check_quote(p, ak, nonce, nonce_len, &demanded, &a, &s, &o->quote, &o->digest_alg, &st);
  o->code = code_of(o->status, &st);
  snprintf(o->message, sizeof o->message, "%s", st.message);
  if (o->status != GRPC_STATUS_OK)
    CHECK(o->status == st.status, "status %d, st.status %d", o->status, st.status);
}

static void check_quote(const rt_policy *p, EVP_PKEY *ak, const uint8_t *nonce, size_t nonce_len,
                        const uint8_t *tpms, size_t tpms_len, const uint8_t *sig, size_t sig_len,
                        outcome *o) {
  uint8_t wire[sizeof(TPM2B_ATTEST)];
  size_t wire_len = wrap_attest(tpms, tpms_len, wire, sizeof wire);
  CHECK(wire_len == tpms_len + 2, "cannot wrap %zu attest bytes", tpms_len);
  check_quote_wire(p, ak, nonce, nonce_len, wire, wire_len, sig, sig_len, o);
}

/* The fixture's quote, its AK and nonce, under policy p. */
static void check_fixture(const rt_policy *p, const quote_data *q, outcome *o) {
  check_quote(p, q->ak, q->fx->nonce, q->fx->nonce_len, q->tpms, q->tpms_len, q->sig, q->sig_len,
              o);
}

#define CHECK_CODE(o, want, what)                                                                  \
  CHECK(strcmp((o)->code, (want)) == 0, "%s: %s: got %s (%s), want %s", q->fx->name, what,         \
        (o)->code, (o)->message, want)

/* rt_check_pcrs with the PCR values sent (no log) or the log. */
static const char *check_pcrs(const rt_policy *p, const outcome *quoted, const uint8_t *log,
                              size_t log_len, TPMI_ALG_HASH bank, uint8_t values[][MAX_DIGEST],
                              uint32_t send, char *msg, size_t msg_size) {
  Rattest__V1__PcrValue v[NPCR], *vp[NPCR];
  size_t n = 0;
  for (uint32_t i = 0; i < NPCR; i++) {
    if (!(send & BIT(i)))
      continue;
    Rattest__V1__PcrValue init = RATTEST__V1__PCR_VALUE__INIT;
    v[n] = init;
    v[n].bank = (char *)rt_pcr_bank_name(bank);
    v[n].index = i;
    v[n].digest.data = values[i];
    v[n].digest.len = rt_pcr_bank_size(bank);
    vp[n] = &v[n];
    n++;
  }
  rt_rpc_status st;
  memset(&st, 0, sizeof st);
  ProtobufCBinaryData l = {log_len, (uint8_t *)log};
  grpc_status_code s = rt_check_pcrs(p, &quoted->quote, quoted->digest_alg, &l, vp, n, NULL, &st);
  snprintf(msg, msg_size, "%s", st.message);
  return code_of(s, &st);
}

/* ---- accepted, and the pcrDigest reproduced ------------------------------ */

static void test_accepted(quote_data *q) {
  const quote_fixture *fx = q->fx;
  size_t size = rt_pcr_bank_size(fx->bank);
  char msg[512];
  outcome o;
  rt_policy *p = policy_of(fx, false);
  if (p == NULL)
    return;
  check_fixture(p, q, &o);
  CHECK_CODE(&o, "OK", "own policy");
  if (o.status != GRPC_STATUS_OK)
    goto out;
  CHECK(o.digest_alg == fx->sig_hash, "%s: signed with 0x%04x", fx->name, o.digest_alg);
  CHECK(o.quote.type == TPM2_ST_ATTEST_QUOTE, "%s: type", fx->name);
  CHECK(o.quote.attested.quote.pcrSelect.count == 1 &&
            o.quote.attested.quote.pcrSelect.pcrSelections[0].hash == fx->bank &&
            rt_pcrsel_count(&o.quote.attested.quote.pcrSelect) == NPCR,
        "%s: selection", fx->name);
  CHECK(o.quote.attested.quote.pcrDigest.size == rt_pcr_bank_size(fx->sig_hash),
        "%s: pcrDigest is %u bytes", fx->name, o.quote.attested.quote.pcrDigest.size);

  /* No log, the 24 values of pcrs.txt: they are what the TPM hashed. */
  const char *c = check_pcrs(p, &o, NULL, 0, fx->bank, q->pcr, ALL, msg, sizeof msg);
  CHECK(strcmp(c, "OK") == 0, "%s: pcrs.txt values: %s (%s)", fx->name, c, msg);

  /* Any one PCR changed by one bit: the digest no longer matches. */
  int changed_refused = 0;
  for (int i = 0; i < NPCR; i++) {
    q->pcr[i][size - 1] ^= 0x01;
    c = check_pcrs(p, &o, NULL, 0, fx->bank, q->pcr, ALL, msg, sizeof msg);
    q->pcr[i][size - 1] ^= 0x01;
    changed_refused += strcmp(c, "QUOTE_PCR_DIGEST") == 0;
    if (i == 7)
      CHECK(strcmp(c, "QUOTE_PCR_DIGEST") == 0, "%s: PCR7 changed: %s (%s)", fx->name, c, msg);
  }
  CHECK(changed_refused == NPCR, "%s: %d of 24 changed PCRs refused", fx->name, changed_refused);
  c = check_pcrs(p, &o, NULL, 0, fx->bank, q->pcr, ALL & ~BIT(23), msg, sizeof msg);
  CHECK(strcmp(c, "PCR_VALUE_MISSING") == 0, "%s: PCR23 not sent: %s", fx->name, c);
  TPMI_ALG_HASH other = fx->bank == TPM2_ALG_SHA1 ? TPM2_ALG_SHA256 : TPM2_ALG_SHA1;
  c = check_pcrs(p, &o, NULL, 0, other, q->pcr, ALL, msg, sizeof msg);
  CHECK(strcmp(c, "PCR_VALUE_MISSING") == 0, "%s: values of another bank: %s", fx->name, c);

  /* The values, once matched, are judged by the policy: PCR0 pinned to its
   * value passes, to another value is POLICY_PCR. */
  for (int pin = 0; pin < 2; pin++) {
    char hex[2 * MAX_DIGEST + 1], extra[512];
    uint8_t v[MAX_DIGEST];
    memcpy(v, q->pcr[0], size);
    v[0] ^= (uint8_t)pin;
    rt_hex(v, size, hex);
    snprintf(extra, sizeof extra, ", \"expected\": {\"%s\": {\"0\": [\"%s\"]}}",
             rt_pcr_bank_name(fx->bank), hex);
    rt_policy *pinned = policy_for(fx->bank, ALL, 0, 0, true, false, extra);
    if (pinned == NULL)
      continue;
    c = check_pcrs(pinned, &o, NULL, 0, fx->bank, q->pcr, ALL, msg, sizeof msg);
    CHECK(strcmp(c, pin ? "POLICY_PCR" : "OK") == 0, "%s: PCR0 pinned (%d): %s (%s)", fx->name, pin,
          c, msg);
    rt_policy_free(pinned);
  }
out:
  rt_policy_free(p);
}

/* ---- the event log -------------------------------------------------------- */

static void test_event_log(quote_data *q) {
  const quote_fixture *fx = q->fx;
  size_t size = rt_pcr_bank_size(fx->bank);
  rt_eventlog log;
  rt_eventlog_pcrs *replayed = calloc(1, sizeof *replayed);
  rt_err err;
  char msg[512];
  rt_policy *p = policy_of(fx, true);
  if (p == NULL || replayed == NULL)
    goto out;
  CHECK(rt_eventlog_parse(q->log, q->log_len, NULL, &log, &err) == RT_OK, "%s: %s", fx->name,
        err.msg);
  CHECK(rt_eventlog_replay(&log, replayed, &err) == RT_OK, "%s: %s", fx->name, err.msg);
  rt_eventlog_free(&log);
  const rt_eventlog_bank *b = rt_eventlog_pcrs_bank(replayed, fx->bank);
  CHECK(b != NULL && b->size == size, "%s: the log has no %s bank", fx->name,
        rt_pcr_bank_name(fx->bank));
  if (b == NULL || b->size != size)
    goto out;

  /* Every PCR with events replays to its quoted value; the others hold
   * their reset value, except the fixture's known gaps. */
  uint32_t gaps = 0;
  int equal = 0;
  for (int i = 0; i < NPCR; i++) {
    bool same = memcmp(b->pcr[i], q->pcr[i], size) == 0;
    if (b->extended & BIT(i)) {
      CHECK(same, "%s: PCR%d replays to another value than quoted", fx->name, i);
      equal += same;
    } else if (!same) {
      gaps |= BIT(i);
    }
  }
  CHECK(equal > 0 && equal == __builtin_popcount(b->extended), "%s: %d PCRs with events match",
        fx->name, equal);
  CHECK(gaps == fx->log_gaps, "%s: quoted PCRs without events at a non-reset value %#" PRIx32,
        fx->name, gaps);

  outcome o;
  check_fixture(p, q, &o);
  CHECK_CODE(&o, "OK", "policy requiring the log");
  if (o.status != GRPC_STATUS_OK)
    goto out;
  const char *c = check_pcrs(p, &o, q->log, q->log_len, fx->bank, NULL, 0, msg, sizeof msg);
  if (fx->log_gaps == 0) {
    CHECK(strcmp(c, "OK") == 0, "%s: the event log: %s (%s)", fx->name, c, msg);
  } else {
    /* The firmware log cannot reproduce a quote over a PCR it has no
     * events for (gce-cos85: PCR10, extended by IMA in the kernel, whose
     * measurements are in a separate log) while that PCR is not at its
     * reset value: the verifier rightly refuses, there is nothing to fake.
     * A policy for such machines leaves those PCRs out of `pcrs`. */
    CHECK(strcmp(c, "EVENTLOG_REPLAY_MISMATCH") == 0, "%s: the event log: %s (%s)", fx->name, c,
          msg);
    /* ...and the gaps are the only reason: the replayed values with the
     * quoted ones for the gaps reproduce the digest. */
    uint8_t(*mixed)[MAX_DIGEST] = calloc(NPCR, MAX_DIGEST);
    for (int i = 0; mixed != NULL && i < NPCR; i++)
      memcpy(mixed[i], (fx->log_gaps & BIT(i)) ? q->pcr[i] : b->pcr[i], size);
    rt_policy *nolog = policy_of(fx, false);
    if (mixed != NULL && nolog != NULL) {
      c = check_pcrs(nolog, &o, NULL, 0, fx->bank, mixed, ALL, msg, sizeof msg);
      CHECK(strcmp(c, "OK") == 0, "%s: replay + quoted gaps: %s (%s)", fx->name, c, msg);
    }
    rt_policy_free(nolog);
    free(mixed);
  }
  /* A log without events (one byte cut off the first event) is malformed. */
  c = check_pcrs(p, &o, q->log, 10, fx->bank, NULL, 0, msg, sizeof msg);
  CHECK(strcmp(c, "EVENTLOG_MALFORMED") == 0, "%s: cut log: %s", fx->name, c);
  /* The policy requires a log: values alone are refused. */
  c = check_pcrs(p, &o, NULL, 0, fx->bank, q->pcr, ALL, msg, sizeof msg);
  CHECK(strcmp(c, "EVENTLOG_REQUIRED") == 0, "%s: no log: %s", fx->name, c);
out:
  rt_policy_free(p);
  free(replayed);
}

/* ---- refusals ------------------------------------------------------------ */

static void test_refusals(quote_data *q) {
  const quote_fixture *fx = q->fx;
  outcome o;
  rt_policy *p = policy_of(fx, false);
  if (p == NULL)
    return;

  /* Nonces: another value, a prefix, none / one where none was quoted. */
  static const uint8_t n9010[] = {0x90, 0x10}, n90[] = {0x90}, n0[] = {0x00};
  check_quote(p, q->ak, n9010, 2, q->tpms, q->tpms_len, q->sig, q->sig_len, &o);
  CHECK_CODE(&o, "QUOTE_NONCE", "nonce 9010");
  if (fx->nonce_len > 0) {
    check_quote(p, q->ak, n90, 1, q->tpms, q->tpms_len, q->sig, q->sig_len, &o);
    CHECK_CODE(&o, "QUOTE_NONCE", "nonce prefix");
    check_quote(p, q->ak, NULL, 0, q->tpms, q->tpms_len, q->sig, q->sig_len, &o);
    CHECK_CODE(&o, "QUOTE_NONCE", "empty nonce");
  } else {
    check_quote(p, q->ak, n0, 1, q->tpms, q->tpms_len, q->sig, q->sig_len, &o);
    CHECK_CODE(&o, "QUOTE_NONCE", "nonce 00");
  }

  /* Selections: every other bank's 0-23, this bank's 0-22, and this bank
   * plus one more PCR of another bank. */
  static const TPMI_ALG_HASH banks[] = {TPM2_ALG_SHA1, TPM2_ALG_SHA256, TPM2_ALG_SHA384};
  for (size_t i = 0; i < 3; i++) {
    if (banks[i] == fx->bank)
      continue;
    rt_policy *other = policy_for(banks[i], ALL, 0, 0, true, false, "");
    if (other == NULL)
      continue;
    check_fixture(other, q, &o);
    CHECK_CODE(&o, "QUOTE_PCR_SELECTION", rt_pcr_bank_name(banks[i]));
    rt_policy_free(other);
  }
  rt_policy *fewer = policy_for(fx->bank, ALL & ~BIT(23), 0, 0, true, false, "");
  if (fewer != NULL) {
    check_fixture(fewer, q, &o);
    CHECK_CODE(&o, "QUOTE_PCR_SELECTION", "PCRs 0-22");
    rt_policy_free(fewer);
  }
  TPMI_ALG_HASH more = fx->bank == TPM2_ALG_SHA384 ? TPM2_ALG_SHA256 : TPM2_ALG_SHA384;
  rt_policy *extra = policy_for(fx->bank, ALL, more, BIT(0), true, false, "");
  if (extra != NULL) {
    check_fixture(extra, q, &o);
    CHECK_CODE(&o, "QUOTE_PCR_SELECTION", "one more bank");
    rt_policy_free(extra);
  }

  /* The other machine's AK. */
  const quote_data *stranger = fx == &fixtures[3] ? GCE_SHA256 : WINDOWS;
  check_quote(p, stranger->ak, fx->nonce, fx->nonce_len, q->tpms, q->tpms_len, q->sig, q->sig_len,
              &o);
  CHECK_CODE(&o, "QUOTE_SIGNATURE", "the other AK");
  /* Another quote's signature by the same AK (gce: sha256's). */
  if (q != GCE_SHA256 && strcmp(fx->dir, GCE_SHA256->fx->dir) == 0) {
    check_quote(p, q->ak, fx->nonce, fx->nonce_len, q->tpms, q->tpms_len, GCE_SHA256->sig,
                GCE_SHA256->sig_len, &o);
    CHECK_CODE(&o, "QUOTE_SIGNATURE", "the sha256 quote's signature");
  }

  /* SHA-1 is accepted only where the policy allows it. A policy without
   * allow_sha1 cannot demand the sha1 bank at all (parse error), so it
   * demands sha256 0-23 here. */
  rt_policy *no_sha1 = policy_for(TPM2_ALG_SHA256, ALL, 0, 0, false, false, "");
  if (no_sha1 != NULL) {
    check_fixture(no_sha1, q, &o);
    if (fx->sig_hash == TPM2_ALG_SHA1)
      CHECK_CODE(&o, "QUOTE_HASH", "allow_sha1 false");
    else if (fx->bank == TPM2_ALG_SHA256)
      CHECK_CODE(&o, "OK", "allow_sha1 false");
    else /* gce sha1 and sha384: SHA-256 signatures over another bank than sha256. The gce
          * "sha1" quote has nothing SHA-1 in its signature: it is refused only because a
          * policy without allow_sha1 can never demand its bank. */
      CHECK_CODE(&o, "QUOTE_PCR_SELECTION", "allow_sha1 false");
    rt_policy_free(no_sha1);
  }
  if (fx->sig_hash == TPM2_ALG_SHA1) {
    rt_policy *sha1_ok = policy_for(fx->bank, ALL, 0, 0, true, false, "");
    if (sha1_ok != NULL) {
      check_fixture(sha1_ok, q, &o);
      CHECK_CODE(&o, "OK", "allow_sha1 true");
      rt_policy_free(sha1_ok);
    }
  }
  rt_policy_free(p);
}

/* ---- mutations ----------------------------------------------------------- */

static const char *const quote_codes[] = {"QUOTE_MALFORMED", "QUOTE_SIGNATURE",
                                          "QUOTE_HASH",      "QUOTE_TYPE",
                                          "QUOTE_NONCE",     "QUOTE_PCR_SELECTION"};
#define N_CODES (sizeof quote_codes / sizeof quote_codes[0])
enum { C_MALFORMED = 0, C_SIGNATURE = 1, C_OTHER = N_CODES };

typedef struct {
  const quote_data *q;
  const rt_policy *p;
  unsigned long count[N_CODES + 1];
  unsigned long total, bad;
} mutation_run;

/* One mutated quote: refused with a quote code, whose status matches
 * (malformed input is INVALID_ARGUMENT, the rest PERMISSION_DENIED).
 * Returns the code's index. */
static size_t judge(mutation_run *r, const char *what, size_t pos, const uint8_t *wire,
                    size_t wire_len, const uint8_t *sig, size_t sig_len) {
  outcome o;
  check_quote_wire(r->p, r->q->ak, r->q->fx->nonce, r->q->fx->nonce_len, wire, wire_len, sig,
                   sig_len, &o);
  size_t k = 0;
  while (k < N_CODES && strcmp(o.code, quote_codes[k]) != 0)
    k++;
  r->count[k]++;
  r->total++;
  grpc_status_code want =
      k == C_MALFORMED ? GRPC_STATUS_INVALID_ARGUMENT : GRPC_STATUS_PERMISSION_DENIED;
  if (k == C_OTHER || o.status != want) {
    r->bad++;
    if (r->bad <= 10)
      CHECK(0, "%s: %s at %zu: %s (status %d): %s", r->q->fx->name, what, pos, o.code, o.status,
            o.message);
  }
  return k;
}

static size_t judge_tpms(mutation_run *r, const char *what, size_t pos, const uint8_t *tpms,
                         size_t len, const uint8_t *sig, size_t sig_len) {
  uint8_t wire[sizeof(TPM2B_ATTEST)];
  size_t wire_len = wrap_attest(tpms, len, wire, sizeof wire);
  if (wire_len == 0) {
    CHECK(0, "%s: cannot wrap %zu bytes", r->q->fx->name, len);
    return C_OTHER;
  }
  return judge(r, what, pos, wire, wire_len, sig, sig_len);
}

/* Byte ranges of the attestation that are signed but that no check
 * judges: the signer's qualified name, clock, resetCount, restartCount
 * (not the `safe` byte, a TPMI_YES_NO) and firmwareVersion. Found with
 * libtss2-mu, from the front. */
typedef struct {
  size_t lo[3], hi[3];
} unjudged;

static bool unjudged_of(const uint8_t *b, size_t len, unjudged *u) {
  size_t off = 0;
  UINT32 magic;
  TPM2_ST type;
  TPM2B_NAME name;
  TPM2B_DATA extra;
  TPMS_CLOCK_INFO clock;
  UINT64 fw;
  if (Tss2_MU_UINT32_Unmarshal(b, len, &off, &magic) ||
      Tss2_MU_TPM2_ST_Unmarshal(b, len, &off, &type))
    return false;
  u->lo[0] = off + 2;
  if (Tss2_MU_TPM2B_NAME_Unmarshal(b, len, &off, &name))
    return false;
  u->hi[0] = off;
  if (Tss2_MU_TPM2B_DATA_Unmarshal(b, len, &off, &extra))
    return false;
  u->lo[1] = off;
  if (Tss2_MU_TPMS_CLOCK_INFO_Unmarshal(b, len, &off, &clock))
    return false;
  u->hi[1] = off - 1;
  u->lo[2] = off;
  if (Tss2_MU_UINT64_Unmarshal(b, len, &off, &fw))
    return false;
  u->hi[2] = off;
  return u->hi[0] > u->lo[0] && u->hi[1] - u->lo[1] == 16;
}

static uint32_t rng_state;
static uint32_t rng(void) {
  /* xorshift32: the same sequence on every run. */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

#define APPEND_MAX 16
#define RANDOM_PER_QUOTE 600

static void test_mutations(const quote_data *q, unsigned long totals[N_CODES + 1]) {
  const quote_fixture *fx = q->fx;
  mutation_run r = {.q = q};
  rt_policy *p = policy_of(fx, false);
  outcome o;
  if (p == NULL)
    return;
  r.p = p;
  check_fixture(p, q, &o);
  CHECK_CODE(&o, "OK", "unmutated");

  size_t alen = q->tpms_len, slen = q->sig_len;
  uint8_t *a = malloc(alen + APPEND_MAX), *s = malloc(slen + APPEND_MAX);
  uint8_t wire[sizeof(TPM2B_ATTEST) + APPEND_MAX];
  memcpy(a, q->tpms, alen);
  memcpy(s, q->sig, slen);
  unjudged u;
  bool have_u = unjudged_of(a, alen, &u);
  CHECK(have_u, "%s: attestation layout", fx->name);
  unsigned long unjudged_flips = 0, unjudged_signature = 0;

  /* Every bit of the attestation; signed-but-unjudged bytes must fail by
   * signature, not be waved through or misreported. */
  for (size_t i = 0; i < alen; i++)
    for (int bit = 0; bit < 8; bit++) {
      a[i] ^= (uint8_t)(1u << bit);
      size_t k = judge_tpms(&r, "attest bit flip", i, a, alen, s, slen);
      a[i] ^= (uint8_t)(1u << bit);
      for (int g = 0; have_u && g < 3; g++)
        if (i >= u.lo[g] && i < u.hi[g]) {
          unjudged_flips++;
          unjudged_signature += k == C_SIGNATURE;
        }
    }
  CHECK(unjudged_flips > 0 && unjudged_signature == unjudged_flips,
        "%s: %lu of %lu flips of unjudged bytes refused as QUOTE_SIGNATURE", fx->name,
        unjudged_signature, unjudged_flips);
  /* Every bit of the signature. */
  for (size_t i = 0; i < slen; i++)
    for (int bit = 0; bit < 8; bit++) {
      s[i] ^= (uint8_t)(1u << bit);
      judge_tpms(&r, "signature bit flip", i, a, alen, s, slen);
      s[i] ^= (uint8_t)(1u << bit);
    }
  /* Truncated and extended, each at every length: the TPMS_ATTEST (wrapped
   * consistently), the TPM2B_ATTEST on the wire, the signature. The parsers
   * are strict, so all of these are malformed. */
  unsigned long malformed_before = r.count[C_MALFORMED], cut = 0;
  for (size_t n = 0; n < alen; n++, cut++)
    judge_tpms(&r, "attest truncated", n, a, n, s, slen);
  size_t wire_len = wrap_attest(a, alen, wire, sizeof wire);
  for (size_t n = 0; n < wire_len; n++, cut++)
    judge(&r, "wire attest truncated", n, wire, n, s, slen);
  for (size_t n = 0; n < slen; n++, cut++)
    judge_tpms(&r, "signature truncated", n, a, alen, s, n);
  for (size_t n = 1; n <= APPEND_MAX; n++)
    for (int fill = 0; fill < 2; fill++, cut += 3) {
      memset(a + alen, fill ? 0xff : 0x00, n);
      memset(wire + wire_len, fill ? 0xff : 0x00, n);
      memset(s + slen, fill ? 0xff : 0x00, n);
      judge_tpms(&r, "attest appended", n, a, alen + n, s, slen);
      judge(&r, "wire attest appended", n, wire, wire_len + n, s, slen);
      judge_tpms(&r, "signature appended", n, a, alen, s, slen + n);
    }
  CHECK(r.count[C_MALFORMED] - malformed_before == cut,
        "%s: %lu of %lu truncated or extended inputs refused as QUOTE_MALFORMED", fx->name,
        r.count[C_MALFORMED] - malformed_before, cut);

  /* A seeded sample of 1-4 bytes replaced at random, in one or both. */
  rng_state = 0x9e3779b9u ^ (uint32_t)(fx - fixtures);
  for (int t = 0; t < RANDOM_PER_QUOTE; t++) {
    int which = (int)(rng() % 3); /* 0 attest, 1 signature, 2 both */
    int n = 1 + (int)(rng() % 4);
    for (int j = 0; j < n; j++) {
      if (which != 1)
        a[rng() % alen] ^= (uint8_t)(1 + rng() % 255);
      if (which != 0)
        s[rng() % slen] ^= (uint8_t)(1 + rng() % 255);
    }
    if (memcmp(a, q->tpms, alen) == 0 && memcmp(s, q->sig, slen) == 0)
      a[0] ^= 0x01; /* two changes of one byte cancelled out */
    judge_tpms(&r, "random bytes", (size_t)t, a, alen, s, slen);
    memcpy(a, q->tpms, alen);
    memcpy(s, q->sig, slen);
  }

  printf("%s: %lu mutations:", fx->name, r.total);
  for (size_t k = 0; k <= N_CODES; k++) {
    if (r.count[k] != 0)
      printf(" %s %lu", k < N_CODES ? quote_codes[k] : "other", r.count[k]);
    totals[k] += r.count[k];
  }
  printf(" (unjudged-byte flips %lu, all QUOTE_SIGNATURE)\n", unjudged_flips);
  CHECK(r.bad == 0 && r.count[C_OTHER] == 0, "%s: %lu mutations not refused with a quote code",
        fx->name, r.bad);
  CHECK(r.count[C_MALFORMED] > 0 && r.count[C_SIGNATURE] > 0,
        "%s: mutations reach both the parser (%lu) and the signature (%lu)", fx->name,
        r.count[C_MALFORMED], r.count[C_SIGNATURE]);
  CHECK(r.total >= 500, "%s: only %lu mutations", fx->name, r.total);
  free(a);
  free(s);
  rt_policy_free(p);
}

/* ---- the AK certificate ------------------------------------------------ */

static X509 *read_der_cert(const char *data_dir, const char *file) {
  size_t len;
  uint8_t *der = read_data(data_dir, GCE, file, &len);
  const unsigned char *pp = der;
  X509 *x = der ? d2i_X509(NULL, &pp, (long)len) : NULL;
  CHECK(x != NULL && pp == der + len, "%s: not one DER certificate", file);
  free(der);
  return x;
}

/* The gce-cos85 AK certificate (leaf with a critical SAN and an empty
 * subject) chains to Google's EK/AK root through its intermediate, at a
 * fixed time within every certificate's validity, and certifies the key the
 * quotes verify with. */
static void test_ak_cert(const char *data_dir) {
  X509 *leaf = read_der_cert(data_dir, "ak_cert.der");
  X509 *inter = read_der_cert(data_dir, "ca/tpm_ek_intermediate_2.crt");
  X509 *root = read_der_cert(data_dir, "ca/tpm_ek_root_1.cer");
  if (leaf == NULL || inter == NULL || root == NULL)
    goto out;
  for (int with_inter = 1; with_inter >= 0; with_inter--) {
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509_STORE_add_cert(store, root);
    if (with_inter)
      sk_X509_push(untrusted, inter);
    X509_STORE_CTX_init(ctx, store, leaf, untrusted);
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)1640995200); /* 2022-01-01 */
    int ok = X509_verify_cert(ctx);
    if (with_inter)
      CHECK(ok == 1, "AK certificate chain: %s",
            X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    else
      CHECK(ok != 1 &&
                X509_STORE_CTX_get_error(ctx) == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
            "AK certificate without its intermediate: %d %s", ok,
            X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_free(untrusted);
  }
  EVP_PKEY *cert_key = X509_get0_pubkey(leaf);
  CHECK(cert_key != NULL && rt_tpm_pub_matches(&GCE_SHA256->ak_pub, cert_key) == 1,
        "the AK certificate's key is not the gce AK");
  CHECK(cert_key != NULL && rt_tpm_pub_matches(&WINDOWS->ak_pub, cert_key) == 0,
        "the AK certificate's key matches the Windows AK");
out:
  X509_free(leaf);
  X509_free(inter);
  X509_free(root);
}

/* What Begin would say of these AKs: gce's is exactly what rattest-bootstrap
 * makes; the Windows AK also has noDA, so Begin refuses it (AK_ATTRIBUTES)
 * although its quote verifies. */
static void test_ak_attributes(void) {
  CHECK(GCE_SHA256->ak_pub.objectAttributes == RT_AK_ATTRS &&
            GCE_SHA256->ak_pub.nameAlg == TPM2_ALG_SHA256,
        "gce AK attributes 0x%08x", GCE_SHA256->ak_pub.objectAttributes);
  CHECK(WINDOWS->ak_pub.objectAttributes == (RT_AK_ATTRS | TPMA_OBJECT_NODA),
        "windows AK attributes 0x%08x", WINDOWS->ak_pub.objectAttributes);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
    return 2;
  }
  /* Malformed quotes make libtss2-mu log errors; the codes say it all. */
  rt_tpm_quiet_tss_logs();
  bool all = true;
  for (size_t i = 0; i < N_FIXTURES; i++)
    all &= load(argv[1], &loaded[i], &fixtures[i]);
  if (all) {
    unsigned long totals[N_CODES + 1] = {0};
    test_ak_attributes();
    /* A policy without allow_sha1 cannot even demand the sha1 bank. */
    rt_policy *p = NULL;
    rt_err err;
    const char *bad = "{\"pcrs\": {\"sha1\": [0]}, \"allow_sha1\": false}";
    CHECK(rt_policy_parse(bad, strlen(bad), &p, &err) == RT_E_INVALID, "sha1 without allow_sha1");
    rt_policy_free(p);
    for (size_t i = 0; i < N_FIXTURES; i++) {
      test_accepted(&loaded[i]);
      test_event_log(&loaded[i]);
      test_refusals(&loaded[i]);
      test_mutations(&loaded[i], totals);
    }
    printf("all quotes:");
    for (size_t k = 0; k <= N_CODES; k++)
      if (totals[k] != 0)
        printf(" %s %lu", k < N_CODES ? quote_codes[k] : "other", totals[k]);
    printf("\n");
    test_ak_cert(argv[1]);
  }
  for (size_t i = 0; i < N_FIXTURES; i++)
    unload(&loaded[i]);
  return rt_test_done("fixture_quotes");
}
