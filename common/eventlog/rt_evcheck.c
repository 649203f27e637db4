#include "rt_evcheck.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <string.h>

#include "rt_evdata.h"
#include "rt_uefi.h"

const char *rt_evcheck_name(rt_evcheck c) {
  switch (c) {
  case RT_EVCHECK_OK:
    return "ok";
  case RT_EVCHECK_MISMATCH:
    return "mismatch";
  default:
    return "unchecked";
  }
}

/* ---- proof ---------------------------------------------------------------- */

void rt_evproof_all(const rt_eventlog *log, rt_evproof *out) {
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < log->n_algs && out->n < RT_EVENTLOG_MAX_BANKS; i++)
    if (rt_eventlog_alg_evp_name(log->algs[i].alg) != NULL) {
      out->banks[out->n].alg = log->algs[i].alg;
      out->banks[out->n++].pcrs = (UINT32_C(1) << RT_EVENTLOG_NUM_PCRS) - 1;
    }
}

uint32_t rt_evproof_pcrs(const rt_evproof *proof, TPM2_ALG_ID alg) {
  for (size_t b = 0; b < proof->n; b++)
    if (proof->banks[b].alg == alg)
      return proof->banks[b].pcrs;
  return 0;
}

uint32_t rt_evproof_any(const rt_evproof *proof) {
  uint32_t any = 0;
  for (size_t b = 0; b < proof->n; b++)
    any |= proof->banks[b].pcrs;
  return any;
}

bool rt_evcheck_extended(const rt_eventlog *log, size_t i) {
  const rt_eventlog_event *ev = &log->events[i];
  return !(!log->legacy && i == 0) && ev->type != RT_EV_NO_ACTION && ev->pcr < RT_EVENTLOG_NUM_PCRS;
}

/* ---- hashing -------------------------------------------------------------- */

/* One context for every hash of a log's check. */
typedef struct {
  EVP_MD_CTX *ctx;
  size_t n;
  TPM2_ALG_ID alg[RT_EVENTLOG_MAX_BANKS];
  EVP_MD *md[RT_EVENTLOG_MAX_BANKS];
} hasher;

static void hasher_free(hasher *h) {
  for (size_t i = 0; i < h->n; i++)
    EVP_MD_free(h->md[i]);
  EVP_MD_CTX_free(h->ctx);
  memset(h, 0, sizeof *h);
}

static rt_code hasher_init(hasher *h, const rt_evproof *proof, rt_err *err) {
  memset(h, 0, sizeof *h);
  if ((h->ctx = EVP_MD_CTX_new()) == NULL)
    return rt_err_set(err, RT_E_NOMEM, "checking the event log: out of memory");
  for (size_t i = 0; i < proof->n; i++) {
    const char *name = rt_eventlog_alg_evp_name(proof->banks[i].alg);
    if (name == NULL || (h->md[h->n] = EVP_MD_fetch(NULL, name, NULL)) == NULL) {
      hasher_free(h);
      return rt_err_set(err, RT_E_CRYPTO, "checking the event log: OpenSSL has no %s digest",
                        name != NULL ? name : "such");
    }
    h->alg[h->n++] = proof->banks[i].alg;
  }
  return RT_OK;
}

/* A candidate for the hashed bytes: p[0..n) then tail_n zero bytes (for
 * systemd-boot, which hashed a terminator it did not log in full). */
typedef struct {
  const uint8_t *p;
  size_t n;
  size_t tail_n; /* 0..2 */
} cand;

/* Whether c hashes, in the bank of digest d, to d. *ok false on an OpenSSL
 * failure. */
static bool hashes_to(hasher *h, size_t b, const cand *c, const rt_eventlog_digest *d, bool *ok) {
  static const uint8_t empty = 0, zeros[2] = {0, 0};
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  *ok = EVP_DigestInit_ex2(h->ctx, h->md[b], NULL) == 1 &&
        EVP_DigestUpdate(h->ctx, c->p != NULL ? c->p : &empty, c->n) == 1 &&
        (c->tail_n == 0 || EVP_DigestUpdate(h->ctx, zeros, c->tail_n) == 1) &&
        EVP_DigestFinal_ex(h->ctx, md, &len) == 1;
  return *ok && len == d->len && memcmp(md, d->bytes, len) == 0;
}

