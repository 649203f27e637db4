/* common/rt_eventlog: real event logs replayed against the PCR values their
 * machines quoted, malformed logs rejected with exact messages, and (with
 * --mutate) thousands of deterministic mutations of every real log, each of
 * which must parse or fail cleanly; those that parse also go through
 * rt_evstate_derive and every event's decoding, once as they are (mostly
 * MISMATCH) and once with each event's digests recomputed over its data, so
 * that malformed payloads reach the decoders as if the TPM had measured
 * them (ASan catches any read out of bounds). Also UEFI device paths as
 * text, every node kind.
 *
 * Usage: test_eventlog DATA_DIR            (ctest: eventlog)
 *        test_eventlog --mutate DATA_DIR   (ctest: eventlog_mutation)
 * DATA_DIR is tests/data/eventlogs. */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_devpath.h"
#include "rt_evdecode.h"
#include "rt_eventlog.h"
#include "rt_evstate.h"
#include "rt_evstate_out.h"
#include "rt_file.h"
#include "rt_test.h"

#define BIT(n) (UINT32_C(1) << (n))

typedef struct {
  const char *dir;  /* folder under DATA_DIR */
  const char *file; /* the log in it, named as upstream names it */
  size_t n_events;
  bool legacy;
  size_t n_algs;
  TPM2_ALG_ID algs[3];
  int locality;               /* -1: no StartupLocality event */
  uint32_t pcrs_with_events;  /* PCRs the log extends */
  uint32_t pcrs_not_from_log; /* quoted value is not the reset value, yet no firmware event */
} fixture;

static const fixture fixtures[] = {
    {"glinux-alex-laptop",
     "glinux-alex.bin",
     29,
     false,
     2,
     {TPM2_ALG_SHA1, TPM2_ALG_SHA256},
     3,
     0xff,
     0},
    {"arch-linux-workstation",
     "arch-linux-workstation.bin",
     25,
     false,
     2,
     {TPM2_ALG_SHA1, TPM2_ALG_SHA256},
     -1,
     0x1ff,
     0},
    {"rhel8-gce-vtpm",
     "rhel8-uefi.bin",
     83,
     false,
     3,
     {TPM2_ALG_SHA1, TPM2_ALG_SHA256, TPM2_ALG_SHA384},
     -1,
     0x3ff | BIT(14),
     0},
    {"windows-gcp-shielded-vm",
     "eventlog.bin",
     21,
     true,
     1,
     {TPM2_ALG_SHA1},
     -1,
     BIT(0) | BIT(4) | BIT(5) | BIT(7) | BIT(11) | BIT(12) | BIT(13) | BIT(14),
     0},
    /* PCR10 is IMA's: the kernel extends it, the firmware log has no event. */
    {"gce-cos85",
     "eventlog.bin",
     45,
     false,
     3,
     {TPM2_ALG_SHA1, TPM2_ALG_SHA256, TPM2_ALG_SHA384},
     -1,
     0x3ff,
     BIT(10)},
};
#define N_FIXTURES (sizeof fixtures / sizeof fixtures[0])

static void hex(const uint8_t *b, size_t n, char *out) {
  for (size_t i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", b[i]);
  out[2 * n] = '\0';
}

static int unhex(const char *s, uint8_t *out, size_t max) {
  size_t n = strlen(s);
  if (n % 2 != 0 || n / 2 > max)
    return -1;
  for (size_t i = 0; i < n / 2; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1)
      return -1;
    out[i] = (uint8_t)v;
  }
  return (int)(n / 2);
}

static char *path_join(const char *a, const char *b, const char *c) {
  size_t n = strlen(a) + strlen(b) + (c ? strlen(c) : 0) + 3;
  char *p = malloc(n);
  if (c != NULL)
    snprintf(p, n, "%s/%s/%s", a, b, c);
  else
    snprintf(p, n, "%s/%s", a, b);
  return p;
}

/* ---- pcrs.txt -------------------------------------------------------- */

typedef struct {
  TPM2_ALG_ID alg;
  int pcr;
  uint8_t val[RT_EVENTLOG_MAX_DIGEST];
  size_t len;
} pcr_line;

typedef struct {
  size_t n;
  pcr_line lines[RT_EVENTLOG_MAX_BANKS * RT_EVENTLOG_NUM_PCRS];
} pcr_file;

