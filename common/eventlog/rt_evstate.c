#include "rt_evstate.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "rt_devpath.h"
#include "rt_evdata.h"
#include "rt_uefi.h"

/* The PCRs the derived state reads: firmware and boot loader (0-9), shim's
 * MOK state (14). */
#define STATE_PCRS (UINT32_C(0x3ff) | UINT32_C(1) << 14)
#define PCR_BOOT_APPS 4
#define PCR_SECURE_BOOT 7
#define PCR_BOOT_LOADER 8

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

/* arr (n elements of sz bytes) with room for one more, zeroed; NULL when out
 * of memory (arr is then unchanged). */
static void *grow(void *arr, size_t n, size_t sz) {
  char *p = realloc(arr, (n + 1) * sz);
  if (p != NULL)
    memset(p + n * sz, 0, sz);
  return p;
}

static rt_code nomem(rt_err *err) {
  return rt_err_set(err, RT_E_NOMEM, "deriving the event log state: out of memory");
}

/* ---- PCR 7: Secure Boot configuration and authorities -------------------- */

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

static void secure_boot(rt_evstate *st, const rt_uefi_var *v, uint32_t index) {
  st->secure_boot = RT_SECURE_BOOT_UNKNOWN;
  if (v->data_len == 0 || (v->data_len == 1 && v->data[0] == 0))
    st->secure_boot = RT_SECURE_BOOT_OFF;
  else if (v->data_len == 1 && v->data[0] == 1)
    st->secure_boot = RT_SECURE_BOOT_ON;
  st->secure_boot_event = index;
}

/* An unflawed EV_EFI_VARIABLE_DRIVER_CONFIG in PCR 7: before the separator
 * and the only measurement of its variable (rt_evclass.h). */
static rt_code driver_config(rt_evstate *st, const rt_eventlog_event *ev, rt_err *err) {
  rt_uefi_var v;
  rt_evstate_var *slot = NULL;
  if (!rt_uefi_var_parse(ev->data, ev->data_len, &v))
    return RT_OK;
  if (rt_uefi_var_is(&v, RT_GUID_EFI_GLOBAL, "SecureBoot"))
    secure_boot(st, &v, ev->index);
  else if (rt_uefi_var_is(&v, RT_GUID_EFI_GLOBAL, "PK"))
    slot = &st->pk;
  else if (rt_uefi_var_is(&v, RT_GUID_EFI_GLOBAL, "KEK"))
    slot = &st->kek;
  else if (rt_uefi_var_is(&v, RT_GUID_IMAGE_SECURITY_DB, "db"))
    slot = &st->db;
  else if (rt_uefi_var_is(&v, RT_GUID_IMAGE_SECURITY_DB, "dbx"))
    slot = &st->dbx;
  if (slot == NULL)
    return RT_OK;
  if (!rt_evdata_sha256(v.data, v.data_len, slot->sha256))
    return rt_err_set(err, RT_E_CRYPTO, "event %" PRIu32 ": SHA-256 failed", ev->index);
  slot->present = true;
  slot->event = ev->index;
  slot->data_len = v.data_len;
  /* The dbx digests count only if the whole list is well formed. */
  dbx_ctx ctx = {st, false};
  if (slot == &st->dbx && !rt_uefi_siglists_each(v.data, v.data_len, add_dbx_sha256, &ctx) &&
      ctx.oom)
    return nomem(err);
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
    return nomem(err);
  st->authorities = arr;
  rt_evstate_authority *a = &arr[st->n_authorities++];
  if ((a->variable = rt_uefi_var_name(&v)) == NULL)
    return nomem(err);
  a->event = ev->index;
  a->subject = rt_evdata_x509_subject(sig, sig_len);
  if (!rt_evdata_sha256(sig, sig_len, a->sha256))
    return rt_err_set(err, RT_E_CRYPTO, "event %" PRIu32 ": SHA-256 failed", ev->index);
  return RT_OK;
}