/* Whether candidate c hashes to every proven digest of the event; *compared
 * counts them (0: nothing proven). */
static rt_code cand_matches(hasher *h, const rt_evproof *proof, const rt_eventlog_event *ev,
                            const cand *c, size_t *compared, bool *all, rt_err *err) {
  *compared = 0;
  *all = true;
  for (size_t b = 0; b < h->n && *all; b++) {
    const rt_eventlog_digest *d = rt_eventlog_event_digest(ev, h->alg[b]);
    if (d == NULL || !(proof->banks[b].pcrs & UINT32_C(1) << ev->pcr))
      continue;
    bool ok;
    *all = hashes_to(h, b, c, d, &ok);
    if (!ok)
      return rt_err_set(err, RT_E_CRYPTO, "checking event %" PRIu32 ": hashing failed", ev->index);
    (*compared)++;
  }
  return RT_OK;
}

/* OK if one candidate hashes to every proven digest, MISMATCH if none does,
 * UNCHECKED if the event has no proven digest. */
static rt_code match(hasher *h, const rt_evproof *proof, const rt_eventlog_event *ev, const cand *c,
                     size_t nc, rt_evcheck *out, rt_err *err) {
  *out = RT_EVCHECK_UNCHECKED;
  for (size_t k = 0; k < nc; k++) {
    size_t compared;
    bool all;
    rt_code rc = cand_matches(h, proof, ev, &c[k], &compared, &all, err);
    if (rc != RT_OK)
      return rc;
    if (compared == 0)
      return RT_OK;
    if (all) {
      *out = RT_EVCHECK_OK;
      return RT_OK;
    }
    *out = RT_EVCHECK_MISMATCH;
  }
  return RT_OK;
}

/* ---- check rules ---------------------------------------------------------
 * What each type's digest covers, established on the five real logs in
 * tests/data/eventlogs (every checked event there hashes as stated):
 * - EV_SEPARATOR, EV_EFI_ACTION, EV_ACTION, EV_S_CRTM_VERSION,
 *   EV_EFI_GPT_EVENT, EV_EFI_VARIABLE_DRIVER_CONFIG (the whole
 *   UEFI_VARIABLE_DATA, on all five), and the Windows log's EV_EVENT_TAG
 *   (SIPA data, 6 events) and EV_COMPACT_HASH (2): the event data.
 * - EV_EFI_VARIABLE_BOOT/BOOT2: the whole UEFI_VARIABLE_DATA (laptop and
 *   arch firmware) or only its VariableData (Google's GCE firmware in rhel8
 *   and gce-cos85).
 * - EV_EFI_VARIABLE_AUTHORITY: the data; or, from shim 15 (gce-cos85 events
 *   24 and 41), the first struct_len + 5 bytes: shim sized its
 *   UEFI_VARIABLE_DATA with sizeof() of a C struct padded from 35 to 40 bytes
 *   and hashed 5 bytes past the structure.
 * - EV_IPL from GRUB in PCR 8: the text after the prefix without its NUL
 *   (upstream GRUB, gce-cos85; Red Hat's "grub_kernel_cmdline ") or with it
 *   (Red Hat's "grub_cmd "). Other EV_IPL events are UNCHECKED: shim's
 *   "MokList" names in PCR 14 and GRUB's file names in PCR 9 label a digest
 *   of something else.
 * - EV_IPL from systemd-boot in PCR 8 (arch): its UTF-16LE load options and
 *   a 2-byte NUL (see sdboot_units).
 * Not checked, no evidence in the logs: EV_PLATFORM_CONFIG_FLAGS,
 * EV_EFI_GPT_EVENT2, EV_NONHOST_INFO (GCE's happens to hash its data).
 * What a digest does not cover stays a label even when the event is OK: the
 * event type; a boot variable's GUID and name under the VariableData-only
 * form (no state is derived from boot variables for that reason, and
 * EV_EFI_VARIABLE_DRIVER_CONFIG is not offered that form: it would let a
 * 1-byte variable pass for SecureBoot); GRUB's prefix, so which GRUB string
 * is the kernel command line rests on GRUB's label. */
