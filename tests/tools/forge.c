#include "forge.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_evdata.h"
#include "rt_uefi.h"

/* Spec ID event data (TCG_EfiSpecIdEvent): signature[16], platformClass,
 * specVersionMinor/Major, specErrata, uintnSize (24 bytes), then
 * numberOfAlgorithms and the algorithm list. */
#define SPEC_ID_COUNT_OFF 24
#define SPEC_ID_ALGS_OFF 28

static rt_code nomem(rt_err *err) {
  return rt_err_set(err, RT_E_NOMEM, "forge: out of memory");
}

static void put_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* A copy of n bytes (NULL for none). */
static rt_code dup_bytes(const uint8_t *d, size_t n, uint8_t **out, rt_err *err) {
  *out = NULL;
  if (n == 0)
    return RT_OK;
  if ((*out = malloc(n)) == NULL)
    return nomem(err);
  memcpy(*out, d, n);
  return RT_OK;
}

/* H_alg(d[0..n) || tail_n zero bytes) into out; the size is the alg's. */
static rt_code hash(TPM2_ALG_ID alg, const uint8_t *d, size_t n, size_t tail_n, uint8_t *out,
                    rt_err *err) {
  static const uint8_t zeros[4] = {0};
  const char *name = rt_eventlog_alg_evp_name(alg);
  char buf[8];
  if (name == NULL)
    return rt_err_set(err, RT_E_INVALID, "forge: cannot hash with %s",
                      rt_eventlog_alg_label(alg, buf));
  EVP_MD *md = EVP_MD_fetch(NULL, name, NULL);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned int len = 0;
  bool ok = md != NULL && ctx != NULL && EVP_DigestInit_ex2(ctx, md, NULL) == 1 &&
            (n == 0 || EVP_DigestUpdate(ctx, d, n) == 1) &&
            (tail_n == 0 || EVP_DigestUpdate(ctx, zeros, tail_n) == 1) &&
            EVP_DigestFinal_ex(ctx, out, &len) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_MD_free(md);
  if (!ok || len != rt_eventlog_alg_digest_size(alg))
    return rt_err_set(err, RT_E_CRYPTO, "forge: %s failed", name);
  return RT_OK;
}

/* ---- model ------------------------------------------------------------------ */

static void event_free(rt_forge_event *ev) {
  free(ev->data);
  memset(ev, 0, sizeof *ev);
}

void rt_forge_free(rt_forge *f) {
  if (f == NULL)
    return;
  for (size_t i = 0; i < f->n_events; i++)
    event_free(&f->events[i]);
  free(f->events);
  memset(f, 0, sizeof *f);
}

/* Room for one more event. */
static rt_code reserve(rt_forge *f, rt_err *err) {
  if (f->n_events < f->cap)
    return RT_OK;
  size_t ncap = f->cap == 0 ? 64 : f->cap * 2;
  rt_forge_event *ev = realloc(f->events, ncap * sizeof *ev);
  if (ev == NULL)
    return nomem(err);
  f->events = ev;
  f->cap = ncap;
  return RT_OK;
}

static rt_code event_from_log(const rt_eventlog_event *src, size_t index, rt_forge_event *ev,
                              rt_err *err) {
  char buf[8];
  memset(ev, 0, sizeof *ev);
  ev->pcr = src->pcr;
  ev->type = src->type;
  ev->origin = index;
  for (size_t d = 0; d < src->n_digests; d++) {
    const rt_eventlog_digest *g = &src->digests[d];
    if (g->len > RT_EVENTLOG_MAX_DIGEST)
      return rt_err_set(err, RT_E_INVALID, "forge: event %zu: %s digest of %u bytes is too long",
                        index, rt_eventlog_alg_label(g->alg, buf), (unsigned)g->len);
    ev->digests[d].alg = g->alg;
    ev->digests[d].len = g->len;
    memcpy(ev->digests[d].bytes, g->bytes, g->len);
  }
  ev->n_digests = src->n_digests;
  ev->data_len = src->data_len;
  return dup_bytes(src->data, src->data_len, &ev->data, err);
}

