#include "rt_evclass.h"

#include <stdio.h>
#include <string.h>

#include "rt_evdata.h"
#include "rt_uefi.h"

#define PCR_SECURE_BOOT 7
#define PCR_BOOT_LOADER 8

/* In PCR 7 the verifier reads Secure Boot variables, authorities and the
 * separator; actions are ASCII text. Any other type there could carry one
 * of those under a label no rule looks at. */
static bool judged_in_pcr7(uint32_t type) {
  return type == RT_EV_EFI_VARIABLE_DRIVER_CONFIG || type == RT_EV_EFI_VARIABLE_AUTHORITY ||
         type == RT_EV_SEPARATOR || type == RT_EV_EFI_ACTION;
}

static rt_evflaw type_flaw(const rt_eventlog_event *ev) {
  if (rt_eventlog_type_name(ev->type) == NULL)
    return RT_EVFLAW_UNKNOWN_TYPE;
  if (ev->pcr <= RT_EVENTLOG_PLACED_PCRS && !rt_eventlog_type_in_pcr(ev->type, ev->pcr))
    return RT_EVFLAW_WRONG_PCR;
  if (ev->pcr == PCR_SECURE_BOOT && !judged_in_pcr7(ev->type))
    return RT_EVFLAW_NOT_JUDGED;
  return RT_EVFLAW_NONE;
}

/* Printable ASCII, optionally ended by one NUL, not empty. */
static bool ascii(const uint8_t *d, size_t n) {
  if (n > 0 && d[n - 1] == 0)
    n--;
  if (n == 0)
    return false;
  for (size_t i = 0; i < n; i++)
    if (d[i] < 0x20 || d[i] > 0x7e)
      return false;
  return true;
}

static bool separator_value(const rt_eventlog_event *ev) {
  static const uint8_t values[][4] = {
      {0, 0, 0, 0}, {1, 0, 0, 0}, {0, 0, 0, 1}, {0xff, 0xff, 0xff, 0xff}};
  for (size_t v = 0; v < sizeof values / sizeof values[0]; v++)
    if (ev->data_len == 4 && memcmp(ev->data, values[v], 4) == 0)
      return true;
  /* Windows ends its own PCRs 12-14 with "WBCL", its log's signature. */
  return ev->pcr >= 12 && ev->data_len == 4 && memcmp(ev->data, "WBCL", 4) == 0;
}

/* A boot loader's string in PCR 8: GRUB's (a C string after a known prefix)
 * or systemd-boot's UTF-16 load options. */
static bool loader_string(const rt_eventlog_event *ev) {
  rt_grub_string g;
  size_t units;
  if (rt_evdata_grub(ev->data, ev->data_len, &g))
    return memchr(g.text, 0, g.len) == NULL;
  return rt_evdata_sdboot_units(ev->data, ev->data_len, &units);
}

/* Whether data whose digest checked is what the type holds. */
static bool shape_ok(const rt_eventlog_event *ev) {
  rt_uefi_var v;
  switch (ev->type) {
  case RT_EV_EFI_VARIABLE_DRIVER_CONFIG:
  case RT_EV_EFI_VARIABLE_BOOT:
  case RT_EV_EFI_VARIABLE_BOOT2:
  case RT_EV_EFI_VARIABLE_AUTHORITY:
    return rt_uefi_var_parse(ev->data, ev->data_len, &v);
  case RT_EV_EFI_ACTION:
  case RT_EV_ACTION:
    return ascii(ev->data, ev->data_len);
  case RT_EV_SEPARATOR:
    return separator_value(ev);
  default:
    return true;
  }
}

static rt_evflaw data_flaw(const rt_eventlog_event *ev, rt_evcheck check, bool sep_digest) {
  if (sep_digest)
    return RT_EVFLAW_DISGUISED_SEPARATOR;
  if (check == RT_EVCHECK_MISMATCH)
    return RT_EVFLAW_MISMATCH;
  /* EV_IPL in PCR 8 has no checkable form unless it is a loader string. */
  if (ev->type == RT_EV_IPL && ev->pcr == PCR_BOOT_LOADER)
    return check == RT_EVCHECK_OK && loader_string(ev) ? RT_EVFLAW_NONE : RT_EVFLAW_MALFORMED;
  if (check == RT_EVCHECK_OK && !shape_ok(ev))
    return RT_EVFLAW_MALFORMED;
  return RT_EVFLAW_NONE;
}

/* Whether PCR 7's driver-config event i measures a variable an earlier one
 * (in first[0..n)) measured. */
static bool repeated_var(const rt_eventlog *log, const size_t *first, size_t n, size_t i) {
  rt_uefi_var a, b;
  if (!rt_uefi_var_parse(log->events[i].data, log->events[i].data_len, &a))
    return false;
  for (size_t k = 0; k < n; k++) {
    const rt_eventlog_event *e = &log->events[first[k]];
    if (rt_uefi_var_parse(e->data, e->data_len, &b) && memcmp(a.guid, b.guid, 16) == 0 &&
        a.name_len == b.name_len && memcmp(a.name, b.name, 2 * a.name_len) == 0)
      return true;
  }
  return false;
}