static size_t candidates(const rt_eventlog *log, size_t i, cand c[2]) {
  const rt_eventlog_event *ev = &log->events[i];
  const uint8_t *d = ev->data;
  size_t n = ev->data_len;
  rt_uefi_var v;
  rt_grub_string g;
  size_t units;
  if (!rt_evcheck_extended(log, i))
    return 0;
  c[0] = (cand){d, n, 0};
  switch (ev->type) {
  case RT_EV_SEPARATOR:
  case RT_EV_EFI_ACTION:
  case RT_EV_ACTION:
  case RT_EV_S_CRTM_VERSION:
  case RT_EV_EFI_GPT_EVENT:
  case RT_EV_EFI_VARIABLE_DRIVER_CONFIG:
  case RT_EV_EVENT_TAG:
  case RT_EV_COMPACT_HASH:
    return 1;
  case RT_EV_EFI_VARIABLE_BOOT:
  case RT_EV_EFI_VARIABLE_BOOT2:
    if (!rt_uefi_var_parse(d, n, &v))
      return 1;
    c[1] = (cand){v.data, v.data_len, 0};
    return 2;
  case RT_EV_EFI_VARIABLE_AUTHORITY:
    if (!rt_uefi_var_parse(d, n, &v) || n - v.struct_len <= 5)
      return 1;
    c[1] = (cand){d, v.struct_len + 5, 0};
    return 2;
  case RT_EV_IPL:
    if (ev->pcr == 8 && !rt_evdata_grub(d, n, &g) && rt_evdata_sdboot_units(d, n, &units)) {
      c[0] = (cand){d, 2 * units, 2};
      return 1;
    }
    if (ev->pcr != 8 || !rt_evdata_grub(d, n, &g))
      return 0;
    c[0] = (cand){g.text, g.len, 0};
    if (!g.nul)
      return 1;
    c[1] = (cand){g.text, g.len + 1, 0};
    return 2;
  default:
    return 0;
  }
}

bool rt_evcheck_hashes_data(const rt_eventlog *log, size_t i) {
  cand c[2];
  return candidates(log, i, c) > 0;
}

/* The separator values that report an error (the TCG PC Client profile's 1,
 * as the little-endian UINT32 the firmware hashes, and all ones from older
 * profiles; both byte orders of 1). Only these: hiding an error is what a
 * relabelled separator would be for, and the normal value 0 is a digest
 * real firmware also extends for other events (the laptop log's Boot Guard
 * EV_S_CRTM_CONTENTS "FIT Type 0x2D" is SHA-1 of four zero bytes). */
static const uint8_t sep_values[][4] = {{1, 0, 0, 0}, {0, 0, 0, 1}, {0xff, 0xff, 0xff, 0xff}};
#define N_SEP_VALUES (sizeof sep_values / sizeof sep_values[0])

/* Whether every proven digest of the event is the hash of one error
 * separator value: an error separator, whatever its label says. */
static rt_code separator_digest(hasher *h, const rt_evproof *proof, const rt_eventlog_event *ev,
                                bool *out, rt_err *err) {
  *out = false;
  for (size_t v = 0; v < N_SEP_VALUES && !*out; v++) {
    cand c = {sep_values[v], 4, 0};
    size_t compared;
    rt_code rc = cand_matches(h, proof, ev, &c, &compared, out, err);
    if (rc != RT_OK)
      return rc;
    *out = *out && compared > 0;
  }
  return RT_OK;
}

rt_code rt_evcheck_all(const rt_eventlog *log, const rt_evproof *proof, rt_evcheck *checks,
                       bool *sep_digest, rt_err *err) {
  hasher h;
  rt_code rc = hasher_init(&h, proof, err);
  for (size_t i = 0; i < log->n_events && rc == RT_OK; i++) {
    const rt_eventlog_event *ev = &log->events[i];
    cand c[2];
    size_t nc = candidates(log, i, c);
    rc = match(&h, proof, ev, c, nc, &checks[i], err);
    sep_digest[i] = false;
    if (rc == RT_OK && rt_evcheck_extended(log, i) && ev->pcr < 8 && ev->type != RT_EV_SEPARATOR)
      rc = separator_digest(&h, proof, ev, &sep_digest[i], err);
  }
  hasher_free(&h);
  return rc;
}