rt_code rt_forge_from_log(const rt_eventlog *log, rt_forge *out, rt_err *err) {
  memset(out, 0, sizeof *out);
  out->legacy = log->legacy;
  out->n_algs = log->n_algs;
  memcpy(out->algs, log->algs, sizeof out->algs);
  for (size_t i = 0; i < log->n_events; i++) {
    rt_code rc = reserve(out, err);
    if (rc != RT_OK) {
      rt_forge_free(out);
      return rc;
    }
    /* Counted first, so that a failure frees what it copied. */
    out->n_events++;
    if ((rc = event_from_log(&log->events[i], i, &out->events[i], err)) != RT_OK) {
      rt_forge_free(out);
      return rc;
    }
  }
  out->n_source = log->n_events;
  return RT_OK;
}

rt_code rt_forge_parse(const uint8_t *data, size_t len, rt_forge *out, rt_err *err) {
  rt_eventlog log;
  memset(out, 0, sizeof *out);
  rt_code rc = rt_eventlog_parse(data, len, NULL, &log, err);
  if (rc != RT_OK)
    return rc;
  rc = rt_forge_from_log(&log, out, err);
  rt_eventlog_free(&log);
  return rc;
}

rt_code rt_forge_copy(const rt_forge *src, rt_forge *dst, rt_err *err) {
  *dst = *src;
  dst->events = NULL;
  dst->n_events = dst->cap = 0;
  if (src->n_events > 0 && (dst->events = calloc(src->n_events, sizeof *dst->events)) == NULL)
    return nomem(err);
  dst->cap = src->n_events;
  for (size_t i = 0; i < src->n_events; i++) {
    dst->events[i] = src->events[i];
    if (dup_bytes(src->events[i].data, src->events[i].data_len, &dst->events[i].data, err) !=
        RT_OK) {
      rt_forge_free(dst);
      return RT_E_NOMEM;
    }
    dst->n_events++;
  }
  return RT_OK;
}

/* The Spec ID event of a crypto-agile log: TCG_PCR_EVENT like legacy ones. */
static bool pcr_event_format(const rt_forge *f, size_t i) {
  return f->legacy || i == 0;
}

static size_t event_size(const rt_forge *f, size_t i) {
  const rt_forge_event *ev = &f->events[i];
  if (pcr_event_format(f, i))
    return 32 + (size_t)ev->data_len;
  size_t n = 16 + (size_t)ev->data_len;
  for (size_t d = 0; d < ev->n_digests; d++)
    n += 2 + ev->digests[d].len;
  return n;
}

static uint8_t *write_event(const rt_forge *f, size_t i, uint8_t *p) {
  const rt_forge_event *ev = &f->events[i];
  put_u32(p, ev->pcr);
  put_u32(p + 4, ev->type);
  p += 8;
  if (pcr_event_format(f, i)) {
    memset(p, 0, 20);
    if (ev->n_digests > 0)
      memcpy(p, ev->digests[0].bytes, ev->digests[0].len < 20 ? ev->digests[0].len : 20);
    p += 20;
  } else {
    put_u32(p, (uint32_t)ev->n_digests);
    p += 4;
    for (size_t d = 0; d < ev->n_digests; d++) {
      put_u16(p, ev->digests[d].alg);
      memcpy(p + 2, ev->digests[d].bytes, ev->digests[d].len);
      p += 2 + ev->digests[d].len;
    }
  }
  put_u32(p, ev->data_len);
  if (ev->data_len > 0)
    memcpy(p + 4, ev->data, ev->data_len);
  return p + 4 + ev->data_len;
}

rt_code rt_forge_serialize(const rt_forge *f, uint8_t **out, size_t *len, rt_err *err) {
  size_t total = 0;
  *out = NULL;
  *len = 0;
  for (size_t i = 0; i < f->n_events; i++)
    total += event_size(f, i);
  uint8_t *buf = malloc(total > 0 ? total : 1);
  if (buf == NULL)
    return nomem(err);
  uint8_t *p = buf;
  for (size_t i = 0; i < f->n_events; i++)
    p = write_event(f, i, p);
  size_t written = (size_t)(p - buf);
  if (written != total) {
    free(buf);
    return rt_err_set(err, RT_E_INTERNAL, "forge: serialized %zu bytes, expected %zu", written,
                      total);
  }
  *out = buf;
  *len = total;
  return RT_OK;
}

