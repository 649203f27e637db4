#include "rt_eventlog.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_file.h"

/* ---- algorithms and event types --------------------------------------- */

static const struct {
  TPM2_ALG_ID alg;
  const char *name;
  const char *evp_name;
  uint16_t size;
} known_algs[RT_EVENTLOG_MAX_BANKS] = {
    {TPM2_ALG_SHA1, "sha1", "SHA1", 20},       {TPM2_ALG_SHA256, "sha256", "SHA256", 32},
    {TPM2_ALG_SHA384, "sha384", "SHA384", 48}, {TPM2_ALG_SHA512, "sha512", "SHA512", 64},
    {TPM2_ALG_SM3_256, "sm3_256", "SM3", 32},
};

static int known_alg_index(TPM2_ALG_ID alg) {
  for (int i = 0; i < RT_EVENTLOG_MAX_BANKS; i++)
    if (known_algs[i].alg == alg)
      return i;
  return -1;
}

const char *rt_eventlog_alg_name(TPM2_ALG_ID alg) {
  int i = known_alg_index(alg);
  return i < 0 ? NULL : known_algs[i].name;
}

const char *rt_eventlog_alg_evp_name(TPM2_ALG_ID alg) {
  int i = known_alg_index(alg);
  return i < 0 ? NULL : known_algs[i].evp_name;
}

TPM2_ALG_ID rt_eventlog_alg_from_name(const char *name) {
  if (name != NULL)
    for (int i = 0; i < RT_EVENTLOG_MAX_BANKS; i++)
      if (strcmp(known_algs[i].name, name) == 0)
        return known_algs[i].alg;
  return TPM2_ALG_ERROR;
}

size_t rt_eventlog_alg_digest_size(TPM2_ALG_ID alg) {
  int i = known_alg_index(alg);
  return i < 0 ? 0 : known_algs[i].size;
}

const char *rt_eventlog_alg_label(TPM2_ALG_ID alg, char buf[8]) {
  const char *name = rt_eventlog_alg_name(alg);
  if (name != NULL)
    return name;
  snprintf(buf, 8, "0x%04x", (unsigned)alg);
  return buf;
}

/* PCR sets as bit masks (bit p = PCR p). */
#define P(p) (UINT16_C(1) << (p))
#define P0_7 ((uint16_t)0xff)

/* Every event type the TCG PC Client Platform Firmware Profile defines, with
 * where it places the type among PCRs 0-8: the PCRs it is measured into
 * (the profile's table of event types, as Project Mu's TpmReplay schema
 * summarises it, plus PCR 8 for boot loaders' EV_IPL strings), and those of
 * them where it is measured only before the PCR's EV_SEPARATOR (pre-OS
 * firmware and platform configuration; Secure Boot configuration in PCR 7).
 * EV_IPL in PCR 4 is legacy BIOS IPL code. */
