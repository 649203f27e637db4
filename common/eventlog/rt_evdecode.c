#include "rt_evdecode.h"

#include <limits.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_evdata.h"
#include "rt_evdecode_uefi.h"
#include "rt_hex.h"
#include "rt_json.h"
#include "rt_sipa.h"
#include "rt_uefi.h"

/* ---- JSON ------------------------------------------------------------- */

/* Printable ASCII, optionally NUL-terminated (and nothing after the NUL). */
static bool ascii_text(const uint8_t *d, size_t n) {
  if (n > 0 && d[n - 1] == 0)
    n--;
  if (n == 0)
    return false;
  for (size_t i = 0; i < n; i++)
    if (d[i] < 0x20 || d[i] > 0x7e)
      return false;
  return true;
}

/* UTF-16LE printable text, perhaps ending with a NUL unit (EV_S_CRTM_VERSION
 * on GCE), or with a lone zero byte after the text (systemd-boot's load
 * options in the arch log: 365 bytes). */
static bool utf16_text(const uint8_t *d, size_t n, size_t *units) {
  if (n % 2 != 0 && d[n - 1] == 0)
    n--;
  if (n >= 2 && rt_le16(d + n - 2) == 0)
    n -= 2;
  if (n < 2 || n % 2 != 0)
    return false;
  for (size_t i = 0; i < n; i += 2) {
    uint16_t u = rt_le16(d + i);
    if (u < 0x20 || u == 0x7f || (u >= 0xd800 && u < 0xe000))
      return false;
  }
  *units = n / 2;
  return true;
}

/* {"string": ...} for text in either encoding. */
static bool text_member(json_t *obj, const uint8_t *d, size_t n) {
  if (ascii_text(d, n))
    return rt_jset_str(obj, "string", rt_bytes_to_utf8(d, n));
  size_t units;
  if (utf16_text(d, n, &units))
    return rt_jset_str(obj, "string", rt_utf16_to_utf8(d, units));
  return true;
}

static bool ipl(json_t *obj, const uint8_t *d, size_t n) {
  rt_grub_string g;
  if (!rt_evdata_grub(d, n, &g))
    return text_member(obj, d, n);
  static const char *const kinds[] = {"", "grub_cmd", "kernel_cmdline", "module_cmdline"};
  return rt_jset(obj, "grub", json_string(kinds[g.kind])) &&
         rt_jset_str(obj, "string", rt_bytes_to_utf8(g.text, g.len));
}

static bool no_action(json_t *obj, const rt_eventlog *log, size_t i) {
  const rt_eventlog_event *ev = &log->events[i];
  if (i == 0 && !log->legacy) {
    char buf[8];
    json_t *algs = json_array();
    if (!rt_jset(obj, "spec_id_algorithms", algs))
      return false;
    for (size_t a = 0; a < log->n_algs; a++) {
      json_t *o = json_object();
      if (o == NULL || json_array_append_new(algs, o) != 0 ||
          !rt_jset(o, "alg", json_string(rt_eventlog_alg_label(log->algs[a].alg, buf))) ||
          !rt_jset(o, "digest_size", json_integer(log->algs[a].digest_size)))
        return false;
    }
    return true;
  }
  if (ev->pcr == 0 && ev->data_len == 17 && memcmp(ev->data, "StartupLocality", 16) == 0)
    return rt_jset(obj, "startup_locality", json_integer(ev->data[16]));
  /* Windows appends EV_NO_ACTION events at PCR index 0xFFFFFFFF holding SIPA
   * events (trust points, counters). */
  if (ev->pcr == 0xffffffffu)
    return rt_jset(obj, "tagged_events", rt_sipa_json(ev->data, ev->data_len));
  if (ev->data_len >= 16 && ascii_text(ev->data, 16))
    return rt_jset_str(obj, "signature", rt_bytes_to_utf8(ev->data, 16));
  return true;
}