const rt_forge_digest *rt_forge_digest_of(const rt_forge *f, size_t i, TPM2_ALG_ID alg) {
  if (i >= f->n_events)
    return NULL;
  for (size_t d = 0; d < f->events[i].n_digests; d++)
    if (f->events[i].digests[d].alg == alg)
      return &f->events[i].digests[d];
  return NULL;
}

bool rt_forge_pcr_order_kept(const rt_forge *f) {
  size_t last[RT_EVENTLOG_NUM_PCRS];
  bool seen[RT_EVENTLOG_NUM_PCRS] = {false};
  for (size_t i = 0; i < f->n_events; i++) {
    const rt_forge_event *ev = &f->events[i];
    if ((!f->legacy && i == 0) || ev->pcr >= RT_EVENTLOG_NUM_PCRS || ev->origin == SIZE_MAX)
      continue;
    if (seen[ev->pcr] && ev->origin <= last[ev->pcr])
      return false;
    seen[ev->pcr] = true;
    last[ev->pcr] = ev->origin;
  }
  return true;
}

/* ---- edits --------------------------------------------------------------------- */

static rt_code check_index(const rt_forge *f, size_t i, const char *what, rt_err *err) {
  if (i < f->n_events)
    return RT_OK;
  return rt_err_set(err, RT_E_INVALID, "%s: event %zu does not exist (the log has %zu)", what, i,
                    f->n_events);
}

rt_code rt_forge_relabel(rt_forge *f, size_t i, uint32_t type, rt_err *err) {
  rt_code rc = check_index(f, i, "relabel", err);
  if (rc == RT_OK)
    f->events[i].type = type;
  return rc;
}

rt_code rt_forge_set_data(rt_forge *f, size_t i, const uint8_t *d, size_t n, rt_err *err) {
  uint8_t *copy = NULL;
  rt_code rc = check_index(f, i, "set-data", err);
  if (rc == RT_OK && n > UINT32_MAX)
    rc = rt_err_set(err, RT_E_INVALID, "set-data: %zu bytes do not fit an event", n);
  if (rc == RT_OK)
    rc = dup_bytes(d, n, &copy, err);
  if (rc != RT_OK)
    return rc;
  free(f->events[i].data);
  f->events[i].data = copy;
  f->events[i].data_len = (uint32_t)n;
  return RT_OK;
}

rt_code rt_forge_set_grub_prefix(rt_forge *f, size_t i, const char *prefix, rt_err *err) {
  rt_grub_string g;
  rt_code rc = check_index(f, i, "grub-prefix", err);
  if (rc != RT_OK)
    return rc;
  const rt_forge_event *ev = &f->events[i];
  if (!rt_evdata_grub(ev->data, ev->data_len, &g))
    return rt_err_set(err, RT_E_INVALID, "grub-prefix: event %zu is not a GRUB string", i);
  size_t plen = strlen(prefix), tlen = g.len + (g.nul ? 1 : 0);
  uint8_t *d = malloc(plen + tlen + 1);
  if (d == NULL)
    return nomem(err);
  memcpy(d, prefix, plen);
  memcpy(d + plen, g.text, tlen);
  rc = rt_forge_set_data(f, i, d, plen + tlen, err);
  free(d);
  return rc;
}

static int alg_slot(const rt_forge *f, TPM2_ALG_ID alg) {
  for (size_t a = 0; a < f->n_algs; a++)
    if (f->algs[a].alg == alg)
      return (int)a;
  return -1;
}

/* The event's digest slot for alg (added when missing), sized as declared. */
static rt_code digest_slot(rt_forge *f, size_t i, TPM2_ALG_ID alg, size_t n, const char *what,
                           rt_forge_digest **out, rt_err *err) {
  char buf[8];
  int a = alg_slot(f, alg);
  rt_code rc = check_index(f, i, what, err);
  if (rc != RT_OK)
    return rc;
  if (a < 0)
    return rt_err_set(err, RT_E_INVALID, "%s: the log declares no %s bank", what,
                      rt_eventlog_alg_label(alg, buf));
  if (n != f->algs[a].digest_size)
    return rt_err_set(err, RT_E_INVALID, "%s: %s digests are %u bytes, not %zu", what,
                      rt_eventlog_alg_label(alg, buf), (unsigned)f->algs[a].digest_size, n);
  if (!f->legacy && i == 0)
    return rt_err_set(err, RT_E_INVALID, "%s: event 0 is the Spec ID event", what);
  *out = (rt_forge_digest *)rt_forge_digest_of(f, i, alg);
  if (*out == NULL) {
    rt_forge_event *ev = &f->events[i];
    *out = &ev->digests[ev->n_digests++];
    (*out)->alg = alg;
    (*out)->len = (uint16_t)n;
  }
  return RT_OK;
}

