#include "rt_evstate.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "rt_devpath.h"
#include "rt_evdecode.h"
#include "rt_uefi.h"

/* The PCRs the derived state reads: firmware and boot loader (0-9), shim's
 * MOK state (14). */
#define STATE_PCRS (UINT32_C(0x3ff) | UINT32_C(1) << 14)

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

const char *rt_secure_boot_name(rt_secure_boot s) {
  switch (s) {
  case RT_SECURE_BOOT_ON:
    return "on";
  case RT_SECURE_BOOT_OFF:
    return "off";
  default:
    return "unknown";
  }
}

/* ---- hashing ------------------------------------------------------------ */

typedef struct {
  size_t n;
  TPM2_ALG_ID alg[RT_EVENTLOG_MAX_ALGS];
  EVP_MD *md[RT_EVENTLOG_MAX_ALGS];
  EVP_MD_CTX *ctx;
} hasher;

static void hasher_free(hasher *h) {
  for (size_t i = 0; i < h->n; i++)
    EVP_MD_free(h->md[i]);
  EVP_MD_CTX_free(h->ctx);
  memset(h, 0, sizeof *h);
}

/* Every declared bank replay can compute, as rt_eventlog_replay does. */
static rt_code hasher_init(hasher *h, const rt_eventlog *log, rt_err *err) {
  memset(h, 0, sizeof *h);
  if ((h->ctx = EVP_MD_CTX_new()) == NULL)
    return rt_err_set(err, RT_E_NOMEM, "checking the event log: out of memory");
  for (size_t i = 0; i < log->n_algs && i < RT_EVENTLOG_MAX_ALGS; i++) {
    const char *name = rt_eventlog_alg_evp_name(log->algs[i].alg);
    if (name == NULL)
      continue;
    if ((h->md[h->n] = EVP_MD_fetch(NULL, name, NULL)) == NULL) {
      hasher_free(h);
      return rt_err_set(err, RT_E_CRYPTO, "checking the event log: OpenSSL has no %s digest", name);
    }
    h->alg[h->n++] = log->algs[i].alg;
  }
  return RT_OK;
}

/* Candidate contents an event's digests may cover. */
/* A candidate for the hashed bytes: p[0..n) then tail_n zero bytes (for
 * systemd-boot, which hashed a terminator it did not log in full). */
typedef struct {
  const uint8_t *p;
  size_t n;
  size_t tail_n; /* 0..2 */
} cand;

/* OK if one candidate hashes to every digest of a computable bank,
 * MISMATCH if none does, UNCHECKED if the event has no such digest. */