/* EV_POST_CODE / EV_EFI_PLATFORM_FIRMWARE_BLOB: UEFI_PLATFORM_FIRMWARE_BLOB
 * (base, length), or a text label (EV_POST_CODE "ACPI DATA" and the like). */
static bool blob(json_t *obj, const uint8_t *d, size_t n) {
  char buf[19];
  if (n != 16)
    return text_member(obj, d, n);
  snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)rt_le64(d));
  if (!rt_jset(obj, "blob_base", json_string(buf)))
    return false;
  snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)rt_le64(d + 8));
  return rt_jset(obj, "blob_length", json_string(buf));
}

/* UEFI_PLATFORM_FIRMWARE_BLOB2: description size, description, base, length. */
static bool blob2(json_t *obj, const uint8_t *d, size_t n) {
  if (n < 1 || n - 1 < (size_t)d[0] + 16)
    return true;
  return rt_jset_str(obj, "description", rt_bytes_to_utf8(d + 1, d[0])) &&
         blob(obj, d + 1 + d[0], 16);
}

static bool decode(json_t *obj, const rt_eventlog *log, size_t i) {
  const rt_eventlog_event *ev = &log->events[i];
  const uint8_t *d = ev->data;
  size_t n = ev->data_len;
  switch (ev->type) {
  case RT_EV_NO_ACTION:
    return no_action(obj, log, i);
  case RT_EV_SEPARATOR:
    return rt_jset_hex(obj, "value", d, n) && (!ascii_text(d, n) || text_member(obj, d, n));
  case RT_EV_EFI_ACTION:
  case RT_EV_ACTION:
  case RT_EV_NONHOST_INFO:
  case RT_EV_EFI_HCRTM_EVENT:
  case RT_EV_S_CRTM_CONTENTS:
    return text_member(obj, d, n);
  case RT_EV_S_CRTM_VERSION:
    /* NUL-terminated UTF-16 on GCE, a GUID on the arch workstation. */
    if (n == 16 && rt_le16(d + 14) != 0 && !ascii_text(d, n)) {
      char g[37];
      rt_guid_str(d, g);
      return rt_jset(obj, "guid", json_string(g));
    }
    return text_member(obj, d, n);
  case RT_EV_POST_CODE:
  case RT_EV_EFI_PLATFORM_FIRMWARE_BLOB:
    return blob(obj, d, n);
  case RT_EV_EFI_PLATFORM_FIRMWARE_BLOB2:
    return blob2(obj, d, n);
  case RT_EV_IPL:
    return ipl(obj, d, n);
  case RT_EV_EVENT_TAG:
    return rt_jset(obj, "tagged_events", rt_sipa_json(d, n));
  case RT_EV_COMPACT_HASH:
    return rt_jset_hex(obj, "value", d, n);
  case RT_EV_EFI_VARIABLE_DRIVER_CONFIG:
  case RT_EV_EFI_VARIABLE_BOOT:
  case RT_EV_EFI_VARIABLE_BOOT2:
    return rt_evdecode_variable(obj, d, n, false);
  case RT_EV_EFI_VARIABLE_AUTHORITY:
    return rt_evdecode_variable(obj, d, n, true);
  case RT_EV_EFI_BOOT_SERVICES_APPLICATION:
  case RT_EV_EFI_BOOT_SERVICES_DRIVER:
  case RT_EV_EFI_RUNTIME_SERVICES_DRIVER:
    return rt_evdecode_image(obj, d, n);
  case RT_EV_EFI_GPT_EVENT:
  case RT_EV_EFI_GPT_EVENT2:
    return rt_evdecode_gpt(obj, d, n);
  default:
    return true;
  }
}

json_t *rt_evdecode_json(const rt_eventlog *log, size_t i) {
  json_t *obj = json_object();
  if (obj != NULL && !decode(obj, log, i)) {
    json_decref(obj);
    return NULL;
  }
  return obj;
}