rt_code rt_forge_set_digest(rt_forge *f, size_t i, TPM2_ALG_ID alg, const uint8_t *d, size_t n,
                            rt_err *err) {
  rt_forge_digest *slot = NULL;
  rt_code rc = digest_slot(f, i, alg, n, "set-digest", &slot, err);
  if (rc == RT_OK)
    memcpy(slot->bytes, d, n);
  return rc;
}

rt_code rt_forge_copy_digest(rt_forge *f, size_t i, TPM2_ALG_ID alg, size_t from_i,
                             TPM2_ALG_ID from_alg, rt_err *err) {
  char buf[8];
  const rt_forge_digest *from = rt_forge_digest_of(f, from_i, from_alg);
  if (from == NULL)
    return rt_err_set(err, RT_E_INVALID, "copy-digest: event %zu has no %s digest", from_i,
                      rt_eventlog_alg_label(from_alg, buf));
  rt_forge_digest copy = *from;
  return rt_forge_set_digest(f, i, alg, copy.bytes, copy.len, err);
}

rt_code rt_forge_move(rt_forge *f, size_t i, size_t to, rt_err *err) {
  rt_code rc = check_index(f, i, "move", err);
  if (rc == RT_OK)
    rc = check_index(f, to, "move", err);
  if (rc != RT_OK)
    return rc;
  if (!f->legacy && (i == 0 || to == 0))
    return rt_err_set(err, RT_E_INVALID, "move: the Spec ID event stays first");
  rt_forge_event ev = f->events[i];
  if (to > i)
    memmove(&f->events[i], &f->events[i + 1], (to - i) * sizeof ev);
  else if (to < i)
    memmove(&f->events[to + 1], &f->events[to], (i - to) * sizeof ev);
  f->events[to] = ev;
  return RT_OK;
}

/* ---- banks ----------------------------------------------------------------------- */

/* A candidate for what a digest covers: p[0..n) then tail zero bytes. */
typedef struct {
  const uint8_t *p;
  size_t n, tail;
} cover;

/* What an event's digests may cover, by the forms rt_evstate.h documents. */
static size_t covers(const rt_forge_event *ev, cover c[6]) {
  const uint8_t *d = ev->data;
  size_t n = ev->data_len, k = 0;
  rt_grub_string g;
  rt_uefi_var v;
  c[k++] = (cover){d, n, 0};
  if (rt_evdata_grub(d, n, &g)) {
    c[k++] = (cover){g.text, g.len, 0};
    c[k++] = (cover){g.text, g.len + 1, 0};
  }
  if (n >= 3 && d[n - 1] == 0) /* systemd-boot: text and a 2-byte NUL */
    c[k++] = (cover){d, n % 2 == 0 ? n - 2 : n - 1, 2};
  if (rt_uefi_var_parse(d, n, &v)) {
    c[k++] = (cover){v.data, v.data_len, 0};
    if (n > v.struct_len + 5)
      c[k++] = (cover){d, v.struct_len + 5, 0};
  }
  return k;
}

/* The hash in alg of what the event's first known digest covers; zeros if
 * nothing in the event hashes to it. */
static rt_code measured_digest(const rt_forge_event *ev, TPM2_ALG_ID alg, uint8_t *out,
                               rt_err *err) {
  const rt_forge_digest *ref = NULL;
  for (size_t d = 0; d < ev->n_digests && ref == NULL; d++)
    if (rt_eventlog_alg_digest_size(ev->digests[d].alg) == ev->digests[d].len)
      ref = &ev->digests[d];
  memset(out, 0, rt_eventlog_alg_digest_size(alg));
  if (ref == NULL)
    return RT_OK;
  cover c[6];
  size_t nc = covers(ev, c);
  for (size_t k = 0; k < nc; k++) {
    uint8_t md[RT_EVENTLOG_MAX_DIGEST];
    rt_code rc = hash(ref->alg, c[k].p, c[k].n, c[k].tail, md, err);
    if (rc != RT_OK)
      return rc;
    if (memcmp(md, ref->bytes, ref->len) == 0)
      return hash(alg, c[k].p, c[k].n, c[k].tail, out, err);
  }
  return RT_OK;
}