/* The order within each PCR, which replay proves (the order between PCRs it
 * does not): separators, what comes after them, repeated variables. Only
 * events without an earlier flaw get one here. */
static void order_flaws(const rt_eventlog *log, const bool *sep_digest, rt_evflaw *flaws) {
  uint32_t sep_seen = 0;
  size_t vars[64], n_vars = 0;
  for (size_t i = 0; i < log->n_events; i++) {
    const rt_eventlog_event *ev = &log->events[i];
    if (!rt_evcheck_extended(log, i))
      continue;
    uint32_t bit = UINT32_C(1) << ev->pcr;
    rt_evflaw f = RT_EVFLAW_NONE;
    if (ev->type == RT_EV_SEPARATOR || sep_digest[i]) {
      if (sep_seen & bit)
        f = RT_EVFLAW_SECOND_SEPARATOR;
      sep_seen |= bit;
    } else if ((sep_seen & bit) && rt_eventlog_type_before_separator(ev->type, ev->pcr)) {
      f = RT_EVFLAW_AFTER_SEPARATOR;
    } else if (ev->pcr == PCR_SECURE_BOOT && ev->type == RT_EV_EFI_VARIABLE_DRIVER_CONFIG) {
      /* More Secure Boot variables than a firmware measures: refuse, rather
       * than keep a list the log could make as long as it likes. */
      if (n_vars == sizeof vars / sizeof vars[0] || repeated_var(log, vars, n_vars, i))
        f = RT_EVFLAW_REPEATED;
      else
        vars[n_vars++] = i;
    }
    if (flaws[i] == RT_EVFLAW_NONE)
      flaws[i] = f;
  }
}

void rt_evclass_all(const rt_eventlog *log, const rt_evproof *proof, const rt_evcheck *checks,
                    const bool *sep_digest, rt_evflaw *flaws) {
  uint32_t proven = rt_evproof_any(proof);
  for (size_t i = 0; i < log->n_events; i++) {
    const rt_eventlog_event *ev = &log->events[i];
    flaws[i] = RT_EVFLAW_NONE;
    if (!rt_evcheck_extended(log, i))
      continue;
    flaws[i] = type_flaw(ev);
    if (flaws[i] == RT_EVFLAW_NONE)
      flaws[i] = data_flaw(ev, checks[i], sep_digest[i]);
  }
  order_flaws(log, sep_digest, flaws);
  for (size_t i = 0; i < log->n_events; i++)
    if (rt_evcheck_extended(log, i) && !(proven & UINT32_C(1) << log->events[i].pcr))
      flaws[i] = RT_EVFLAW_NONE;
}

const char *rt_evflaw_name(rt_evflaw f) {
  static const char *const names[] = {
      "",         "unknown_type", "wrong_pcr",        "not_judged",      "disguised_separator",
      "mismatch", "malformed",    "second_separator", "after_separator", "repeated",
  };
  return (size_t)f < sizeof names / sizeof names[0] ? names[f] : "";
}

const char *rt_evflaw_text(rt_evflaw f, const rt_eventlog_event *ev, char *buf, size_t size) {
  const char *t = rt_eventlog_type_name(ev->type);
  unsigned pcr = (unsigned)ev->pcr;
  switch (f) {
  case RT_EVFLAW_UNKNOWN_TYPE:
    snprintf(buf, size, "type 0x%08x is not a TCG PC Client event type", (unsigned)ev->type);
    break;
  case RT_EVFLAW_WRONG_PCR:
    snprintf(buf, size, "the TCG PC Client profile does not measure %s into PCR %u", t, pcr);
    break;
  case RT_EVFLAW_NOT_JUDGED:
    snprintf(buf, size, "the verifier cannot tell what %s in PCR %u proves", t, pcr);
    break;
  case RT_EVFLAW_DISGUISED_SEPARATOR:
    snprintf(buf, size, "its digest is an error separator's, under another label");
    break;
  case RT_EVFLAW_MISMATCH:
    snprintf(buf, size, "its data does not hash to its digest");
    break;
  case RT_EVFLAW_MALFORMED:
    snprintf(buf, size, "its data is not what %s holds", t);
    break;
  case RT_EVFLAW_SECOND_SEPARATOR:
    snprintf(buf, size, "a second separator in PCR %u", pcr);
    break;
  case RT_EVFLAW_AFTER_SEPARATOR:
    snprintf(buf, size, "after PCR %u's separator, where the profile measures %s before it", pcr,
             t);
    break;
  case RT_EVFLAW_REPEATED:
    snprintf(buf, size, "a Secure Boot variable measured again");
    break;
  default:
    snprintf(buf, size, "no flaw");
    break;
  }
  return buf;
}