static rt_code match(hasher *h, const rt_eventlog_event *ev, const cand *c, size_t nc,
                     rt_evcheck *out, rt_err *err) {
  static const uint8_t empty = 0, zeros[2] = {0, 0};
  *out = RT_EVCHECK_UNCHECKED;
  for (size_t k = 0; k < nc; k++) {
    size_t compared = 0;
    bool all = true;
    for (size_t d = 0; d < ev->n_digests && all; d++) {
      size_t b = 0;
      while (b < h->n && h->alg[b] != ev->digests[d].alg)
        b++;
      if (b == h->n)
        continue; /* a bank replay cannot compute */
      uint8_t md[EVP_MAX_MD_SIZE];
      unsigned int len = 0;
      if (EVP_DigestInit_ex2(h->ctx, h->md[b], NULL) != 1 ||
          EVP_DigestUpdate(h->ctx, c[k].p != NULL ? c[k].p : &empty, c[k].n) != 1 ||
          (c[k].tail_n > 0 && EVP_DigestUpdate(h->ctx, zeros, c[k].tail_n) != 1) ||
          EVP_DigestFinal_ex(h->ctx, md, &len) != 1)
        return rt_err_set(err, RT_E_CRYPTO, "checking event %" PRIu32 ": hashing failed",
                          ev->index);
      compared++;
      all = len == ev->digests[d].len && memcmp(md, ev->digests[d].bytes, len) == 0;
    }
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
/* systemd-boot's kernel command line (EV_IPL in PCR 8): UTF-16LE load
 * options and a NUL. Its digest covers the text and a whole 2-byte NUL,
 * though the arch log's sd-boot logged only one byte of that NUL (365 bytes:
 * 182 units and a 0x00). *units: the text's length, without the NUL; the
 * text has no NUL unit of its own. */
static bool sdboot_units(const uint8_t *d, size_t n, size_t *units) {
  if (n < 3 || d[n - 1] != 0)
    return false;
  size_t text = n % 2 == 0 ? n - 2 : n - 1;
  if (d[text] != 0)
    return false;
  for (size_t i = 0; i < text; i += 2)
    if (d[i] == 0 && d[i + 1] == 0)
      return false;
  *units = text / 2;
  return *units > 0;
}

static size_t candidates(const rt_eventlog *log, size_t i, cand c[2]) {
  const rt_eventlog_event *ev = &log->events[i];
  const uint8_t *d = ev->data;
  size_t n = ev->data_len;
  rt_uefi_var v;
  rt_grub_string g;
  size_t units;
  if ((!log->legacy && i == 0) || ev->type == RT_EV_NO_ACTION || ev->pcr >= RT_EVENTLOG_NUM_PCRS)
    return 0; /* not extended */
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
    if (ev->pcr == 8 && !rt_evdecode_grub(d, n, &g) && sdboot_units(d, n, &units)) {
      c[0] = (cand){d, 2 * units, 2};
      return 1;
    }
    if (ev->pcr != 8 || !rt_evdecode_grub(d, n, &g))
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

/* ---- derived state ------------------------------------------------------ */

/* arr (n elements of sz bytes) with room for one more, zeroed; NULL when out
 * of memory (arr is then unchanged). */
static void *grow(void *arr, size_t n, size_t sz) {
  char *p = realloc(arr, (n + 1) * sz);
  if (p != NULL)
    memset(p + n * sz, 0, sz);
  return p;
}

typedef struct {
  bool sb_seen, sb_conflict;
} sb_track;

typedef struct {
  rt_evstate *st;
  bool oom;
} dbx_ctx;

static bool add_dbx_sha256(const rt_uefi_sig *s, void *ctx) {
  dbx_ctx *c = ctx;
  rt_evstate *st = c->st;
  if (memcmp(s->type, RT_GUID_CERT_SHA256, 16) != 0 || s->len != 32)
    return true;
  uint8_t(*arr)[32] = grow(st->dbx_sha256, st->n_dbx_sha256, 32);
  if (arr == NULL) {
    c->oom = true;
    return false;
  }
  st->dbx_sha256 = arr;
  memcpy(arr[st->n_dbx_sha256++], s->data, 32);
  return true;
}

static void secure_boot(rt_evstate *st, sb_track *sb, const rt_uefi_var *v, uint32_t index) {
  rt_secure_boot val = RT_SECURE_BOOT_UNKNOWN;
  if (v->data_len == 0 || (v->data_len == 1 && v->data[0] == 0))
    val = RT_SECURE_BOOT_OFF;
  else if (v->data_len == 1 && v->data[0] == 1)
    val = RT_SECURE_BOOT_ON;
  /* Measured twice with different values: no answer. */
  if (sb->sb_seen && val != st->secure_boot)
    sb->sb_conflict = true;
  if (!sb->sb_seen) {
    st->secure_boot = val;
    st->secure_boot_event = index;
  }
  sb->sb_seen = true;
  if (sb->sb_conflict)
    st->secure_boot = RT_SECURE_BOOT_UNKNOWN;
}

/* PCR 7 EV_EFI_VARIABLE_DRIVER_CONFIG; the first measurement of each counts. */
static rt_code driver_config(rt_evstate *st, sb_track *sb, const rt_eventlog_event *ev,
                             rt_err *err) {
  rt_uefi_var v;
  rt_evstate_var *slot = NULL;
  if (!rt_uefi_var_parse(ev->data, ev->data_len, &v))
    return RT_OK;
  if (rt_uefi_var_is(&v, RT_GUID_EFI_GLOBAL, "SecureBoot"))
    secure_boot(st, sb, &v, ev->index);
  else if (rt_uefi_var_is(&v, RT_GUID_EFI_GLOBAL, "PK"))
    slot = &st->pk;
  else if (rt_uefi_var_is(&v, RT_GUID_EFI_GLOBAL, "KEK"))
    slot = &st->kek;
  else if (rt_uefi_var_is(&v, RT_GUID_IMAGE_SECURITY_DB, "db"))
    slot = &st->db;
  else if (rt_uefi_var_is(&v, RT_GUID_IMAGE_SECURITY_DB, "dbx"))
    slot = &st->dbx;
  if (slot == NULL || slot->present)
    return RT_OK;
  if (!rt_evdecode_sha256(v.data, v.data_len, slot->sha256))
    return rt_err_set(err, RT_E_CRYPTO, "event %" PRIu32 ": SHA-256 failed", ev->index);
  slot->present = true;
  slot->event = ev->index;
  slot->data_len = v.data_len;
  /* The dbx digests count only if the whole list is well formed. */
  dbx_ctx ctx = {st, false};
  if (slot == &st->dbx && !rt_uefi_siglists_each(v.data, v.data_len, add_dbx_sha256, &ctx) &&
      ctx.oom)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  return RT_OK;
}

static rt_code authority(rt_evstate *st, const rt_eventlog_event *ev, rt_err *err) {
  rt_uefi_var v;
  const uint8_t *owner, *sig;
  size_t sig_len;
  if (!rt_uefi_var_parse(ev->data, ev->data_len, &v) ||
      !rt_uefi_authority_sig(v.data, v.data_len, &owner, &sig, &sig_len))
    return RT_OK;
  rt_evstate_authority *arr = grow(st->authorities, st->n_authorities, sizeof *arr);
  if (arr == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  st->authorities = arr;
  rt_evstate_authority *a = &arr[st->n_authorities++];
  if ((a->variable = rt_uefi_var_name(&v)) == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  a->event = ev->index;
  a->subject = rt_evdecode_x509_subject(sig, sig_len);
  if (!rt_evdecode_sha256(sig, sig_len, a->sha256))
    return rt_err_set(err, RT_E_CRYPTO, "event %" PRIu32 ": SHA-256 failed", ev->index);
  return RT_OK;
}

/* GRUB's kernel command line. One with a NUL inside is not a C string GRUB
 * would have measured: left out rather than shown cut. */
static rt_code cmdline(rt_evstate *st, const rt_eventlog_event *ev, rt_err *err) {
  rt_grub_string g;
  size_t units = 0;
  bool grub = rt_evdecode_grub(ev->data, ev->data_len, &g);
  if (grub && (g.kind != RT_GRUB_KERNEL_CMDLINE || memchr(g.text, 0, g.len) != NULL))
    return RT_OK;
  /* Not GRUB: systemd-boot's options, the only EV_IPL it measures in PCR 8. */
  if (!grub && !sdboot_units(ev->data, ev->data_len, &units))
    return RT_OK;
  rt_evstate_cmdline *arr = grow(st->cmdlines, st->n_cmdlines, sizeof *arr);
  if (arr == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  st->cmdlines = arr;
  rt_evstate_cmdline *c = &arr[st->n_cmdlines++];
  c->event = ev->index;
  c->cmdline = grub ? rt_bytes_to_utf8(g.text, g.len) : rt_utf16_to_utf8(ev->data, units);
  if (c->cmdline == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  return RT_OK;
}

static rt_code boot_app(rt_evstate *st, const rt_eventlog_event *ev, rt_err *err) {
  rt_uefi_image_load im;
  rt_evstate_app *arr = grow(st->boot_apps, st->n_boot_apps, sizeof *arr);
  if (arr == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  st->boot_apps = arr;
  rt_evstate_app *a = &arr[st->n_boot_apps++];
  a->event = ev->index;
  if (rt_uefi_image_load_parse(ev->data, ev->data_len, &im))
    a->path = rt_devpath_text(im.device_path, im.device_path_len);
  return RT_OK;
}

/* What one event adds to the state. */
static rt_code derive_event(rt_evstate *st, sb_track *sb, const rt_eventlog_event *ev,
                            rt_evcheck check, rt_err *err) {
  if (ev->pcr >= 32 || !(STATE_PCRS & UINT32_C(1) << ev->pcr))
    return RT_OK;
  uint32_t bit = UINT32_C(1) << ev->pcr;
  if (ev->type == RT_EV_EFI_BOOT_SERVICES_APPLICATION && ev->pcr == 4)
    return boot_app(st, ev, err); /* the image's hash: unchecked by nature */
  if (check != RT_EVCHECK_OK)
    return RT_OK;
  switch (ev->type) {
  case RT_EV_SEPARATOR:
    st->separators |= bit;
    /* 0x00000000 is the normal separator; Windows ends its own PCRs (12-14)
     * with "WBCL", its log's signature, which is no firmware error. */
    if (!(ev->data_len == 4 && memcmp(ev->data, "\0\0\0\0", 4) == 0) &&
        !(ev->pcr >= 12 && ev->data_len == 4 && memcmp(ev->data, "WBCL", 4) == 0))
      st->separator_error |= bit;
    return RT_OK;
  case RT_EV_EFI_VARIABLE_DRIVER_CONFIG:
    return ev->pcr == 7 ? driver_config(st, sb, ev, err) : RT_OK;
  case RT_EV_EFI_VARIABLE_AUTHORITY:
    return ev->pcr == 7 ? authority(st, ev, err) : RT_OK;
  case RT_EV_IPL:
    return ev->pcr == 8 ? cmdline(st, ev, err) : RT_OK;
  default:
    return RT_OK;
  }
}

rt_code rt_evstate_derive(const rt_eventlog *log, rt_evstate *out, rt_err *err) {
  hasher h;
  sb_track sb = {false, false};
  memset(out, 0, sizeof *out);
  rt_code rc = hasher_init(&h, log, err);
  if (rc != RT_OK)
    return rc;
  out->checks = calloc(log->n_events > 0 ? log->n_events : 1, sizeof *out->checks);
  if (out->checks == NULL) {
    rc = rt_err_set(err, RT_E_NOMEM, "out of memory for %zu event checks", log->n_events);
    goto done;
  }
  out->n_events = log->n_events;
  for (size_t i = 0; i < log->n_events && rc == RT_OK; i++) {
    cand c[2];
    size_t nc = candidates(log, i, c);
    if ((rc = match(&h, &log->events[i], c, nc, &out->checks[i], err)) != RT_OK)
      break;
    if (out->checks[i] == RT_EVCHECK_MISMATCH)
      out->n_mismatches++;
    rc = derive_event(out, &sb, &log->events[i], out->checks[i], err);
  }
done:
  hasher_free(&h);
  if (rc != RT_OK)
    rt_evstate_free(out);
  return rc;
}

void rt_evstate_free(rt_evstate *st) {
  if (st == NULL)
    return;
  free(st->checks);
  free(st->dbx_sha256);
  for (size_t i = 0; i < st->n_authorities; i++) {
    free(st->authorities[i].subject);
    free(st->authorities[i].variable);
  }
  free(st->authorities);
  for (size_t i = 0; i < st->n_boot_apps; i++)
    free(st->boot_apps[i].path);
  free(st->boot_apps);
  for (size_t i = 0; i < st->n_cmdlines; i++)
    free(st->cmdlines[i].cmdline);
  free(st->cmdlines);
  memset(st, 0, sizeof *st);
}