/* A crypto-agile log's first event for a legacy log: sha1 only so far. */
static rt_code insert_spec_id(rt_forge *f, rt_err *err) {
  static const uint8_t head[SPEC_ID_ALGS_OFF] = {
      'S', 'p', 'e', 'c', ' ', 'I', 'D', ' ', 'E', 'v',
      'e', 'n', 't', '0', '3', 0,   0,   0,   0,   0, /* platformClass: client */
      0,   2,   0,   2,                               /* spec version 2.0, errata 0, 64-bit UINTN */
      0,   0,   0,   0};
  uint8_t data[SPEC_ID_ALGS_OFF + 5];
  memcpy(data, head, sizeof head);
  put_u32(data + SPEC_ID_COUNT_OFF, 1);
  put_u16(data + SPEC_ID_ALGS_OFF, TPM2_ALG_SHA1);
  put_u16(data + SPEC_ID_ALGS_OFF + 2, 20);
  data[SPEC_ID_ALGS_OFF + 4] = 0; /* no vendor info */
  rt_code rc = reserve(f, err);
  if (rc != RT_OK)
    return rc;
  rt_forge_event ev = {.pcr = 0, .type = RT_EV_NO_ACTION, .n_digests = 1, .origin = SIZE_MAX};
  ev.digests[0] = (rt_forge_digest){.alg = TPM2_ALG_SHA1, .len = 20};
  ev.data_len = sizeof data;
  if ((rc = dup_bytes(data, sizeof data, &ev.data, err)) != RT_OK)
    return rc;
  memmove(&f->events[1], &f->events[0], f->n_events * sizeof ev);
  f->events[0] = ev;
  f->n_events++;
  f->legacy = false;
  return RT_OK;
}

/* The Spec ID event declares one more algorithm. */
static rt_code declare_alg(rt_forge *f, TPM2_ALG_ID alg, uint16_t size, rt_err *err) {
  rt_forge_event *spec = &f->events[0];
  size_t at = SPEC_ID_ALGS_OFF + 4 * f->n_algs;
  if (spec->data_len < at + 1)
    return rt_err_set(err, RT_E_INVALID, "add-bank: the Spec ID event is too short");
  uint8_t *d = malloc((size_t)spec->data_len + 4);
  if (d == NULL)
    return nomem(err);
  memcpy(d, spec->data, at);
  put_u16(d + at, alg);
  put_u16(d + at + 2, size);
  memcpy(d + at + 4, spec->data + at, spec->data_len - at);
  put_u32(d + SPEC_ID_COUNT_OFF, (uint32_t)(f->n_algs + 1));
  free(spec->data);
  spec->data = d;
  spec->data_len += 4;
  f->algs[f->n_algs].alg = alg;
  f->algs[f->n_algs].digest_size = size;
  f->n_algs++;
  return RT_OK;
}

static rt_code check_new_bank(const rt_forge *f, TPM2_ALG_ID alg, uint16_t size, rt_forge_fill fill,
                              rt_err *err) {
  char buf[8];
  size_t known = rt_eventlog_alg_digest_size(alg);
  if (alg_slot(f, alg) >= 0)
    return rt_err_set(err, RT_E_INVALID, "add-bank: the log already declares %s",
                      rt_eventlog_alg_label(alg, buf));
  if (f->n_algs >= RT_EVENTLOG_MAX_ALGS)
    return rt_err_set(err, RT_E_INVALID, "add-bank: the log already declares %d algorithms",
                      RT_EVENTLOG_MAX_ALGS);
  if (size == 0 || size > RT_EVENTLOG_MAX_DIGEST)
    return rt_err_set(err, RT_E_INVALID, "add-bank: digest size %u is not 1..%d", (unsigned)size,
                      RT_EVENTLOG_MAX_DIGEST);
  if (fill != RT_FORGE_FILL_ZERO && known != size)
    return rt_err_set(err, RT_E_INVALID,
                      "add-bank: computing %s digests of %u bytes: needs a known algorithm "
                      "with its own size",
                      rt_eventlog_alg_label(alg, buf), (unsigned)size);
  return RT_OK;
}