static const struct {
  uint32_t type;
  const char *name;
  uint16_t pcrs, before_separator;
} event_types[] = {
    {RT_EV_PREBOOT_CERT, "EV_PREBOOT_CERT", 0, 0},
    {RT_EV_POST_CODE, "EV_POST_CODE", P(0), P(0)},
    {RT_EV_UNUSED, "EV_UNUSED", 0, 0},
    {RT_EV_NO_ACTION, "EV_NO_ACTION", 0, 0},
    {RT_EV_SEPARATOR, "EV_SEPARATOR", P0_7, 0},
    {RT_EV_ACTION, "EV_ACTION", P(1) | P(2) | P(3) | P(4) | P(5) | P(6), 0},
    {RT_EV_EVENT_TAG, "EV_EVENT_TAG", 0, 0},
    {RT_EV_S_CRTM_CONTENTS, "EV_S_CRTM_CONTENTS", P(0), P(0)},
    {RT_EV_S_CRTM_VERSION, "EV_S_CRTM_VERSION", P(0), P(0)},
    {RT_EV_CPU_MICROCODE, "EV_CPU_MICROCODE", P(1), P(1)},
    {RT_EV_PLATFORM_CONFIG_FLAGS, "EV_PLATFORM_CONFIG_FLAGS", P(1), P(1)},
    {RT_EV_TABLE_OF_DEVICES, "EV_TABLE_OF_DEVICES", P(1), P(1)},
    {RT_EV_COMPACT_HASH, "EV_COMPACT_HASH", P(4) | P(5) | P(6) | P(7), 0},
    {RT_EV_IPL, "EV_IPL", P(4) | P(8), 0},
    {RT_EV_IPL_PARTITION_DATA, "EV_IPL_PARTITION_DATA", P(5), 0},
    {RT_EV_NONHOST_CODE, "EV_NONHOST_CODE", P(0) | P(2), P(0)},
    {RT_EV_NONHOST_CONFIG, "EV_NONHOST_CONFIG", P(1) | P(3), P(1)},
    {RT_EV_NONHOST_INFO, "EV_NONHOST_INFO", P(0), P(0)},
    {RT_EV_OMIT_BOOT_DEVICE_EVENTS, "EV_OMIT_BOOT_DEVICE_EVENTS", P(4), 0},
    {RT_EV_EFI_EVENT_BASE, "EV_EFI_EVENT_BASE", 0, 0},
    {RT_EV_EFI_VARIABLE_DRIVER_CONFIG, "EV_EFI_VARIABLE_DRIVER_CONFIG", P(1) | P(3) | P(5) | P(7),
     P(7)},
    {RT_EV_EFI_VARIABLE_BOOT, "EV_EFI_VARIABLE_BOOT", P(1), 0},
    {RT_EV_EFI_BOOT_SERVICES_APPLICATION, "EV_EFI_BOOT_SERVICES_APPLICATION", P(2) | P(4), 0},
    {RT_EV_EFI_BOOT_SERVICES_DRIVER, "EV_EFI_BOOT_SERVICES_DRIVER", P(0) | P(2), P(0)},
    {RT_EV_EFI_RUNTIME_SERVICES_DRIVER, "EV_EFI_RUNTIME_SERVICES_DRIVER", P(0) | P(2), P(0)},
    {RT_EV_EFI_GPT_EVENT, "EV_EFI_GPT_EVENT", P(5), 0},
    {RT_EV_EFI_ACTION, "EV_EFI_ACTION", P0_7 & ~P(0), 0},
    {RT_EV_EFI_PLATFORM_FIRMWARE_BLOB, "EV_EFI_PLATFORM_FIRMWARE_BLOB", P(0) | P(2) | P(4), P(0)},
    {RT_EV_EFI_HANDOFF_TABLES, "EV_EFI_HANDOFF_TABLES", P(1), P(1)},
    {RT_EV_EFI_PLATFORM_FIRMWARE_BLOB2, "EV_EFI_PLATFORM_FIRMWARE_BLOB2", P(0) | P(2) | P(4), P(0)},
    {RT_EV_EFI_HANDOFF_TABLES2, "EV_EFI_HANDOFF_TABLES2", P(1), P(1)},
    {RT_EV_EFI_VARIABLE_BOOT2, "EV_EFI_VARIABLE_BOOT2", P(1), 0},
    {RT_EV_EFI_GPT_EVENT2, "EV_EFI_GPT_EVENT2", P(5), 0},
    {RT_EV_EFI_HCRTM_EVENT, "EV_EFI_HCRTM_EVENT", P(0), P(0)},
    {RT_EV_EFI_VARIABLE_AUTHORITY, "EV_EFI_VARIABLE_AUTHORITY", P(7), 0},
    {RT_EV_EFI_SPDM_FIRMWARE_BLOB, "EV_EFI_SPDM_FIRMWARE_BLOB", P(2), 0},
    {RT_EV_EFI_SPDM_FIRMWARE_CONFIG, "EV_EFI_SPDM_FIRMWARE_CONFIG", P(3), 0},
    {RT_EV_EFI_SPDM_DEVICE_POLICY, "EV_EFI_SPDM_DEVICE_POLICY", P(7), 0},
    {RT_EV_EFI_SPDM_DEVICE_AUTHORITY, "EV_EFI_SPDM_DEVICE_AUTHORITY", P(7), 0},
};

static int type_index(uint32_t type) {
  for (size_t i = 0; i < sizeof event_types / sizeof event_types[0]; i++)
    if (event_types[i].type == type)
      return (int)i;
  return -1;
}

bool rt_eventlog_type_in_pcr(uint32_t type, uint32_t pcr) {
  int i = type_index(type);
  return i >= 0 && pcr <= RT_EVENTLOG_PLACED_PCRS && (event_types[i].pcrs & P(pcr));
}

