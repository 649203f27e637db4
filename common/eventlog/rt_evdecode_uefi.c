#include "rt_evdecode_uefi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_devpath.h"
#include "rt_evdata.h"
#include "rt_hex.h"
#include "rt_json.h"
#include "rt_uefi.h"

static bool jset_guid(json_t *obj, const char *key, const uint8_t *g) {
  char buf[37];
  rt_guid_str(g, buf);
  return rt_jset(obj, key, json_string(buf));
}

static bool jset_u64hex(json_t *obj, const char *key, uint64_t v) {
  char buf[19];
  snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)v);
  return rt_jset(obj, key, json_string(buf));
}

/* A device path as text, or nothing when it does not decode. */
static bool jset_devpath(json_t *obj, const char *key, const uint8_t *dp, size_t n) {
  char *text = rt_devpath_text(dp, n);
  return text == NULL || rt_jset_str(obj, key, text);
}

/* {"type": "x509"|"sha256"|GUID, "owner": GUID, ...} for one signature:
 * a certificate's subject and SHA-256, a digest's value. */
static bool sig_fields(json_t *obj, const uint8_t *type, const uint8_t *owner, const uint8_t *d,
                       size_t n) {
  uint8_t sha[32];
  if (owner != NULL && !jset_guid(obj, "owner", owner))
    return false;
  if (type != NULL && memcmp(type, RT_GUID_CERT_SHA256, 16) == 0)
    return rt_jset(obj, "type", json_string("sha256")) && rt_jset_hex(obj, "digest", d, n);
  if (type == NULL || memcmp(type, RT_GUID_CERT_X509, 16) == 0) {
    char *subject = rt_evdata_x509_subject(d, n);
    if (type != NULL && !rt_jset(obj, "type", json_string("x509")))
      return false;
    if (subject != NULL && !rt_jset_str(obj, "subject", subject))
      return false;
  } else if (!jset_guid(obj, "type", type)) {
    return false;
  }
  return rt_evdata_sha256(d, n, sha) ? rt_jset_hex(obj, "sha256", sha, 32) : true;
}

static bool add_sig(const rt_uefi_sig *s, void *ctx) {
  json_t *o = json_object();
  if (o == NULL || json_array_append_new(ctx, o) != 0)
    return false;
  return sig_fields(o, s->type, s->owner, s->data, s->len);
}

/* The variables that hold EFI_SIGNATURE_LISTs. */
static bool holds_siglists(const rt_uefi_var *v) {
  static const char *const global[] = {"PK",         "KEK",       "PKDefault",
                                       "KEKDefault", "dbDefault", "dbxDefault"};
  static const char *const secdb[] = {"db", "dbx", "dbt", "dbr"};
  static const char *const shim[] = {"MokList", "MokListX", "MokListTrusted"};
  for (size_t i = 0; i < sizeof global / sizeof global[0]; i++)
    if (rt_uefi_var_is(v, RT_GUID_EFI_GLOBAL, global[i]))
      return true;
  for (size_t i = 0; i < sizeof secdb / sizeof secdb[0]; i++)
    if (rt_uefi_var_is(v, RT_GUID_IMAGE_SECURITY_DB, secdb[i]))
      return true;
  for (size_t i = 0; i < sizeof shim / sizeof shim[0]; i++)
    if (rt_uefi_var_is(v, RT_GUID_SHIM_LOCK, shim[i]))
      return true;
  return false;
}

/* Boot####: four hex digits after "Boot". */
static bool is_boot_option(const rt_uefi_var *v) {
  static const char hexd[] = "0123456789ABCDEFabcdef";
  if (memcmp(v->guid, RT_GUID_EFI_GLOBAL, 16) != 0 || v->name_len != 8)
    return false;
  for (size_t i = 0; i < 8; i++) {
    uint16_t c = rt_le16(v->name + 2 * i);
    if (i < 4 ? c != (uint8_t) "Boot"[i] : (c == 0 || c > 0x7f || !strchr(hexd, (int)c)))
      return false;
  }
  return true;
}