rt_code rt_forge_add_bank(rt_forge *f, TPM2_ALG_ID alg, uint16_t size, rt_forge_fill fill,
                          rt_err *err) {
  rt_code rc = check_new_bank(f, alg, size, fill, err);
  if (rc == RT_OK && f->legacy)
    rc = insert_spec_id(f, err);
  if (rc == RT_OK)
    rc = declare_alg(f, alg, size, err);
  for (size_t i = 1; i < f->n_events && rc == RT_OK; i++) {
    rt_forge_event *ev = &f->events[i];
    rt_forge_digest *g = &ev->digests[ev->n_digests];
    memset(g, 0, sizeof *g);
    g->alg = alg;
    g->len = size;
    if (fill == RT_FORGE_FILL_DATA)
      rc = hash(alg, ev->data, ev->data_len, 0, g->bytes, err);
    else if (fill == RT_FORGE_FILL_MEASURED)
      rc = measured_digest(ev, alg, g->bytes, err);
    ev->n_digests++;
  }
  return rc;
}

/* ---- appending -------------------------------------------------------------------- */

/* A new last event with no digests yet. */
static rt_code new_event(rt_forge *f, uint32_t pcr, uint32_t type, const uint8_t *data, size_t n,
                         rt_forge_event **out, rt_err *err) {
  if (n > UINT32_MAX)
    return rt_err_set(err, RT_E_INVALID, "append: %zu bytes do not fit an event", n);
  rt_code rc = reserve(f, err);
  if (rc != RT_OK)
    return rc;
  rt_forge_event *ev = &f->events[f->n_events];
  memset(ev, 0, sizeof *ev);
  ev->pcr = pcr;
  ev->type = type;
  ev->data_len = (uint32_t)n;
  if ((rc = dup_bytes(data, n, &ev->data, err)) != RT_OK)
    return rc;
  ev->origin = f->n_source + f->n_appended++;
  ev->appended = true;
  f->n_events++;
  *out = ev;
  return RT_OK;
}

rt_code rt_forge_append_measured(rt_forge *f, uint32_t pcr, uint32_t type, const uint8_t *data,
                                 size_t n, const uint8_t *measured, size_t measured_len,
                                 rt_err *err) {
  rt_forge_event *ev;
  rt_code rc = new_event(f, pcr, type, data, n, &ev, err);
  for (size_t a = 0; a < f->n_algs && rc == RT_OK; a++) {
    rt_forge_digest *g = &ev->digests[ev->n_digests++];
    g->alg = f->algs[a].alg;
    g->len = f->algs[a].digest_size;
    if (rt_eventlog_alg_digest_size(g->alg) == g->len)
      rc = hash(g->alg, measured, measured_len, 0, g->bytes, err);
  }
  return rc;
}

rt_code rt_forge_append(rt_forge *f, uint32_t pcr, uint32_t type, const uint8_t *data, size_t n,
                        rt_err *err) {
  return rt_forge_append_measured(f, pcr, type, data, n, data, n, err);
}

rt_code rt_forge_append_digests(rt_forge *f, uint32_t pcr, uint32_t type, const uint8_t *data,
                                size_t n, const rt_forge_digest *digests, size_t n_digests,
                                rt_err *err) {
  char buf[8];
  for (size_t k = 0; k < n_digests; k++) {
    int a = alg_slot(f, digests[k].alg);
    if (a < 0 || f->algs[a].digest_size != digests[k].len)
      return rt_err_set(err, RT_E_INVALID, "append: the log declares no %s bank of %u-byte digests",
                        rt_eventlog_alg_label(digests[k].alg, buf), (unsigned)digests[k].len);
  }
  rt_forge_event *ev;
  rt_code rc = new_event(f, pcr, type, data, n, &ev, err);
  for (size_t a = 0; a < f->n_algs && rc == RT_OK; a++) {
    rt_forge_digest *g = &ev->digests[ev->n_digests++];
    g->alg = f->algs[a].alg;
    g->len = f->algs[a].digest_size;
    for (size_t k = 0; k < n_digests; k++)
      if (digests[k].alg == g->alg)
        memcpy(g->bytes, digests[k].bytes, g->len);
  }
  return rc;
}