bool rt_eventlog_type_before_separator(uint32_t type, uint32_t pcr) {
  int i = type_index(type);
  return i >= 0 && pcr <= RT_EVENTLOG_PLACED_PCRS && (event_types[i].before_separator & P(pcr));
}

const char *rt_eventlog_type_name(uint32_t type) {
  int i = type_index(type);
  return i < 0 ? NULL : event_types[i].name;
}

/* ---- bounded little-endian reader ------------------------------------- */

typedef struct {
  const uint8_t *buf;
  size_t len;
  size_t pos; /* invariant: pos <= len */
} cursor;

static size_t cur_left(const cursor *c) {
  return c->len - c->pos;
}

static bool cur_bytes(cursor *c, size_t n, const uint8_t **p) {
  if (n > cur_left(c))
    return false;
  *p = c->buf + c->pos;
  c->pos += n;
  return true;
}

static bool cur_u8(cursor *c, uint8_t *v) {
  const uint8_t *p;
  if (!cur_bytes(c, 1, &p))
    return false;
  *v = p[0];
  return true;
}

static bool cur_u16(cursor *c, uint16_t *v) {
  const uint8_t *p;
  if (!cur_bytes(c, 2, &p))
    return false;
  *v = (uint16_t)(p[0] | (unsigned)p[1] << 8);
  return true;
}

static bool cur_u32(cursor *c, uint32_t *v) {
  const uint8_t *p;
  if (!cur_bytes(c, 4, &p))
    return false;
  *v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  return true;
}

/* ---- parser ------------------------------------------------------------ */

static const char spec_id_sig[16] = "Spec ID Event03";          /* with its NUL */
static const char startup_locality_sig[16] = "StartupLocality"; /* with its NUL */