static bool variable_value(json_t *obj, const rt_uefi_var *v) {
  if (holds_siglists(v)) {
    json_t *arr = json_array();
    if (!rt_jset(obj, "signatures", arr))
      return false;
    if (!rt_uefi_siglists_each(v->data, v->data_len, add_sig, arr)) {
      /* Malformed (or out of memory): no partial list. */
      json_array_clear(arr);
      return rt_jset(obj, "malformed", json_true());
    }
    return true;
  }
  if (memcmp(v->guid, RT_GUID_EFI_GLOBAL, 16) == 0 && v->name_len > 0 && v->data_len == 1)
    return rt_jset(obj, "value", json_integer(v->data[0]));
  if (rt_uefi_var_is(v, RT_GUID_EFI_GLOBAL, "BootOrder")) {
    json_t *arr = json_array();
    if (!rt_jset(obj, "boot_order", arr))
      return false;
    for (size_t i = 0; i + 2 <= v->data_len; i += 2) {
      char num[5];
      snprintf(num, sizeof num, "%04X", (unsigned)rt_le16(v->data + i));
      if (json_array_append_new(arr, json_string(num)) != 0)
        return false;
    }
    return true;
  }
  rt_uefi_load_option lo;
  if (is_boot_option(v) && rt_uefi_load_option_parse(v->data, v->data_len, &lo))
    return rt_jset(obj, "attributes", json_integer(lo.attributes)) &&
           rt_jset_str(obj, "description", rt_utf16_to_utf8(lo.description, lo.description_len)) &&
           jset_devpath(obj, "device_path", lo.device_path, lo.device_path_len);
  return true;
}

bool rt_evdecode_variable(json_t *obj, const uint8_t *d, size_t n, bool authority) {
  rt_uefi_var v;
  uint8_t sha[32];
  if (!rt_uefi_var_parse(d, n, &v))
    return true;
  if (!jset_guid(obj, "guid", v.guid) || !rt_jset_str(obj, "name", rt_uefi_var_name(&v)) ||
      !rt_jset(obj, "data_len", json_integer((json_int_t)v.data_len)) ||
      (rt_evdata_sha256(v.data, v.data_len, sha) && !rt_jset_hex(obj, "data_sha256", sha, 32)))
    return false;
  if (!authority)
    return variable_value(obj, &v);
  const uint8_t *owner, *sig;
  size_t sig_len;
  if (!rt_uefi_authority_sig(v.data, v.data_len, &owner, &sig, &sig_len))
    return true;
  json_t *o = json_object();
  return rt_jset(obj, "signature", o) && sig_fields(o, NULL, owner, sig, sig_len);
}

bool rt_evdecode_image(json_t *obj, const uint8_t *d, size_t n) {
  rt_uefi_image_load im;
  if (!rt_uefi_image_load_parse(d, n, &im))
    return true;
  return jset_u64hex(obj, "image_base", im.location) &&
         jset_u64hex(obj, "image_length", im.length) &&
         jset_u64hex(obj, "link_time_address", im.link_time_address) &&
         jset_devpath(obj, "device_path", im.device_path, im.device_path_len);
}

bool rt_evdecode_gpt(json_t *obj, const uint8_t *d, size_t n) {
  rt_uefi_gpt gpt;
  if (!rt_uefi_gpt_parse(d, n, &gpt))
    return true;
  json_t *parts = json_array();
  if (!jset_guid(obj, "disk_guid", gpt.disk_guid) || !rt_jset(obj, "partitions", parts))
    return false;
  for (uint64_t i = 0; i < gpt.n_partitions; i++) {
    const uint8_t *e = gpt.entries + i * gpt.entry_size;
    json_t *p = json_object();
    if (p == NULL || json_array_append_new(parts, p) != 0 || !jset_guid(p, "type", e) ||
        !jset_guid(p, "guid", e + 16) || !jset_u64hex(p, "first_lba", rt_le64(e + 32)) ||
        !jset_u64hex(p, "last_lba", rt_le64(e + 40)) ||
        !jset_u64hex(p, "attributes", rt_le64(e + 48)) ||
        !rt_jset_str(p, "name", rt_utf16_to_utf8(e + 56, 36)))
      return false;
  }
  return true;
}