static bool load_pcrs(const char *path, pcr_file *pf) {
  uint8_t *text;
  size_t len;
  rt_err err;
  pf->n = 0;
  if (rt_file_read(path, 1 << 20, &text, &len, &err) != RT_OK) {
    CHECK(0, "%s", err.msg);
    return false;
  }
  bool ok = true;
  char *save = NULL;
  for (char *line = strtok_r((char *)text, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    if (line[0] == '#' || line[0] == '\0')
      continue;
    char bank[16], val[2 * RT_EVENTLOG_MAX_DIGEST + 2];
    int pcr;
    pcr_line *pl = &pf->lines[pf->n];
    if (pf->n == sizeof pf->lines / sizeof pf->lines[0] ||
        sscanf(line, "%15s %d %129s", bank, &pcr, val) != 3 || pcr < 0 ||
        pcr >= RT_EVENTLOG_NUM_PCRS ||
        (pl->alg = rt_eventlog_alg_from_name(bank)) == TPM2_ALG_ERROR ||
        unhex(val, pl->val, sizeof pl->val) != (int)rt_eventlog_alg_digest_size(pl->alg)) {
      CHECK(0, "%s: bad line \"%s\"", path, line);
      ok = false;
      break;
    }
    pl->pcr = pcr;
    pl->len = rt_eventlog_alg_digest_size(pl->alg);
    pf->n++;
  }
  free(text);
  return ok && pf->n > 0;
}

static bool is_reset_value(int pcr, const uint8_t *v, size_t len) {
  uint8_t want = (pcr >= 17 && pcr <= 22) ? 0xff : 0x00;
  for (size_t i = 0; i < len; i++)
    if (v[i] != want)
      return false;
  return true;
}

/* ---- real logs ------------------------------------------------------- */

/* Every PCR with events, in every bank both the replay and pcrs.txt have,
 * equals pcrs.txt; PCRs without events hold their reset value there.
 * Returns how many PCR values were compared. */
static int compare_with_pcrs(const fixture *fx, const rt_eventlog_pcrs *pcrs, const pcr_file *pf) {
  char got[2 * RT_EVENTLOG_MAX_DIGEST + 1], want[2 * RT_EVENTLOG_MAX_DIGEST + 1];
  int compared = 0;
  for (size_t b = 0; b < pcrs->n_banks; b++) {
    const rt_eventlog_bank *bank = &pcrs->banks[b];
    uint32_t listed = 0;
    for (size_t i = 0; i < pf->n; i++) {
      const pcr_line *pl = &pf->lines[i];
      if (pl->alg != bank->alg)
        continue;
      listed |= BIT(pl->pcr);
      if (bank->extended & BIT(pl->pcr)) {
        hex(bank->pcr[pl->pcr], bank->size, got);
        hex(pl->val, pl->len, want);
        CHECK(strcmp(got, want) == 0, "%s %s PCR%d: replay %s, quoted %s", fx->dir,
              rt_eventlog_alg_name(bank->alg), pl->pcr, got, want);
        compared++;
      } else if (fx->pcrs_not_from_log & BIT(pl->pcr)) {
        CHECK(!is_reset_value(pl->pcr, pl->val, pl->len), "%s PCR%d", fx->dir, pl->pcr);
      } else {
        CHECK(is_reset_value(pl->pcr, pl->val, pl->len),
              "%s %s PCR%d has a value in pcrs.txt but no event in the log", fx->dir,
              rt_eventlog_alg_name(bank->alg), pl->pcr);
      }
    }
    /* A bank pcrs.txt lists must list every PCR the log extends. */
    if (listed != 0)
      CHECK((listed & bank->extended) == bank->extended, "%s %s: pcrs.txt lacks PCRs %#" PRIx32,
            fx->dir, rt_eventlog_alg_name(bank->alg), bank->extended & ~listed);
  }
  return compared;
}

static void test_fixture(const char *data_dir, const fixture *fx) {
  char *path = path_join(data_dir, fx->dir, fx->file);
  char *pcrs_path = path_join(data_dir, fx->dir, "pcrs.txt");
  rt_eventlog log;
  rt_eventlog_pcrs pcrs;
  rt_err err = {0};
  pcr_file *pf = malloc(sizeof *pf);

  rt_code rc = rt_eventlog_read_file(path, NULL, &log, &err);
  CHECK(rc == RT_OK, "%s: %s", path, err.msg);
  if (rc != RT_OK)
    goto out;
  CHECK(log.n_events == fx->n_events, "%s: %zu events, expected %zu", fx->dir, log.n_events,
        fx->n_events);
  CHECK(log.legacy == fx->legacy, "%s: legacy %d", fx->dir, log.legacy);
  CHECK(log.parsed_len == log.raw_len, "%s: parsed %zu of %zu bytes", fx->dir, log.parsed_len,
        log.raw_len);
  CHECK(log.n_algs == fx->n_algs, "%s: %zu algorithms", fx->dir, log.n_algs);
  for (size_t i = 0; i < fx->n_algs && i < log.n_algs; i++)
    CHECK(log.algs[i].alg == fx->algs[i] &&
              log.algs[i].digest_size == rt_eventlog_alg_digest_size(fx->algs[i]),
          "%s: algorithm %zu is 0x%04x/%u", fx->dir, i, log.algs[i].alg, log.algs[i].digest_size);
  CHECK(log.has_startup_locality == (fx->locality >= 0), "%s: StartupLocality event", fx->dir);
  if (fx->locality >= 0)
    CHECK(log.startup_locality == fx->locality, "%s: locality %u", fx->dir, log.startup_locality);
  size_t bad_event = SIZE_MAX;
  for (size_t i = 0; i < log.n_events; i++) {
    const rt_eventlog_event *ev = &log.events[i];
    bool shape_ok = ev->index == i && ev->n_digests == (i == 0 && !log.legacy ? 1 : log.n_algs) &&
                    (ev->data_len == 0 ||
                     (ev->data >= log.raw && ev->data + ev->data_len <= log.raw + log.raw_len));
    if (!shape_ok) {
      bad_event = i;
      break;
    }
  }
  CHECK(bad_event == SIZE_MAX, "%s: event %zu is malformed", fx->dir, bad_event);
  rc = rt_eventlog_replay(&log, &pcrs, &err);
  CHECK(rc == RT_OK, "%s: replay: %s", fx->dir, err.msg);
  if (rc != RT_OK)
    goto out;
  CHECK(pcrs.n_banks == fx->n_algs, "%s: %zu banks", fx->dir, pcrs.n_banks);
  for (size_t b = 0; b < pcrs.n_banks; b++)
    CHECK(pcrs.banks[b].extended == fx->pcrs_with_events, "%s %s: PCRs with events %#" PRIx32,
          fx->dir, rt_eventlog_alg_name(pcrs.banks[b].alg), pcrs.banks[b].extended);
  if (load_pcrs(pcrs_path, pf)) {
    int compared = compare_with_pcrs(fx, &pcrs, pf);
    int bits = __builtin_popcount(fx->pcrs_with_events);
    /* Every bank pcrs.txt has: sha1+sha256 for the go-tpm-tools logs,
     * sha1 for Windows, all three for the COS attestation. */
    int banks_in_both = strcmp(fx->dir, "gce-cos85") == 0 ? 3 : fx->legacy ? 1 : 2;
    CHECK(compared == bits * banks_in_both, "%s: compared %d PCR values, expected %d", fx->dir,
          compared, bits * banks_in_both);
    printf("%s: %zu events, %d PCR values compared with pcrs.txt\n", fx->dir, log.n_events,
           compared);
  }

out:
  rt_eventlog_free(&log);
  free(pf);
  free(path);
  free(pcrs_path);
}

static uint8_t *read_fixture(const char *data_dir, const fixture *fx, size_t *len) {
  char *path = path_join(data_dir, fx->dir, fx->file);
  uint8_t *buf = NULL;
  rt_err err;
  if (rt_file_read(path, RT_EVENTLOG_DEFAULT_MAX_SIZE, &buf, len, &err) != RT_OK)
    CHECK(0, "%s", err.msg);
  free(path);
  return buf;
}

/* Facts about particular logs, beyond the PCR values. */
static void test_fixture_facts(const char *data_dir) {
  rt_err err = {0};
  rt_eventlog log;
  rt_eventlog_pcrs pcrs, pcrs0;
  size_t len;
  char got[2 * RT_EVENTLOG_MAX_DIGEST + 1];

  /* The laptop: StartupLocality 3 is event 1 (EV_NO_ACTION, PCR0), and
   * replay without it would give a different PCR0 and the same PCR1. */
  uint8_t *buf = read_fixture(data_dir, &fixtures[0], &len);
  if (buf != NULL && rt_eventlog_parse(buf, len, NULL, &log, &err) == RT_OK) {
    CHECK(log.events[1].type == RT_EV_NO_ACTION && log.events[1].pcr == 0 &&
              log.events[1].data_len == 17,
          "laptop event 1");
    CHECK(strcmp(rt_eventlog_type_name(log.events[0].type), "EV_NO_ACTION") == 0, "type name");
    CHECK(log.events[0].n_digests == 1 && log.events[0].digests[0].alg == TPM2_ALG_SHA1,
          "Spec ID event keeps its SHA1 digest");
    CHECK(rt_eventlog_replay(&log, &pcrs, &err) == RT_OK, "%s", err.msg);
    log.has_startup_locality = false;
    CHECK(rt_eventlog_replay(&log, &pcrs0, &err) == RT_OK, "%s", err.msg);
    const rt_eventlog_bank *b3 = rt_eventlog_pcrs_bank(&pcrs, TPM2_ALG_SHA256);
    const rt_eventlog_bank *b0 = rt_eventlog_pcrs_bank(&pcrs0, TPM2_ALG_SHA256);
    CHECK(b3 != NULL && b0 != NULL, "sha256 bank");
    if (b3 != NULL && b0 != NULL) {
      hex(b3->pcr[0], 32, got);
      CHECK(strcmp(got, "0e5ea849d7647a1ac1becc096fee4df98f00f8015f934afadaab0b8aa20b38a5") == 0,
            "laptop sha256 PCR0 %s", got);
      CHECK(memcmp(b3->pcr[0], b0->pcr[0], 32) != 0, "locality 0 gives the same PCR0");
      CHECK(memcmp(b3->pcr[1], b0->pcr[1], 32) == 0, "locality changed PCR1");
    }
    CHECK(rt_eventlog_pcrs_bank(&pcrs, TPM2_ALG_SHA384) == NULL, "laptop has no sha384 bank");
    rt_eventlog_free(&log);
  } else {
    CHECK(0, "laptop: %s", err.msg);
  }

  /* Zero padding after the last event (firmware buffers) is not an event. */
  if (buf != NULL) {
    uint8_t *padded = calloc(1, len + 4096);
    memcpy(padded, buf, len);
    CHECK(rt_eventlog_parse(padded, len + 4096, NULL, &log, &err) == RT_OK, "padded: %s", err.msg);
    CHECK(log.n_events == 29 && log.parsed_len == len && log.raw_len == len + 4096,
          "padded: %zu events, parsed %zu", log.n_events, log.parsed_len);
    CHECK(rt_eventlog_replay(&log, &pcrs0, &err) == RT_OK, "%s", err.msg);
    CHECK(memcmp(&pcrs0, &pcrs, sizeof pcrs) == 0, "padding changed the replay");
    rt_eventlog_free(&log);
    free(padded);
  }
  free(buf);

  /* Windows: SHA1-only legacy format starting with the S-CRTM version;
   * separators in PCR 0..7 are not all there (PCR 1-3, 6 have no events). */
  buf = read_fixture(data_dir, &fixtures[3], &len);
  if (buf != NULL && rt_eventlog_parse(buf, len, NULL, &log, &err) == RT_OK) {
    CHECK(log.legacy && log.n_algs == 1 && log.algs[0].alg == TPM2_ALG_SHA1, "windows legacy");
    CHECK(log.events[0].type == RT_EV_S_CRTM_VERSION && log.events[0].pcr == 0,
          "windows event 0 is 0x%" PRIx32, log.events[0].type);
    size_t separators = 0, tags = 0;
    for (size_t i = 0; i < log.n_events; i++) {
      separators += log.events[i].type == RT_EV_SEPARATOR;
      tags += log.events[i].type == RT_EV_EVENT_TAG;
    }
    CHECK(separators == 4 && tags == 6, "windows: %zu separators, %zu event tags", separators,
          tags);
    rt_eventlog_free(&log);
  } else {
    CHECK(0, "windows: %s", err.msg);
  }
  free(buf);

  /* gce-cos85 with a limit of 44 events: the 45th is refused, by index
   * and offset. */
  buf = read_fixture(data_dir, &fixtures[4], &len);
  if (buf != NULL && rt_eventlog_parse(buf, len, NULL, &log, &err) == RT_OK) {
    size_t off44 = log.events[44].offset;
    rt_eventlog_free(&log);
    rt_eventlog_limits lim = {.max_events = 44};
    CHECK(rt_eventlog_parse(buf, len, &lim, &log, &err) == RT_E_INVALID, "45 of 44 events");
    char want[128];
    snprintf(want, sizeof want, "event 44 at offset %zu: more than 44 events", off44);
    CHECK(strcmp(err.msg, want) == 0, "\"%s\"", err.msg);
    CHECK(log.events == NULL && log.raw == NULL && log.n_events == 0, "failed parse left data");
    lim.max_events = 45;
    CHECK(rt_eventlog_parse(buf, len, &lim, &log, &err) == RT_OK, "45 of 45: %s", err.msg);
    rt_eventlog_free(&log);
  } else {
    CHECK(0, "cos85: %s", err.msg);
  }
  free(buf);
}

/* ---- synthetic logs ---------------------------------------------------- */

typedef struct {
  uint8_t b[8192];
  size_t n;
} bld;

static void put8(bld *b, uint8_t v) {
  b->b[b->n++] = v;
}
static void put16(bld *b, uint16_t v) {
  put8(b, (uint8_t)v);
  put8(b, (uint8_t)(v >> 8));
}
static void put32(bld *b, uint32_t v) {
  put16(b, (uint16_t)v);
  put16(b, (uint16_t)(v >> 16));
}
static void putn(bld *b, const void *p, size_t n) {
  if (n > 0)
    memcpy(b->b + b->n, p, n);
  b->n += n;
}
static void putfill(bld *b, uint8_t v, size_t n) {
  memset(b->b + b->n, v, n);
  b->n += n;
}

/* TCG_PCR_EVENT carrying a TCG_EfiSpecIdEvent; 61 + 4 * n bytes. */
static void spec_id(bld *b, size_t n, const uint16_t *algs, const uint16_t *sizes) {
  put32(b, 0);
  put32(b, RT_EV_NO_ACTION);
  putfill(b, 0, 20);
  put32(b, (uint32_t)(16 + 4 + 4 + 4 + 4 * n + 1));
  putn(b, "Spec ID Event03", 16);
  put32(b, 0); /* platformClass */
  put8(b, 0);  /* specVersionMinor */
  put8(b, 2);  /* specVersionMajor */
  put8(b, 0);  /* specErrata */
  put8(b, 2);  /* uintnSize */
  put32(b, (uint32_t)n);
  for (size_t i = 0; i < n; i++) {
    put16(b, algs[i]);
    put16(b, sizes[i]);
  }
  put8(b, 0); /* vendorInfoSize */
}

/* TCG_PCR_EVENT2 with digests filled with `fill`. */
static void event2(bld *b, uint32_t pcr, uint32_t type, size_t n, const uint16_t *algs,
                   const uint16_t *sizes, uint8_t fill, const void *data, uint32_t len) {
  put32(b, pcr);
  put32(b, type);
  put32(b, (uint32_t)n);
  for (size_t i = 0; i < n; i++) {
    put16(b, algs[i]);
    putfill(b, fill, sizes[i]);
  }
  put32(b, len);
  putn(b, data, len);
}

static const uint16_t A2[] = {TPM2_ALG_SHA1, TPM2_ALG_SHA256}, S2[] = {20, 32};

/* Parses b, expects RT_E_INVALID and exactly want. */
static void expect_invalid(const char *what, const uint8_t *buf, size_t len,
                           const rt_eventlog_limits *lim, const char *want) {
  rt_eventlog log;
  rt_err err = {0};
  rt_code rc = rt_eventlog_parse(buf, len, lim, &log, &err);
  CHECK(rc == RT_E_INVALID, "%s: code %s", what, rt_code_name(rc));
  CHECK(strcmp(err.msg, want) == 0, "%s:\n  got  \"%s\"\n  want \"%s\"", what, err.msg, want);
  CHECK(log.raw == NULL && log.events == NULL && log.n_events == 0, "%s: log not emptied", what);
  rt_eventlog_free(&log);
}

static void expect_alg_issue(const char *what, const uint8_t *buf, size_t len,
                             rt_eventlog_alg_issue want, const char *want_msg) {
  rt_eventlog log;
  rt_eventlog_pcrs pcrs;
  rt_err err = {0};
  CHECK(rt_eventlog_parse(buf, len, NULL, &log, &err) == RT_OK, "%s parses: %s", what, err.msg);
  CHECK(rt_eventlog_check_algs(&log, &err) == want, "%s: issue", what);
  CHECK(strcmp(err.msg, want_msg) == 0, "%s:\n  got  \"%s\"\n  want \"%s\"", what, err.msg,
        want_msg);
  CHECK(rt_eventlog_replay(&log, &pcrs, &err) == RT_E_INVALID, "%s: replay refused", what);
  rt_eventlog_free(&log);
}

static void digest(const char *md_name, const uint8_t *a, size_t alen, const uint8_t *b,
                   size_t blen, uint8_t *out) {
  EVP_MD *md = EVP_MD_fetch(NULL, md_name, NULL);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned int n = 0;
  CHECK(md != NULL && ctx != NULL && EVP_DigestInit_ex2(ctx, md, NULL) == 1 &&
            EVP_DigestUpdate(ctx, a, alen) == 1 && EVP_DigestUpdate(ctx, b, blen) == 1 &&
            EVP_DigestFinal_ex(ctx, out, &n) == 1,
        "%s", md_name);
  EVP_MD_CTX_free(ctx);
  EVP_MD_free(md);
}

static void test_malformed(const char *data_dir) {
  bld *b = calloc(1, sizeof *b);
  char want[256];
  rt_eventlog_limits lim = {0};

  /* Empty, only zeros. */
  expect_invalid("empty", (const uint8_t *)"", 0, NULL, "event log is empty");
  uint8_t zeros[64] = {0};
  expect_invalid("zeros", zeros, sizeof zeros, NULL, "event log has only zero bytes");

  /* Truncated headers: inside the first event's fixed part, inside the
   * Spec ID data, Spec ID data too short for its own header. */
  spec_id(b, 2, A2, S2);
  expect_invalid("20 bytes", b->b, 20, NULL,
                 "event 0 at offset 0: truncated: a TCG_PCR_EVENT needs 32 bytes before its "
                 "data, 20 left");
  expect_invalid("40 bytes", b->b, 40, NULL,
                 "event 0 at offset 0: event data size 37 runs past the end of the log (8 bytes "
                 "left)");
  bld *s = calloc(1, sizeof *s);
  put32(s, 0);
  put32(s, RT_EV_NO_ACTION);
  putfill(s, 0, 20);
  put32(s, 20);
  putn(s, "Spec ID Event03\0\1\2\3\4", 20);
  expect_invalid("short Spec ID", s->b, s->n, NULL,
                 "event 0 at offset 0: Spec ID event has 20 bytes of data, its header needs 28");
  /* numberOfAlgorithms huge, zero; a digest size disagreeing with the
   * algorithm; an algorithm declared twice. */
  memcpy(s->b, b->b, b->n);
  s->n = b->n;
  memcpy(s->b + 32 + 24, "\xff\xff\xff\xff", 4);
  expect_invalid("numberOfAlgorithms", s->b, s->n, NULL,
                 "event 0 at offset 0: Spec ID event declares 4294967295 algorithms, more than "
                 "the 8 supported");
  memcpy(s->b + 32 + 24, "\0\0\0\0", 4);
  expect_invalid("no algorithms", s->b, s->n, NULL,
                 "event 0 at offset 0: Spec ID event declares no algorithms");
  memcpy(s->b + 32 + 24, "\3\0\0\0", 4);
  expect_invalid("3 of 2 algorithms", s->b, s->n, NULL,
                 "event 0 at offset 0: Spec ID event: algorithm 3 of 3 runs past the end of its "
                 "data");
  /* An algorithm the verifier does not know, or a known one with another
   * digest size, parses (the log can be shown) but is refused by
   * rt_eventlog_check_algs, and so by replay. */
  s->n = 0;
  spec_id(s, 2, A2, (const uint16_t[]){20, 20});
  expect_alg_issue("sha256 size 20", s->b, s->n, RT_EVENTLOG_ALG_DIGEST_SIZE,
                   "the event log declares sha256 digests of 20 bytes, not 32");
  s->n = 0;
  spec_id(s, 2, (const uint16_t[]){TPM2_ALG_SHA256, 0x0027}, (const uint16_t[]){32, 32});
  expect_alg_issue("sha3_256", s->b, s->n, RT_EVENTLOG_ALG_UNKNOWN,
                   "the event log declares algorithm 0x0027, which the verifier does not know: "
                   "its digests prove nothing");
  s->n = 0;
  spec_id(s, 2, (const uint16_t[]){TPM2_ALG_SHA1, 0x0027}, (const uint16_t[]){20, 0});
  expect_invalid("size 0", s->b, s->n, NULL,
                 "event 0 at offset 0: Spec ID event declares 0x0027 with digest size 0");
  s->n = 0;
  spec_id(s, 2, (const uint16_t[]){TPM2_ALG_SHA256, TPM2_ALG_SHA256}, (const uint16_t[]){32, 32});
  expect_invalid("sha256 twice", s->b, s->n, NULL,
                 "event 0 at offset 0: Spec ID event declares sha256 twice");

  /* The first TCG_PCR_EVENT2 is at offset 61 + 4 * 2 = 69. */
  size_t hdr = b->n;
  CHECK(hdr == 69, "header is %zu bytes", hdr);

  /* Length field running past the end: data size, and a digest. */
  event2(b, 0, RT_EV_SEPARATOR, 2, A2, S2, 0x11, "\0\0\0\0", 4);
  size_t one = b->n; /* 69 + 12 + 2 + 20 + 2 + 32 + 4 + 4 = 145 */
  CHECK(one == 145, "one event is %zu bytes", one);
  memcpy(b->b + one - 8, "\xff\xff\xff\xff", 4);
  expect_invalid("data size", b->b, one, NULL,
                 "event 1 at offset 69: event data size 4294967295 runs past the end of the log "
                 "(4 bytes left)");
  memcpy(b->b + one - 8, "\x04\0\0\0", 4);
  expect_invalid("cut in sha256 digest", b->b, 69 + 12 + 2 + 20 + 2 + 10, NULL,
                 "event 1 at offset 69: digest 2 (sha256, 32 bytes) runs past the end of the log "
                 "(10 bytes left)");
  expect_invalid("cut in event header", b->b, 69 + 7, NULL,
                 "event 1 at offset 69: truncated: a TCG_PCR_EVENT2 needs 12 bytes for its PCR "
                 "index, type and digest count, 7 left");
  expect_invalid("cut before data size", b->b, one - 6, NULL,
                 "event 1 at offset 69: truncated: no event data size (2 bytes left)");

  /* Digest count disagreeing with the header. */
  b->n = hdr;
  event2(b, 0, RT_EV_SEPARATOR, 3, (const uint16_t[]){TPM2_ALG_SHA1, TPM2_ALG_SHA256, 0x0c},
         (const uint16_t[]){20, 32, 48}, 0x11, "\0\0\0\0", 4);
  expect_invalid("3 digests", b->b, b->n, NULL,
                 "event 1 at offset 69: digest count 3 does not match the 2 algorithms declared "
                 "in the Spec ID event");
  b->n = hdr;
  event2(b, 0, RT_EV_SEPARATOR, 1, A2, S2, 0x11, "\0\0\0\0", 4);
  expect_invalid("1 digest", b->b, b->n, NULL,
                 "event 1 at offset 69: digest count 1 does not match the 2 algorithms declared "
                 "in the Spec ID event");
  /* Unknown algorithm, known algorithm not declared, one declared twice. */
  b->n = hdr;
  event2(b, 0, RT_EV_SEPARATOR, 2, (const uint16_t[]){TPM2_ALG_SHA1, 0x0013},
         (const uint16_t[]){20, 32}, 0x11, "\0\0\0\0", 4);
  expect_invalid("alg 0x0013", b->b, b->n, NULL,
                 "event 1 at offset 69: digest 2: algorithm 0x0013 is not declared in the Spec ID "
                 "event");
  b->n = hdr;
  event2(b, 0, RT_EV_SEPARATOR, 2, (const uint16_t[]){TPM2_ALG_SHA384, TPM2_ALG_SHA1},
         (const uint16_t[]){48, 20}, 0x11, "\0\0\0\0", 4);
  expect_invalid("sha384 undeclared", b->b, b->n, NULL,
                 "event 1 at offset 69: digest 1: algorithm sha384 is not declared in the Spec ID "
                 "event");
  b->n = hdr;
  event2(b, 0, RT_EV_SEPARATOR, 2, (const uint16_t[]){TPM2_ALG_SHA1, TPM2_ALG_SHA1},
         (const uint16_t[]){20, 20}, 0x11, "\0\0\0\0", 4);
  expect_invalid("sha1 twice", b->b, b->n, NULL,
                 "event 1 at offset 69: digest 2: a second sha1 digest");

  /* StartupLocality: wrong size, impossible value, twice. */
  b->n = hdr;
  event2(b, 0, RT_EV_NO_ACTION, 2, A2, S2, 0, "StartupLocality\0\3\0", 18);
  expect_invalid("locality size", b->b, b->n, NULL,
                 "event 1 at offset 69: StartupLocality event has 18 bytes of data, expected 17");
  b->n = hdr;
  event2(b, 0, RT_EV_NO_ACTION, 2, A2, S2, 0, "StartupLocality\0\7", 17);
  expect_invalid("locality 7", b->b, b->n, NULL,
                 "event 1 at offset 69: StartupLocality 7 is not a locality (0-4)");
  b->n = hdr;
  event2(b, 0, RT_EV_NO_ACTION, 2, A2, S2, 0, "StartupLocality\0\3", 17);
  size_t second = b->n;
  event2(b, 0, RT_EV_NO_ACTION, 2, A2, S2, 0, "StartupLocality\0\3", 17);
  snprintf(want, sizeof want, "event 2 at offset %zu: second StartupLocality event", second);
  expect_invalid("two localities", b->b, b->n, NULL, want);

  /* Size limits: a parameter, and the 16 MiB default. */
  size_t len;
  uint8_t *buf = read_fixture(data_dir, &fixtures[0], &len);
  if (buf != NULL) {
    lim.max_size = 1000;
    snprintf(want, sizeof want, "event log is %zu bytes, over the limit of 1000 bytes", len);
    expect_invalid("max_size", buf, len, &lim, want);
    /* Cut inside the last event: the data size runs past the end. */
    rt_eventlog log;
    rt_err err;
    if (rt_eventlog_parse(buf, len, NULL, &log, &err) == RT_OK) {
      const rt_eventlog_event *last = &log.events[log.n_events - 1];
      snprintf(want, sizeof want,
               "event %zu at offset %zu: event data size %" PRIu32
               " runs past the end of the log (%" PRIu32 " bytes left)",
               log.n_events - 1, last->offset, last->data_len, last->data_len - 1);
      expect_invalid("cut last event", buf, len - 1, NULL, want);
      rt_eventlog_free(&log);
    }
    free(buf);
  }
  size_t big = RT_EVENTLOG_DEFAULT_MAX_SIZE + 1;
  uint8_t *huge = calloc(1, big);
  CHECK(huge != NULL, "calloc");
  if (huge != NULL) {
    memcpy(huge, b->b, hdr);
    expect_invalid("16 MiB + 1", huge, big, NULL,
                   "event log is 16777217 bytes, over the limit of 16777216 bytes");
    free(huge);
  }

  /* Files: an empty file, one over the limit, one that does not exist. */
  char tmpl[] = "/tmp/rt-eventlog-XXXXXX";
  int fd = mkstemp(tmpl);
  CHECK(fd >= 0, "mkstemp");
  if (fd >= 0) {
    rt_eventlog log;
    rt_err err;
    close(fd);
    CHECK(rt_eventlog_read_file(tmpl, NULL, &log, &err) == RT_E_INVALID, "empty file");
    snprintf(want, sizeof want, "%s: event log is empty", tmpl);
    CHECK(strcmp(err.msg, want) == 0, "\"%s\"", err.msg);
    FILE *f = fopen(tmpl, "wb");
    fwrite(b->b, 1, 2000, f);
    fclose(f);
    lim.max_size = 1000;
    CHECK(rt_eventlog_read_file(tmpl, &lim, &log, &err) == RT_E_INVALID, "big file");
    CHECK_STR_CONTAINS(err.msg, "is larger than the limit of 1000 bytes");
    unlink(tmpl);
    CHECK(rt_eventlog_read_file(tmpl, NULL, &log, &err) == RT_E_IO, "missing file");
    CHECK_STR_CONTAINS(err.msg, tmpl);
  }
  free(s);
  free(b);
}

/* Banks other than sha1/sha256, unknown event types, events that are not
 * extended, StartupLocality and padding. */
static void test_synthetic_replay(void) {
  bld *b = calloc(1, sizeof *b);
  const uint16_t algs[] = {TPM2_ALG_SHA512, TPM2_ALG_SM3_256};
  const uint16_t sizes[] = {64, 32};
  rt_eventlog log;
  rt_eventlog_pcrs pcrs;
  rt_err err = {0};

  spec_id(b, 2, algs, sizes);
  event2(b, 0, RT_EV_NO_ACTION, 2, algs, sizes, 0, "StartupLocality\0\3", 17);
  event2(b, 0, RT_EV_S_CRTM_VERSION, 2, algs, sizes, 0xa0, "v", 1);
  /* Digests in another order than the header's. */
  event2(b, 3, RT_EV_SEPARATOR, 2, (const uint16_t[]){TPM2_ALG_SM3_256, TPM2_ALG_SHA512},
         (const uint16_t[]){32, 64}, 0xb0, "\0\0\0\0", 4);
  event2(b, 4, 0x12345678, 2, algs, sizes, 0xc0, NULL, 0);      /* unknown type: extended */
  event2(b, 5, RT_EV_NO_ACTION, 2, algs, sizes, 0xd0, "x", 1);  /* not extended */
  event2(b, 30, RT_EV_SEPARATOR, 2, algs, sizes, 0xe0, "y", 1); /* PCR >= 24: not extended */
  event2(b, 0xffffffff, RT_EV_EVENT_TAG, 2, algs, sizes, 0xe1, "WBCL", 4);
  size_t used = b->n;
  putfill(b, 0, 100);

  CHECK(rt_eventlog_parse(b->b, b->n, NULL, &log, &err) == RT_OK, "synthetic: %s", err.msg);
  if (log.n_events == 0) {
    free(b);
    return;
  }
  CHECK(!log.legacy && log.n_algs == 2 && log.n_events == 8 && log.parsed_len == used,
        "synthetic shape: %zu events, %zu parsed", log.n_events, log.parsed_len);
  CHECK(log.has_startup_locality && log.startup_locality == 3, "locality");
  CHECK(log.events[4].type == 0x12345678 && rt_eventlog_type_name(0x12345678) == NULL,
        "unknown type kept");
  CHECK(log.events[7].pcr == 0xffffffff && log.events[7].data_len == 4 &&
            memcmp(log.events[7].data, "WBCL", 4) == 0,
        "trailer event kept");
  const rt_eventlog_digest *d = rt_eventlog_event_digest(&log.events[3], TPM2_ALG_SM3_256);
  CHECK(d != NULL && d->len == 32 && d->bytes[0] == 0xb0, "sm3_256 digest");
  CHECK(rt_eventlog_replay(&log, &pcrs, &err) == RT_OK, "replay: %s", err.msg);
  CHECK(pcrs.n_banks == 2 && pcrs.banks[0].alg == TPM2_ALG_SHA512 &&
            pcrs.banks[1].alg == TPM2_ALG_SM3_256,
        "banks: %zu", pcrs.n_banks);

  /* Expected values, computed here: PCR0 from 00..03, PCR3 and PCR4 from
   * zeros, PCR17 untouched at ff..ff. */
  const char *md_names[] = {"SHA512", "SM3"};
  for (size_t i = 0; i < 2 && i < pcrs.n_banks; i++) {
    const rt_eventlog_bank *bank = &pcrs.banks[i];
    size_t n = bank->size;
    uint8_t start[64] = {0}, ev[64], want[64], ff[64];
    start[n - 1] = 3;
    memset(ev, 0xa0, n);
    digest(md_names[i], start, n, ev, n, want);
    CHECK(memcmp(bank->pcr[0], want, n) == 0, "%s PCR0", md_names[i]);
    memset(start, 0, sizeof start);
    memset(ev, 0xb0, n);
    digest(md_names[i], start, n, ev, n, want);
    CHECK(memcmp(bank->pcr[3], want, n) == 0, "%s PCR3", md_names[i]);
    memset(ev, 0xc0, n);
    digest(md_names[i], start, n, ev, n, want);
    CHECK(memcmp(bank->pcr[4], want, n) == 0, "%s PCR4", md_names[i]);
    memset(ff, 0xff, sizeof ff);
    CHECK(memcmp(bank->pcr[17], ff, n) == 0 && memcmp(bank->pcr[5], start, n) == 0, "%s PCR17/PCR5",
          md_names[i]);
    CHECK(bank->extended == (BIT(0) | BIT(3) | BIT(4)), "%s extended %#" PRIx32, md_names[i],
          bank->extended);
  }
  rt_eventlog_free(&log);
  rt_eventlog_free(&log); /* twice is fine */
  free(b);
}

static void test_names(void) {
  CHECK(strcmp(rt_eventlog_alg_name(TPM2_ALG_SM3_256), "sm3_256") == 0, "sm3_256");
  CHECK(rt_eventlog_alg_name(0x0027) == NULL, "0x0027 has no name");
  CHECK(rt_eventlog_alg_from_name("sha384") == TPM2_ALG_SHA384, "sha384");
  CHECK(rt_eventlog_alg_from_name("md5") == TPM2_ALG_ERROR, "md5");
  CHECK(rt_eventlog_alg_digest_size(TPM2_ALG_SHA512) == 64, "sha512 size");
  CHECK(strcmp(rt_eventlog_type_name(RT_EV_PREBOOT_CERT), "EV_PREBOOT_CERT") == 0, "prebootcert");
  CHECK(strcmp(rt_eventlog_type_name(RT_EV_EFI_VARIABLE_AUTHORITY), "EV_EFI_VARIABLE_AUTHORITY") ==
            0,
        "authority");
  CHECK(strcmp(rt_eventlog_type_name(0x800000E4), "EV_EFI_SPDM_DEVICE_AUTHORITY") == 0, "spdm");
  CHECK(rt_eventlog_type_name(0x80000011) == NULL, "0x80000011");
}

/* ---- mutations ----------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng(void) { /* splitmix64: deterministic, seeded per fixture */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static size_t rnd(size_t n) {
  return n == 0 ? 0 : (size_t)(rng() % n);
}

static void put_le32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static uint32_t nasty_value(size_t len) {
  static const uint32_t v[] = {0xffffffff, 0x7fffffff, 0x80000000, 0xfffffffc,
                               0x00010000, 0x01000000, 0,          1};
  size_t i = rnd(sizeof v / sizeof v[0] + 2);
  if (i == sizeof v / sizeof v[0])
    return (uint32_t)len;
  if (i == sizeof v / sizeof v[0] + 1)
    return (uint32_t)len + 1 + (uint32_t)rnd(64);
  return v[i];
}

typedef struct {
  size_t parsed, rejected, failures, derived_ok;
} mut_stats;

/* Recomputes each extended event's digests over its data, in place: the
 * data of every type whose digest covers it then checks out, whatever it
 * holds. The digests point into the log's own (writable) copy. */
static void fix_digests(rt_eventlog *log) {
  for (size_t i = log->legacy ? 0 : 1; i < log->n_events; i++) {
    const rt_eventlog_event *ev = &log->events[i];
    for (size_t d = 0; d < ev->n_digests; d++) {
      const EVP_MD *md = ev->digests[d].alg == TPM2_ALG_SHA1     ? EVP_sha1()
                         : ev->digests[d].alg == TPM2_ALG_SHA256 ? EVP_sha256()
                         : ev->digests[d].alg == TPM2_ALG_SHA384 ? EVP_sha384()
                         : ev->digests[d].alg == TPM2_ALG_SHA512 ? EVP_sha512()
                                                                 : NULL;
      uint8_t out[EVP_MAX_MD_SIZE];
      unsigned int n = 0;
      if (md != NULL && EVP_Digest(ev->data, ev->data_len, out, &n, md, NULL) == 1 &&
          n == ev->digests[d].len)
        memcpy((uint8_t *)ev->digests[d].bytes, out, n);
    }
  }
}

/* Derives the state and decodes every event; false (with a message) if
 * derive fails or a decoding is not an object. */
static bool derive_and_decode(const char *what, const rt_eventlog *log, bool decode,
                              mut_stats *st) {
  rt_evstate es;
  rt_err err = {0};
  rt_evproof all;
  rt_evproof_all(log, &all);
  if (rt_evstate_derive(log, &all, &es, &err) != RT_OK) {
    if (st->failures++ < 5)
      fprintf(stderr, "FAIL %s: derive failed: %s\n", what, err.msg);
    return false;
  }
  bool ok = es.n_events == log->n_events;
  for (size_t i = 0; decode && i < log->n_events && ok; i++) {
    json_t *j = rt_evdecode_json(log, i);
    ok = json_is_object(j);
    json_decref(j);
  }
  if (decode) {
    json_t *j = rt_evstate_json(log, &es);
    ok = ok && j != NULL;
    json_decref(j);
  }
  rt_evstate_free(&es);
  if (!ok && st->failures++ < 5)
    fprintf(stderr, "FAIL %s: state or decoding failed\n", what);
  return ok;
}

/* One mutant, in a buffer of exactly its size so ASan sees any over-read. */
static void try_mutant(const char *what, const uint8_t *m, size_t len, mut_stats *st) {
  uint8_t *copy = malloc(len ? len : 1);
  memcpy(copy, m, len);
  rt_eventlog log;
  rt_eventlog_pcrs pcrs;
  rt_err err = {0};
  rt_code rc = rt_eventlog_parse(copy, len, NULL, &log, &err);
  free(copy); /* the log keeps its own copy */
  if (rc == RT_OK) {
    /* Read everything the parser points at. */
    unsigned sum = 0;
    for (size_t i = 0; i < log.n_events; i++) {
      const rt_eventlog_event *ev = &log.events[i];
      for (uint32_t k = 0; k < ev->data_len; k++)
        sum += ev->data[k];
      for (size_t dg = 0; dg < ev->n_digests; dg++)
        for (uint16_t k = 0; k < ev->digests[dg].len; k++)
          sum += ev->digests[dg].bytes[k];
    }
    (void)sum;
    rc = rt_eventlog_replay(&log, &pcrs, &err);
    if (rc != RT_OK && st->failures++ < 5)
      fprintf(stderr, "FAIL %s: parsed but replay failed: %s\n", what, err.msg);
    /* Decoding does not depend on the digests: once is enough, and (JSON
     * allocates a lot, slow under ASan) for every fourth mutant. */
    if (derive_and_decode(what, &log, false, st)) {
      fix_digests(&log);
      st->derived_ok += derive_and_decode(what, &log, st->parsed % 4 == 0, st);
    }
    st->parsed++;
  } else {
    if ((rc != RT_E_INVALID || err.msg[0] == '\0') && st->failures++ < 5)
      fprintf(stderr, "FAIL %s: code %s, message \"%s\"\n", what, rt_code_name(rc), err.msg);
    st->rejected++;
  }
  rt_eventlog_free(&log);
}

#define MUTATIONS_PER_FIXTURE 3000

static void run_mutations(const char *data_dir) {
  size_t total_parsed = 0, total_rejected = 0;
  for (size_t f = 0; f < N_FIXTURES; f++) {
    const fixture *fx = &fixtures[f];
    size_t len;
    uint8_t *orig = read_fixture(data_dir, fx, &len);
    rt_eventlog log;
    rt_err err;
    if (orig == NULL || rt_eventlog_parse(orig, len, NULL, &log, &err) != RT_OK) {
      CHECK(0, "%s does not parse", fx->dir);
      free(orig);
      continue;
    }
    /* Offsets of the length fields: each event's data size and digest
     * count, and the Spec ID numberOfAlgorithms and digest sizes. */
    size_t n_fields = 0, cap = 2 * log.n_events + 16;
    size_t *fields = malloc(cap * sizeof *fields);
    for (size_t i = 0; i < log.n_events; i++) {
      const rt_eventlog_event *ev = &log.events[i];
      if (log.legacy || i == 0) {
        fields[n_fields++] = ev->offset + 28;
        continue;
      }
      size_t size_at = ev->offset + 12;
      for (size_t dg = 0; dg < ev->n_digests; dg++)
        size_at += 2 + ev->digests[dg].len;
      fields[n_fields++] = size_at;
      fields[n_fields++] = ev->offset + 8;
    }
    if (!log.legacy) {
      fields[n_fields++] = 32 + 24;
      for (size_t a = 0; a < log.n_algs; a++)
        fields[n_fields++] = 32 + 28 + 4 * a; /* alg id and digest size as one u32 */
    }
    rt_eventlog_free(&log);

    uint8_t *m = malloc(len + 64);
    mut_stats st = {0};
    rng_state = 0x5eed0000u + f;
    char what[128];
    for (int i = 0; i < MUTATIONS_PER_FIXTURE; i++) {
      size_t mlen = len, pos;
      memcpy(m, orig, len);
      int kind = i % 6;
      switch (kind) {
      case 0: /* flip one byte */
        pos = rnd(len);
        m[pos] ^= (uint8_t)(1 + rnd(255));
        break;
      case 1: /* truncate */
        mlen = pos = rnd(len);
        break;
      case 2: /* overwrite 4 bytes anywhere */
        pos = rnd(len - 3);
        put_le32(m + pos, nasty_value(len));
        break;
      case 3: /* insert 4 bytes anywhere */
        pos = rnd(len + 1);
        memmove(m + pos + 4, m + pos, len - pos);
        put_le32(m + pos, nasty_value(len));
        mlen = len + 4;
        break;
      case 4: /* overwrite a length field */
        pos = fields[rnd(n_fields)];
        put_le32(m + pos, nasty_value(len));
        break;
      default: /* flip up to 8 bytes */
        pos = rnd(len);
        for (size_t k = 0, n = 1 + rnd(8); k < n; k++)
          m[rnd(len)] ^= (uint8_t)(1 + rnd(255));
        break;
      }
      snprintf(what, sizeof what, "%s mutation %d (kind %d at %zu)", fx->dir, i, kind, pos);
      try_mutant(what, m, mlen, &st);
    }
    CHECK(st.failures == 0, "%s: %zu mutations failed", fx->dir, st.failures);
    CHECK(st.parsed + st.rejected == MUTATIONS_PER_FIXTURE, "%s: count", fx->dir);
    /* Both outcomes must occur, or the mutations test nothing. */
    CHECK(st.parsed > 0 && st.rejected > 0, "%s: %zu parsed, %zu rejected", fx->dir, st.parsed,
          st.rejected);
    CHECK(st.derived_ok == st.parsed, "%s: %zu of %zu derived", fx->dir, st.derived_ok, st.parsed);
    printf("%s: %d mutations, %zu parsed (state derived), %zu rejected\n", fx->dir,
           MUTATIONS_PER_FIXTURE, st.parsed, st.rejected);
    total_parsed += st.parsed;
    total_rejected += st.rejected;
    free(m);
    free(fields);
    free(orig);
  }
  printf("all fixtures: %zu mutations, %zu parsed, %zu rejected\n", total_parsed + total_rejected,
         total_parsed, total_rejected);
}

/* Every node kind rt_devpath_text has a text form for, each at its
 * shortest, one byte too short (the generic form), instances, the end node
 * and malformed lengths. */
typedef struct {
  uint8_t b[512];
  size_t len;
} dp_buf;

static void dp_node(dp_buf *p, uint8_t type, uint8_t sub, const void *data, size_t n) {
  p->b[p->len] = type;
  p->b[p->len + 1] = sub;
  p->b[p->len + 2] = (uint8_t)((n + 4) & 0xff);
  p->b[p->len + 3] = (uint8_t)((n + 4) >> 8);
  memcpy(p->b + p->len + 4, data, n);
  p->len += n + 4;
}

static void check_node(uint8_t type, uint8_t sub, const void *data, size_t n, const char *want) {
  dp_buf p = {{0}, 0};
  dp_node(&p, type, sub, data, n);
  char *got = rt_devpath_text(p.b, p.len);
  CHECK(got != NULL && strcmp(got, want) == 0, "node %02x/%02x: \"%s\", not \"%s\"", type, sub,
        got ? got : "(null)", want);
  free(got);
}

static void test_devpath(void) {
  static const uint8_t guid[16] = {0x4c, 0x37, 0x72, 0xef, 0x30, 0x26, 0xa1, 0x46,
                                   0x88, 0xd6, 0x08, 0x26, 0x93, 0x78, 0x11, 0x40};
  const char *gs = "ef72374c-2630-46a1-88d6-082693781140";
  char want[128];
  uint8_t d[64];
  for (size_t i = 0; i < sizeof d; i++)
    d[i] = (uint8_t)(i + 1);
  check_node(1, 1, "\x00\x03", 2, "Pci(0x3,0x0)");
  check_node(1, 1, "\x07", 1, "Path(1,1,07)");
  static const struct {
    uint8_t type, sub;
    const char *name;
  } guid_nodes[] = {
      {1, 4, "VenHw"}, {3, 10, "VenMsg"}, {4, 3, "VenMedia"}, {4, 6, "FvFile"}, {4, 7, "Fv"}};
  for (size_t i = 0; i < sizeof guid_nodes / sizeof guid_nodes[0]; i++) {
    snprintf(want, sizeof want, "%s(%s)", guid_nodes[i].name, gs);
    check_node(guid_nodes[i].type, guid_nodes[i].sub, guid, 16, want);
    snprintf(want, sizeof want, "Path(%u,%u,4c3772ef3026a14688d60826937811)", guid_nodes[i].type,
             guid_nodes[i].sub);
    check_node(guid_nodes[i].type, guid_nodes[i].sub, guid, 15, want);
  }
  check_node(2, 1, "\xd0\x41\x03\x0a\x00\x00\x00\x00", 8, "PciRoot(0x0)");
  check_node(2, 1, "\xd0\x41\x08\x0a\x01\x00\x00\x00", 8, "PcieRoot(0x1)");
  check_node(2, 1, "\xd0\x41\x01\x05\x02\x00\x00\x00", 8, "Acpi(0x050141d0,0x2)");
  check_node(2, 1, "\xd0\x41\x03\x0a\x00\x00\x00", 7, "Path(2,1,d041030a000000)");
  check_node(3, 2, "\x01\x00\x02\x00", 4, "Scsi(0x1,0x2)");
  check_node(3, 5, "\x03\x01", 2, "USB(0x3,0x1)");
  check_node(3, 11, d, 33, "MAC(010203040506,0x21)");
  check_node(3, 11, d, 32,
             "Path(3,11,0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20)");
  check_node(3, 18, "\x01\x00\xff\xff\x00\x00", 6, "Sata(0x1,0xffff,0x0)");
  check_node(3, 23, d, 12, "NVMe(0x4030201,05-06-07-08-09-0A-0B-0C)");
  uint8_t hd[38] = {1, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0x40, 6};
  memcpy(hd + 20, guid, 16);
  hd[36] = 2;
  hd[37] = 2;
  snprintf(want, sizeof want, "HD(1,GPT,%s,0x800,0x64000)", gs);
  check_node(4, 1, hd, 38, want);
  hd[37] = 1;
  check_node(4, 1, hd, 38, "HD(1,MBR,0xef72374c,0x800,0x64000)");
  hd[37] = 7;
  check_node(4, 1, hd, 38, "HD(1,7,0,0x800,0x64000)");
  check_node(4, 2, d, 20, "CDROM(0x4030201,0xc0b0a0908070605,0x14131211100f0e0d)");
  check_node(4, 4, "\\\0E\0F\0I\0", 8, "\\EFI");
  check_node(4, 4, "", 0, "");
  check_node(5, 1, "\x12\x34", 2, "Path(5,1,1234)");

  /* Two instances: the end-of-instance node gives a comma. */
  dp_buf p = {{0}, 0};
  dp_node(&p, 1, 1, "\x00\x03", 2);
  dp_node(&p, 3, 5, "\x03\x01", 2);
  dp_node(&p, 0x7f, 0x01, "", 0);
  dp_node(&p, 1, 1, "\x01\x02", 2);
  dp_node(&p, 0x7f, 0xff, "", 0);
  dp_node(&p, 1, 1, "\x00\x04", 2); /* after the end: not read */
  char *got = rt_devpath_text(p.b, p.len);
  CHECK(got != NULL && strcmp(got, "Pci(0x3,0x0)/USB(0x3,0x1),Pci(0x2,0x1)") == 0, "\"%s\"",
        got ? got : "(null)");
  free(got);
  CHECK(rt_devpath_text(p.b, 0) == NULL, "empty path");
  CHECK(rt_devpath_text(p.b, 3) == NULL, "truncated header");
  CHECK(rt_devpath_text(p.b, 5) == NULL, "node past the end");
  p.b[2] = 3;
  CHECK(rt_devpath_text(p.b, p.len) == NULL, "node length under 4");
  CHECK(rt_devpath_text((const uint8_t *)"\x7f\xff\x04\x00", 4) == NULL, "no node");
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--mutate") == 0) {
    run_mutations(argv[2]);
    return rt_test_done("eventlog_mutation");
  }
  if (argc != 2) {
    fprintf(stderr, "usage: test_eventlog [--mutate] DATA_DIR\n");
    return 2;
  }
  for (size_t i = 0; i < N_FIXTURES; i++)
    test_fixture(argv[1], &fixtures[i]);
  test_fixture_facts(argv[1]);
  test_malformed(argv[1]);
  test_synthetic_replay();
  test_names();
  test_devpath();
  return rt_test_done("eventlog");
}