/* ---- PCR 8: kernel command lines ----------------------------------------- */

/* GRUB's arguments of `linux PATH ARGS...` ("linux", "linux16", "linuxefi"),
 * or NULL when the string is no such command. */
static const uint8_t *linux_args(const rt_grub_string *g, size_t *len) {
  static const char *const cmds[] = {"linux ", "linux16 ", "linuxefi "};
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    size_t n = strlen(cmds[i]);
    if (g->len >= n && memcmp(g->text, cmds[i], n) == 0) {
      *len = g->len - n;
      return g->text + n;
    }
  }
  return NULL;
}

/* Whether text is GRUB's command line for arguments args: GRUB joins the
 * arguments with spaces, quoting those with a space in "..." and escaping
 * \, ' and " with a backslash; undone, the text is the arguments as the
 * `linux` command string shows them. */
static bool grub_cmdline_of(const uint8_t *text, size_t n, const uint8_t *args, size_t n_args) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = text[i];
    if (c == '"')
      continue;
    if (c == '\\' && i + 1 < n)
      c = text[++i];
    if (k == n_args || args[k++] != c)
      return false;
  }
  return k == n_args;
}

static rt_code add_cmdline(rt_evstate *st, const rt_eventlog_event *ev, char *text, rt_err *err) {
  if (text == NULL)
    return nomem(err);
  rt_evstate_cmdline *arr = grow(st->cmdlines, st->n_cmdlines, sizeof *arr);
  if (arr == NULL) {
    free(text);
    return nomem(err);
  }
  st->cmdlines = arr;
  arr[st->n_cmdlines].event = ev->index;
  arr[st->n_cmdlines++].cmdline = text;
  return RT_OK;
}

/* One unflawed EV_IPL in PCR 8 (a loader string, rt_evclass.h); *prev is
 * the previous one's GRUB string, if any, for the `linux` pairing. */
static rt_code cmdline(rt_evstate *st, const rt_eventlog_event *ev, rt_grub_string *prev,
                       bool *has_prev, rt_err *err) {
  rt_grub_string g;
  size_t units = 0, n_args = 0;
  bool grub = rt_evdata_grub(ev->data, ev->data_len, &g);
  const uint8_t *args = *has_prev ? linux_args(prev, &n_args) : NULL;
  *has_prev = grub;
  if (grub)
    *prev = g;
  if (!grub && rt_evdata_sdboot_units(ev->data, ev->data_len, &units))
    return add_cmdline(st, ev, rt_utf16_to_utf8(ev->data, units), err);
  if (!grub)
    return RT_OK;
  /* The label says so, or the content does: the text completes the `linux`
   * command before it. */
  if (g.kind == RT_GRUB_KERNEL_CMDLINE ||
      (args != NULL && grub_cmdline_of(g.text, g.len, args, n_args)))
    return add_cmdline(st, ev, rt_bytes_to_utf8(g.text, g.len), err);
  return RT_OK;
}

/* ---- the rest ------------------------------------------------------------ */

static rt_code boot_app(rt_evstate *st, const rt_eventlog_event *ev, rt_err *err) {
  rt_uefi_image_load im;
  rt_evstate_app *arr = grow(st->boot_apps, st->n_boot_apps, sizeof *arr);
  if (arr == NULL)
    return nomem(err);
  st->boot_apps = arr;
  rt_evstate_app *a = &arr[st->n_boot_apps++];
  a->event = ev->index;
  if (ev->type == RT_EV_EFI_BOOT_SERVICES_APPLICATION &&
      rt_uefi_image_load_parse(ev->data, ev->data_len, &im))
    a->path = rt_devpath_text(im.device_path, im.device_path_len);
  return RT_OK;
}