rt_code rt_forge_append_grub(rt_forge *f, uint32_t pcr, const char *prefix, const char *text,
                             rt_err *err) {
  rt_forge_buf b;
  rt_code rc = rt_forge_grub_string(prefix, text, &b, err);
  if (rc != RT_OK)
    return rc;
  /* Red Hat's "grub_cmd " hashes the string's NUL too (rt_evstate.h). */
  size_t measured = strlen(text) + (strcmp(prefix, "grub_cmd ") == 0 ? 1 : 0);
  rc = rt_forge_append_measured(f, pcr, RT_EV_IPL, b.data, b.len, b.data + strlen(prefix), measured,
                                err);
  rt_forge_buf_free(&b);
  return rc;
}

rt_code rt_forge_append_cmdline(rt_forge *f, uint32_t pcr, rt_forge_cmdline_form form,
                                const char *text, rt_err *err) {
  if (form == RT_FORGE_CMDLINE_GRUB)
    return rt_forge_append_grub(f, pcr, "kernel_cmdline: ", text, err);
  if (form == RT_FORGE_CMDLINE_REDHAT)
    return rt_forge_append_grub(f, pcr, "grub_kernel_cmdline ", text, err);
  rt_forge_buf b;
  rt_code rc = rt_forge_sdboot_string(text, &b, err);
  if (rc == RT_OK)
    rc = rt_forge_append(f, pcr, RT_EV_IPL, b.data, b.len, err);
  rt_forge_buf_free(&b);
  return rc;
}

/* ---- builders ------------------------------------------------------------------------ */

void rt_forge_buf_free(rt_forge_buf *b) {
  if (b == NULL)
    return;
  free(b->data);
  b->data = NULL;
  b->len = 0;
}