static rt_code ev_fail(rt_err *err, uint32_t index, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static rt_code ev_fail(rt_err *err, uint32_t index, size_t offset, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return rt_err_set(err, RT_E_INVALID, "event %" PRIu32 " at offset %zu: %s", index, offset, msg);
}

typedef struct {
  rt_eventlog *log;
  size_t cap; /* events (and n_algs digests per event) allocated */
  size_t max_events;
} parser;

/* Room for one more event and its n_algs digests. */
static rt_code grow(parser *p, rt_err *err) {
  rt_eventlog *log = p->log;
  if (log->n_events < p->cap)
    return RT_OK;
  size_t ncap = p->cap == 0 ? 64 : p->cap * 2;
  if (ncap > p->max_events)
    ncap = p->max_events;
  if (ncap > SIZE_MAX / sizeof(rt_eventlog_event) ||
      ncap > SIZE_MAX / (RT_EVENTLOG_MAX_ALGS * sizeof(rt_eventlog_digest)))
    return rt_err_set(err, RT_E_NOMEM, "too many events");
  rt_eventlog_event *ev = realloc(log->events, ncap * sizeof *ev);
  if (ev == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory for %zu events", ncap);
  log->events = ev;
  rt_eventlog_digest *dg = realloc(log->digest_store, ncap * log->n_algs * sizeof *dg);
  if (dg == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory for %zu events", ncap);
  log->digest_store = dg;
  p->cap = ncap;
  return RT_OK;
}

/* TCG_PCR_EVENT: pcrIndex, eventType, SHA1 digest, eventSize, event. */
static rt_code parse_pcr_event(cursor *c, uint32_t index, rt_eventlog_event *ev,
                               rt_eventlog_digest *dg, rt_err *err) {
  size_t off = c->pos;
  const uint8_t *digest = NULL;
  uint32_t size = 0;
  if (cur_left(c) < 32)
    return ev_fail(err, index, off,
                   "truncated: a TCG_PCR_EVENT needs 32 bytes before its data, %zu left",
                   cur_left(c));
  cur_u32(c, &ev->pcr);
  cur_u32(c, &ev->type);
  cur_bytes(c, 20, &digest);
  cur_u32(c, &size);
  if (size > cur_left(c))
    return ev_fail(err, index, off,
                   "event data size %" PRIu32 " runs past the end of the log (%zu bytes left)",
                   size, cur_left(c));
  ev->index = index;
  ev->offset = off;
  ev->digests = NULL; /* set once the digest store is final */
  ev->n_digests = 1;
  ev->data_len = size;
  ev->data = NULL;
  if (size > 0)
    cur_bytes(c, size, &ev->data);
  dg->alg = TPM2_ALG_SHA1;
  dg->len = 20;
  dg->bytes = digest;
  return RT_OK;
}

/* TCG_EfiSpecIdEvent, the data of the first event of a crypto-agile log. */
static rt_code parse_spec_id(rt_eventlog *log, const rt_eventlog_event *ev, rt_err *err) {
  cursor c = {ev->data, ev->data_len, 0};
  const uint8_t *skip;
  uint32_t n_algs;
  uint8_t vendor_size;
  /* signature[16], platformClass, specVersionMinor/Major, specErrata,
   * uintnSize, numberOfAlgorithms */
  if (!cur_bytes(&c, 24, &skip) || !cur_u32(&c, &n_algs))
    return ev_fail(err, 0, ev->offset,
                   "Spec ID event has %" PRIu32 " bytes of data, its header needs 28",
                   ev->data_len);
  if (n_algs == 0)
    return ev_fail(err, 0, ev->offset, "Spec ID event declares no algorithms");
  if (n_algs > RT_EVENTLOG_MAX_ALGS)
    return ev_fail(err, 0, ev->offset,
                   "Spec ID event declares %" PRIu32 " algorithms, more than the %d supported",
                   n_algs, RT_EVENTLOG_MAX_ALGS);
  for (uint32_t i = 0; i < n_algs; i++) {
    uint16_t alg, size;
    char buf[8];
    if (!cur_u16(&c, &alg) || !cur_u16(&c, &size))
      return ev_fail(err, 0, ev->offset,
                     "Spec ID event: algorithm %" PRIu32 " of %" PRIu32
                     " runs past the end of its data",
                     i + 1, n_algs);
    /* Any non-zero size parses: whether the verifier knows the algorithm
     * and its size is rt_eventlog_check_algs's question, with its own
     * answer. */
    if (size == 0)
      return ev_fail(err, 0, ev->offset, "Spec ID event declares %s with digest size 0",
                     rt_eventlog_alg_label(alg, buf));
    for (size_t j = 0; j < log->n_algs; j++)
      if (log->algs[j].alg == alg)
        return ev_fail(err, 0, ev->offset, "Spec ID event declares %s twice",
                       rt_eventlog_alg_label(alg, buf));
    log->algs[log->n_algs].alg = alg;
    log->algs[log->n_algs].digest_size = size;
    log->n_algs++;
  }
  if (!cur_u8(&c, &vendor_size) || !cur_bytes(&c, vendor_size, &skip))
    return ev_fail(err, 0, ev->offset, "Spec ID event: vendor info runs past the end of its data");
  return RT_OK;
}

/* TCG_PCR_EVENT2: pcrIndex, eventType, TPML_DIGEST_VALUES, eventSize, event. */
static rt_code parse_pcr_event2(cursor *c, const rt_eventlog *log, uint32_t index,
                                rt_eventlog_event *ev, rt_eventlog_digest *dg, rt_err *err) {
  size_t off = c->pos;
  /* Initialised for GCC 12 at -O3 (Release), which cannot see that cur_u32
   * sets count once the 12 bytes are checked. */
  uint32_t count = 0, size = 0;
  bool seen[RT_EVENTLOG_MAX_ALGS] = {false};
  char buf[8];
  if (cur_left(c) < 12)
    return ev_fail(err, index, off,
                   "truncated: a TCG_PCR_EVENT2 needs 12 bytes for its PCR index, type and "
                   "digest count, %zu left",
                   cur_left(c));
  cur_u32(c, &ev->pcr);
  cur_u32(c, &ev->type);
  cur_u32(c, &count);
  if (count != log->n_algs)
    return ev_fail(err, index, off,
                   "digest count %" PRIu32
                   " does not match the %zu algorithms declared in the Spec ID event",
                   count, log->n_algs);
  for (uint32_t i = 0; i < count; i++) {
    uint16_t alg;
    if (!cur_u16(c, &alg))
      return ev_fail(err, index, off, "truncated: digest %" PRIu32 " has no algorithm id", i + 1);
    size_t j = 0;
    while (j < log->n_algs && log->algs[j].alg != alg)
      j++;
    if (j == log->n_algs)
      return ev_fail(err, index, off,
                     "digest %" PRIu32 ": algorithm %s is not declared in the Spec ID event", i + 1,
                     rt_eventlog_alg_label(alg, buf));
    if (seen[j])
      return ev_fail(err, index, off, "digest %" PRIu32 ": a second %s digest", i + 1,
                     rt_eventlog_alg_label(alg, buf));
    seen[j] = true;
    dg[i].alg = alg;
    dg[i].len = log->algs[j].digest_size;
    if (!cur_bytes(c, dg[i].len, &dg[i].bytes))
      return ev_fail(err, index, off,
                     "digest %" PRIu32 " (%s, %u bytes) runs past the end of the log (%zu "
                     "bytes left)",
                     i + 1, rt_eventlog_alg_label(alg, buf), (unsigned)dg[i].len, cur_left(c));
  }
  if (!cur_u32(c, &size))
    return ev_fail(err, index, off, "truncated: no event data size (%zu bytes left)", cur_left(c));
  if (size > cur_left(c))
    return ev_fail(err, index, off,
                   "event data size %" PRIu32 " runs past the end of the log (%zu bytes left)",
                   size, cur_left(c));
  ev->index = index;
  ev->offset = off;
  ev->digests = NULL; /* set once the digest store is final */
  ev->n_digests = count;
  ev->data_len = size;
  ev->data = NULL;
  if (size > 0)
    cur_bytes(c, size, &ev->data);
  return RT_OK;
}

/* EV_NO_ACTION in PCR0 with TCG_EfiStartupLocalityEvent data. */
static rt_code check_startup_locality(rt_eventlog *log, const rt_eventlog_event *ev, rt_err *err) {
  if (ev->type != RT_EV_NO_ACTION || ev->pcr != 0 || ev->data_len < sizeof startup_locality_sig ||
      memcmp(ev->data, startup_locality_sig, sizeof startup_locality_sig) != 0)
    return RT_OK;
  if (ev->data_len != sizeof startup_locality_sig + 1)
    return ev_fail(err, ev->index, ev->offset,
                   "StartupLocality event has %" PRIu32 " bytes of data, expected 17",
                   ev->data_len);
  if (log->has_startup_locality)
    return ev_fail(err, ev->index, ev->offset, "second StartupLocality event");
  uint8_t locality = ev->data[sizeof startup_locality_sig];
  if (locality > 4)
    return ev_fail(err, ev->index, ev->offset, "StartupLocality %u is not a locality (0-4)",
                   (unsigned)locality);
  log->has_startup_locality = true;
  log->startup_locality = locality;
  return RT_OK;
}

rt_code rt_eventlog_parse(const uint8_t *data, size_t len, const rt_eventlog_limits *limits,
                          rt_eventlog *log, rt_err *err) {
  memset(log, 0, sizeof *log);
  size_t max_size = RT_EVENTLOG_DEFAULT_MAX_SIZE, max_events = RT_EVENTLOG_DEFAULT_MAX_EVENTS;
  if (limits != NULL && limits->max_size != 0)
    max_size = limits->max_size;
  if (limits != NULL && limits->max_events != 0)
    max_events = limits->max_events;
  if (len == 0)
    return rt_err_set(err, RT_E_INVALID, "event log is empty");
  if (data == NULL)
    return rt_err_set(err, RT_E_INTERNAL, "event log of %zu bytes without data", len);
  if (len > max_size)
    return rt_err_set(err, RT_E_INVALID, "event log is %zu bytes, over the limit of %zu bytes", len,
                      max_size);
  /* Firmware hands out the log in a buffer that may have zero padding after
   * the last event: parsing stops once only zero bytes remain. */
  size_t content_end = len;
  while (content_end > 0 && data[content_end - 1] == 0)
    content_end--;
  if (content_end == 0)
    return rt_err_set(err, RT_E_INVALID, "event log has only zero bytes");

  log->raw = malloc(len);
  if (log->raw == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory for a %zu-byte event log", len);
  memcpy(log->raw, data, len);
  log->raw_len = len;

  parser p = {.log = log, .cap = 0, .max_events = max_events};
  cursor c = {log->raw, len, 0};
  rt_code rc;

  /* The first event is a TCG_PCR_EVENT in both formats; in a crypto-agile
   * log it is the Spec ID event. Until it is known, assume sha1 only. */
  log->n_algs = 1;
  log->algs[0].alg = TPM2_ALG_SHA1;
  log->algs[0].digest_size = 20;
  log->legacy = true;
  if ((rc = grow(&p, err)) != RT_OK)
    goto fail;
  if ((rc = parse_pcr_event(&c, 0, &log->events[0], &log->digest_store[0], err)) != RT_OK)
    goto fail;
  log->n_events = 1;
  rt_eventlog_event *first = &log->events[0];
  if (first->type == RT_EV_NO_ACTION && first->data_len >= sizeof spec_id_sig &&
      memcmp(first->data, spec_id_sig, sizeof spec_id_sig) == 0) {
    log->legacy = false;
    log->n_algs = 0;
    if ((rc = parse_spec_id(log, first, err)) != RT_OK)
      goto fail;
    /* The digest store holds n_algs digests per event from now on; the
     * Spec ID event keeps its sha1 digest in slot 0 and n_digests 1. */
    rt_eventlog_digest spec_digest = log->digest_store[0];
    rt_eventlog_digest *dg = realloc(log->digest_store, p.cap * log->n_algs * sizeof *dg);
    if (dg == NULL) {
      rc = rt_err_set(err, RT_E_NOMEM, "out of memory for event digests");
      goto fail;
    }
    log->digest_store = dg;
    log->digest_store[0] = spec_digest;
  } else if ((rc = check_startup_locality(log, first, err)) != RT_OK) {
    goto fail;
  }

  while (c.pos < content_end) {
    uint32_t index = (uint32_t)log->n_events;
    if (log->n_events >= max_events) {
      rc = ev_fail(err, index, c.pos, "more than %zu events", max_events);
      goto fail;
    }
    if ((rc = grow(&p, err)) != RT_OK)
      goto fail;
    rt_eventlog_event *ev = &log->events[log->n_events];
    rt_eventlog_digest *dg = &log->digest_store[log->n_events * log->n_algs];
    if (log->legacy)
      rc = parse_pcr_event(&c, index, ev, dg, err);
    else
      rc = parse_pcr_event2(&c, log, index, ev, dg, err);
    if (rc != RT_OK)
      goto fail;
    log->n_events++;
    if ((rc = check_startup_locality(log, ev, err)) != RT_OK)
      goto fail;
  }
  log->parsed_len = c.pos;
  /* The digest store is final: point each event at its digests. */
  for (size_t i = 0; i < log->n_events; i++)
    log->events[i].digests = &log->digest_store[i * log->n_algs];
  return RT_OK;

fail:
  rt_eventlog_free(log);
  return rc;
}

rt_code rt_eventlog_read_file(const char *path, const rt_eventlog_limits *limits, rt_eventlog *log,
                              rt_err *err) {
  memset(log, 0, sizeof *log);
  size_t max_size = RT_EVENTLOG_DEFAULT_MAX_SIZE;
  if (limits != NULL && limits->max_size != 0)
    max_size = limits->max_size;
  uint8_t *buf = NULL;
  size_t len = 0;
  rt_code rc = rt_file_read(path, max_size, &buf, &len, err);
  if (rc != RT_OK)
    return rc;
  rc = rt_eventlog_parse(buf, len, limits, log, err);
  free(buf);
  if (rc != RT_OK)
    rt_err_prefix(err, "%s: ", path);
  return rc;
}

void rt_eventlog_free(rt_eventlog *log) {
  if (log == NULL)
    return;
  free(log->raw);
  free(log->events);
  free(log->digest_store);
  memset(log, 0, sizeof *log);
}

/* ---- replay ------------------------------------------------------------ */

const rt_eventlog_digest *rt_eventlog_event_digest(const rt_eventlog_event *ev, TPM2_ALG_ID alg) {
  for (size_t i = 0; i < ev->n_digests; i++)
    if (ev->digests[i].alg == alg)
      return &ev->digests[i];
  return NULL;
}

const rt_eventlog_bank *rt_eventlog_pcrs_bank(const rt_eventlog_pcrs *pcrs, TPM2_ALG_ID alg) {
  for (size_t i = 0; i < pcrs->n_banks; i++)
    if (pcrs->banks[i].alg == alg)
      return &pcrs->banks[i];
  return NULL;
}

rt_eventlog_alg_issue rt_eventlog_check_algs(const rt_eventlog *log, rt_err *err) {
  char buf[8];
  for (size_t i = 0; i < log->n_algs; i++) {
    const rt_eventlog_alg *a = &log->algs[i];
    size_t want = rt_eventlog_alg_digest_size(a->alg);
    if (want == 0) {
      rt_err_set(err, RT_E_INVALID,
                 "the event log declares algorithm %s, which the verifier does not know: its "
                 "digests prove nothing",
                 rt_eventlog_alg_label(a->alg, buf));
      return RT_EVENTLOG_ALG_UNKNOWN;
    }
    if (a->digest_size != want) {
      rt_err_set(err, RT_E_INVALID, "the event log declares %s digests of %u bytes, not %zu",
                 rt_eventlog_alg_label(a->alg, buf), (unsigned)a->digest_size, want);
      return RT_EVENTLOG_ALG_DIGEST_SIZE;
    }
  }
  return RT_EVENTLOG_ALG_OK;
}

rt_code rt_eventlog_replay(const rt_eventlog *log, rt_eventlog_pcrs *out, rt_err *err) {
  memset(out, 0, sizeof *out);
  if (rt_eventlog_check_algs(log, err) != RT_EVENTLOG_ALG_OK)
    return RT_E_INVALID;
  EVP_MD *md[RT_EVENTLOG_MAX_BANKS] = {NULL};
  EVP_MD_CTX *ctx = NULL;
  rt_code rc = RT_OK;

  for (size_t i = 0; i < log->n_algs; i++) {
    int k = known_alg_index(log->algs[i].alg); /* >= 0: rt_eventlog_check_algs */
    rt_eventlog_bank *bank = &out->banks[out->n_banks];
    bank->alg = known_algs[k].alg;
    bank->size = known_algs[k].size;
    for (int pcr = 17; pcr <= 22; pcr++)
      memset(bank->pcr[pcr], 0xff, bank->size);
    if (log->has_startup_locality)
      bank->pcr[0][bank->size - 1] = log->startup_locality;
    md[out->n_banks] = EVP_MD_fetch(NULL, known_algs[k].evp_name, NULL);
    if (md[out->n_banks] == NULL) {
      rc = rt_err_set(err, RT_E_CRYPTO, "replaying the event log: OpenSSL has no %s digest",
                      known_algs[k].evp_name);
      goto done;
    }
    out->n_banks++;
  }
  if ((ctx = EVP_MD_CTX_new()) == NULL) {
    rc = rt_err_set(err, RT_E_NOMEM, "replaying the event log: out of memory");
    goto done;
  }

  for (size_t i = 0; i < log->n_events; i++) {
    const rt_eventlog_event *ev = &log->events[i];
    if ((!log->legacy && i == 0) || ev->type == RT_EV_NO_ACTION || ev->pcr >= RT_EVENTLOG_NUM_PCRS)
      continue;
    for (size_t b = 0; b < out->n_banks; b++) {
      rt_eventlog_bank *bank = &out->banks[b];
      const rt_eventlog_digest *d = rt_eventlog_event_digest(ev, bank->alg);
      if (d == NULL || d->len != bank->size) {
        rc = rt_err_set(err, RT_E_INTERNAL, "event %" PRIu32 " has no %u-byte digest for bank %s",
                        ev->index, (unsigned)bank->size, rt_eventlog_alg_name(bank->alg));
        goto done;
      }
      uint8_t *pcr = bank->pcr[ev->pcr];
      unsigned int outlen = 0;
      if (EVP_DigestInit_ex2(ctx, md[b], NULL) != 1 ||
          EVP_DigestUpdate(ctx, pcr, bank->size) != 1 ||
          EVP_DigestUpdate(ctx, d->bytes, d->len) != 1 ||
          EVP_DigestFinal_ex(ctx, pcr, &outlen) != 1 || outlen != bank->size) {
        rc = rt_err_set(err, RT_E_CRYPTO, "replaying event %" PRIu32 ": %s extend failed",
                        ev->index, rt_eventlog_alg_name(bank->alg));
        goto done;
      }
      bank->extended |= UINT32_C(1) << ev->pcr;
    }
  }

done:
  EVP_MD_CTX_free(ctx);
  for (size_t b = 0; b < RT_EVENTLOG_MAX_BANKS; b++)
    EVP_MD_free(md[b]);
  if (rc != RT_OK)
    memset(out, 0, sizeof *out);
  return rc;
}