static void separator(rt_evstate *st, const rt_eventlog_event *ev) {
  uint32_t bit = UINT32_C(1) << ev->pcr;
  st->separators |= bit;
  /* 0x00000000 is the normal separator; Windows ends its own PCRs (12-14)
   * with "WBCL", its log's signature, which is no firmware error. */
  if (!(ev->data_len == 4 && memcmp(ev->data, "\0\0\0\0", 4) == 0) &&
      !(ev->pcr >= 12 && ev->data_len == 4 && memcmp(ev->data, "WBCL", 4) == 0))
    st->separator_error |= bit;
}

typedef struct {
  rt_grub_string prev; /* the last GRUB string in PCR 8 */
  bool has_prev;
} derive_ctx;

/* What one unflawed, extended event adds to the state. */
static rt_code derive_event(rt_evstate *st, derive_ctx *c, const rt_eventlog *log, size_t i,
                            rt_err *err) {
  const rt_eventlog_event *ev = &log->events[i];
  if (!(STATE_PCRS & UINT32_C(1) << ev->pcr))
    return RT_OK;
  /* Any measurement of something outside the log, whatever its label. */
  if (ev->pcr == PCR_BOOT_APPS && !rt_evcheck_hashes_data(log, i))
    return boot_app(st, ev, err);
  if (st->checks[i] != RT_EVCHECK_OK)
    return RT_OK;
  if (ev->type == RT_EV_SEPARATOR)
    separator(st, ev);
  else if (ev->pcr == PCR_SECURE_BOOT && ev->type == RT_EV_EFI_VARIABLE_DRIVER_CONFIG)
    return driver_config(st, ev, err);
  else if (ev->pcr == PCR_SECURE_BOOT && ev->type == RT_EV_EFI_VARIABLE_AUTHORITY)
    return authority(st, ev, err);
  else if (ev->pcr == PCR_BOOT_LOADER && ev->type == RT_EV_IPL)
    return cmdline(st, ev, &c->prev, &c->has_prev, err);
  return RT_OK;
}

static rt_code derive_all(const rt_eventlog *log, const rt_evproof *proof, rt_evstate *out,
                          bool *sep_digest, rt_err *err) {
  rt_code rc = rt_evcheck_all(log, proof, out->checks, sep_digest, err);
  if (rc != RT_OK)
    return rc;
  rt_evclass_all(log, proof, out->checks, sep_digest, out->flaws);
  derive_ctx c = {.has_prev = false};
  for (size_t i = 0; i < log->n_events && rc == RT_OK; i++) {
    out->n_mismatches += out->checks[i] == RT_EVCHECK_MISMATCH;
    out->n_flawed += out->flaws[i] != RT_EVFLAW_NONE;
    if (out->flaws[i] == RT_EVFLAW_NONE && rt_evcheck_extended(log, i))
      rc = derive_event(out, &c, log, i, err);
  }
  return rc;
}

rt_code rt_evstate_derive(const rt_eventlog *log, const rt_evproof *proof, rt_evstate *out,
                          rt_err *err) {
  memset(out, 0, sizeof *out);
  size_t n = log->n_events > 0 ? log->n_events : 1;
  bool *sep_digest = calloc(n, sizeof *sep_digest);
  out->checks = calloc(n, sizeof *out->checks);
  out->flaws = calloc(n, sizeof *out->flaws);
  out->n_events = log->n_events;
  rt_code rc = sep_digest == NULL || out->checks == NULL || out->flaws == NULL
                   ? nomem(err)
                   : derive_all(log, proof, out, sep_digest, err);
  free(sep_digest);
  if (rc != RT_OK)
    rt_evstate_free(out);
  return rc;
}

long rt_evstate_first_flaw(const rt_eventlog *log, const rt_evstate *st, uint32_t pcr) {
  for (size_t i = 0; i < log->n_events && i < st->n_events; i++)
    if (log->events[i].pcr == pcr && st->flaws[i] != RT_EVFLAW_NONE)
      return (long)i;
  return -1;
}

void rt_evstate_free(rt_evstate *st) {
  if (st == NULL)
    return;
  free(st->checks);
  free(st->flaws);
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