static rt_code buf_alloc(rt_forge_buf *b, size_t n, rt_err *err) {
  b->len = n;
  if ((b->data = calloc(1, n > 0 ? n : 1)) == NULL)
    return nomem(err);
  return RT_OK;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool rt_forge_guid_parse(const char *s, uint8_t out[16]) {
  /* Text order of the 16 bytes: the first three fields are little-endian in
   * memory, the last two are bytes in order. */
  static const int order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
  if (s == NULL || strlen(s) != 36)
    return false;
  int k = 0;
  for (int i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-')
        return false;
      continue;
    }
    int hi = hexval(s[i]), lo = hexval(s[i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    out[order[k++]] = (uint8_t)(hi << 4 | lo);
    i++;
  }
  return k == 16;
}

rt_code rt_forge_uefi_var(const uint8_t guid[16], const char *name, const uint8_t *data, size_t n,
                          rt_forge_buf *out, rt_err *err) {
  size_t units = strlen(name);
  rt_code rc = buf_alloc(out, 32 + 2 * units + n, err);
  if (rc != RT_OK)
    return rc;
  memcpy(out->data, guid, 16);
  put_u64(out->data + 16, units);
  put_u64(out->data + 24, n);
  for (size_t i = 0; i < units; i++)
    put_u16(out->data + 32 + 2 * i, (uint8_t)name[i]);
  if (n > 0)
    memcpy(out->data + 32 + 2 * units, data, n);
  return RT_OK;
}

rt_code rt_forge_siglist_sha256(const uint8_t owner[16], const uint8_t (*hashes)[32], size_t n,
                                rt_forge_buf *out, rt_err *err) {
  rt_code rc = buf_alloc(out, 28 + n * 48, err);
  if (rc != RT_OK)
    return rc;
  memcpy(out->data, RT_GUID_CERT_SHA256, 16);
  put_u32(out->data + 16, (uint32_t)out->len); /* SignatureListSize */
  put_u32(out->data + 20, 0);                  /* SignatureHeaderSize */
  put_u32(out->data + 24, 48);                 /* SignatureSize: owner + hash */
  for (size_t i = 0; i < n; i++) {
    memcpy(out->data + 28 + 48 * i, owner, 16);
    memcpy(out->data + 28 + 48 * i + 16, hashes[i], 32);
  }
  return RT_OK;
}

rt_code rt_forge_grub_string(const char *prefix, const char *text, rt_forge_buf *out, rt_err *err) {
  size_t plen = strlen(prefix), tlen = strlen(text);
  rt_code rc = buf_alloc(out, plen + tlen + 1, err);
  if (rc != RT_OK)
    return rc;
  memcpy(out->data, prefix, plen);
  memcpy(out->data + plen, text, tlen);
  return RT_OK; /* the NUL: buf_alloc zeroes */
}

/* The next code point of UTF-8 text; -1 if malformed. */
static long utf8_next(const unsigned char **s) {
  const unsigned char *p = *s;
  int extra = p[0] < 0x80             ? 0
              : (p[0] & 0xe0) == 0xc0 ? 1
              : (p[0] & 0xf0) == 0xe0 ? 2
              : (p[0] & 0xf8) == 0xf0 ? 3
                                      : -1;
  if (extra < 0)
    return -1;
  long cp = extra == 0 ? p[0] : p[0] & (0x3f >> extra);
  for (int k = 1; k <= extra; k++) {
    if ((p[k] & 0xc0) != 0x80)
      return -1;
    cp = cp << 6 | (p[k] & 0x3f);
  }
  *s = p + 1 + extra;
  return cp > 0x10ffff ? -1 : cp;
}

rt_code rt_forge_sdboot_string(const char *text, rt_forge_buf *out, rt_err *err) {
  /* At most one UTF-16 unit per UTF-8 byte (4-byte sequences: two units). */
  rt_code rc = buf_alloc(out, 2 * strlen(text) + 2, err);
  if (rc != RT_OK)
    return rc;
  const unsigned char *s = (const unsigned char *)text;
  size_t n = 0;
  while (*s != '\0') {
    long cp = utf8_next(&s);
    if (cp <= 0) {
      rt_forge_buf_free(out);
      return rt_err_set(err, RT_E_INVALID, "sdboot string: not UTF-8 text");
    }
    if (cp >= 0x10000) {
      put_u16(out->data + n, (uint16_t)(0xd800 | ((cp - 0x10000) >> 10)));
      cp = 0xdc00 | ((cp - 0x10000) & 0x3ff);
      n += 2;
    }
    put_u16(out->data + n, (uint16_t)cp);
    n += 2;
  }
  out->len = n + 2; /* the NUL unit: zeroed by buf_alloc */
  return RT_OK;
}

void rt_forge_separator(uint32_t value, uint8_t out[4]) {
  put_u32(out, value);
}

/* ---- names ------------------------------------------------------------------------------ */

size_t rt_forge_event_types(uint32_t *out, size_t max) {
  /* The ranges rt_eventlog.h's RT_EV_* fall in. */
  static const uint32_t ranges[][2] = {
      {RT_EV_PREBOOT_CERT, RT_EV_OMIT_BOOT_DEVICE_EVENTS},
      {RT_EV_EFI_EVENT_BASE, RT_EV_EFI_HCRTM_EVENT},
      {RT_EV_EFI_VARIABLE_AUTHORITY, RT_EV_EFI_SPDM_DEVICE_AUTHORITY}};
  size_t n = 0;
  for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++)
    for (uint32_t t = ranges[r][0]; t <= ranges[r][1]; t++)
      if (rt_eventlog_type_name(t) != NULL && n < max)
        out[n++] = t;
  return n;
}

/* "0x" and 1..8 hex digits. */
static bool parse_hex_u32(const char *s, uint32_t *out) {
  if (strncmp(s, "0x", 2) != 0 && strncmp(s, "0X", 2) != 0)
    return false;
  size_t n = strlen(s + 2);
  if (n == 0 || n > 8)
    return false;
  uint32_t v = 0;
  for (size_t i = 0; i < n; i++) {
    int h = hexval(s[2 + i]);
    if (h < 0)
      return false;
    v = v << 4 | (uint32_t)h;
  }
  *out = v;
  return true;
}

bool rt_forge_type_parse(const char *s, uint32_t *out) {
  uint32_t types[64];
  size_t n = rt_forge_event_types(types, 64);
  for (size_t i = 0; i < n; i++)
    if (strcmp(rt_eventlog_type_name(types[i]), s) == 0) {
      *out = types[i];
      return true;
    }
  return parse_hex_u32(s, out);
}

bool rt_forge_alg_parse(const char *s, TPM2_ALG_ID *out) {
  uint32_t v;
  TPM2_ALG_ID alg = rt_eventlog_alg_from_name(s);
  if (alg != TPM2_ALG_ERROR) {
    *out = alg;
    return true;
  }
  if (!parse_hex_u32(s, &v) || v > 0xffff)
    return false;
  *out = (TPM2_ALG_ID)v;
  return true;
}
