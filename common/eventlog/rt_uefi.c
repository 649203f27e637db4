#include "rt_uefi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const uint8_t RT_GUID_EFI_GLOBAL[16] = {0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
                                        0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c};
const uint8_t RT_GUID_IMAGE_SECURITY_DB[16] = {0xcb, 0xb2, 0x19, 0xd7, 0x3a, 0x3d, 0x96, 0x45,
                                               0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f};
const uint8_t RT_GUID_SHIM_LOCK[16] = {0x50, 0xab, 0x5d, 0x60, 0x46, 0xe0, 0x00, 0x43,
                                       0xab, 0xb6, 0x3d, 0xd8, 0x10, 0xdd, 0x8b, 0x23};
const uint8_t RT_GUID_CERT_SHA256[16] = {0x26, 0x16, 0xc4, 0xc1, 0x4c, 0x50, 0x92, 0x40,
                                         0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28};
const uint8_t RT_GUID_CERT_X509[16] = {0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a,
                                       0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72};

void rt_guid_str(const uint8_t g[16], char out[37]) {
  snprintf(out, 37, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", (unsigned)rt_le32(g),
           (unsigned)rt_le16(g + 4), (unsigned)rt_le16(g + 6), g[8], g[9], g[10], g[11], g[12],
           g[13], g[14], g[15]);
}

/* ---- text ---------------------------------------------------------------- */

static size_t put_utf8(char *o, uint32_t cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | cp >> 6);
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | cp >> 12);
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | cp >> 18);
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

char *rt_utf16_to_utf8(const uint8_t *p, size_t n_units) {
  /* A unit gives at most 3 bytes; a surrogate pair (2 units) gives 4. */
  if (n_units > (SIZE_MAX - 1) / 3)
    return NULL;
  char *out = malloc(3 * n_units + 1), *o = out;
  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < n_units; i++) {
    uint32_t u = rt_le16(p + 2 * i);
    if (u == 0)
      break;
    if (u >= 0xd800 && u < 0xdc00 && i + 1 < n_units) {
      uint32_t lo = rt_le16(p + 2 * (i + 1));
      if (lo >= 0xdc00 && lo < 0xe000) {
        o += put_utf8(o, 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00));
        i++;
        continue;
      }
    }
    if (u >= 0xd800 && u < 0xe000)
      u = 0xfffd;
    o += put_utf8(o, u);
  }
  *o = '\0';
  return out;
}

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t utf8_seq(const uint8_t *p, size_t n) {
  uint8_t c = p[0];
  size_t len;
  uint32_t cp, min;
  if (c < 0x80)
    return 1;
  if ((c & 0xe0) == 0xc0)
    len = 2, cp = c & 0x1f, min = 0x80;
  else if ((c & 0xf0) == 0xe0)
    len = 3, cp = c & 0x0f, min = 0x800;
  else if ((c & 0xf8) == 0xf0)
    len = 4, cp = c & 0x07, min = 0x10000;
  else
    return 0;
  if (len > n)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    cp = cp << 6 | (p[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
    return 0;
  return len;
}

char *rt_bytes_to_utf8(const uint8_t *p, size_t n) {
  /* An invalid byte becomes the 3-byte U+FFFD. */
  if (n > (SIZE_MAX - 1) / 3)
    return NULL;
  char *out = malloc(3 * n + 1), *o = out;
  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < n && p[i] != 0;) {
    size_t len = utf8_seq(p + i, n - i);
    if (len == 0) {
      o += put_utf8(o, 0xfffd);
      i++;
    } else {
      memcpy(o, p + i, len);
      o += len;
      i += len;
    }
  }
  *o = '\0';
  return out;
}

/* ---- UEFI_VARIABLE_DATA -------------------------------------------------- */

bool rt_uefi_var_parse(const uint8_t *d, size_t n, rt_uefi_var *v) {
  if (d == NULL || n < 32)
    return false;
  uint64_t name_len = rt_le64(d + 16), data_len = rt_le64(d + 24);
  size_t left = n - 32;
  if (name_len > left / 2 || data_len > left - 2 * name_len)
    return false;
  v->guid = d;
  v->name = d + 32;
  v->name_len = (size_t)name_len;
  v->data = d + 32 + 2 * name_len;
  v->data_len = (size_t)data_len;
  v->struct_len = 32 + 2 * (size_t)name_len + (size_t)data_len;
  return true;
}

bool rt_uefi_var_is(const rt_uefi_var *v, const uint8_t guid[16], const char *name) {
  size_t len = strlen(name);
  if (memcmp(v->guid, guid, 16) != 0 || v->name_len != len)
    return false;
  for (size_t i = 0; i < len; i++)
    if (rt_le16(v->name + 2 * i) != (uint8_t)name[i])
      return false;
  return true;
}

char *rt_uefi_var_name(const rt_uefi_var *v) {
  return rt_utf16_to_utf8(v->name, v->name_len);
}

/* ---- signature lists ----------------------------------------------------- */

/* One pass over the lists; with cb NULL it only validates. */
static bool siglists_walk(const uint8_t *d, size_t n, bool (*cb)(const rt_uefi_sig *, void *),
                          void *ctx) {
  size_t pos = 0;
  while (pos < n) {
    size_t left = n - pos;
    if (left < 28)
      return false;
    const uint8_t *l = d + pos;
    uint32_t list_size = rt_le32(l + 16), hdr_size = rt_le32(l + 20), sig_size = rt_le32(l + 24);
    if (list_size < 28 || list_size > left || hdr_size > list_size - 28 || sig_size < 16 ||
        (list_size - 28 - hdr_size) % sig_size != 0)
      return false;
    for (size_t off = 28 + (size_t)hdr_size; off < list_size; off += sig_size) {
      rt_uefi_sig s = {l, l + off, l + off + 16, sig_size - 16};
      if (cb != NULL && !cb(&s, ctx))
        return false;
    }
    pos += list_size;
  }
  return true;
}

bool rt_uefi_siglists_each(const uint8_t *d, size_t n, bool (*cb)(const rt_uefi_sig *, void *),
                           void *ctx) {
  if (d == NULL && n > 0)
    return false;
  return siglists_walk(d, n, NULL, NULL) && siglists_walk(d, n, cb, ctx);
}

/* A DER SEQUENCE whose encoded length is exactly n. */
static bool der_sequence_spans(const uint8_t *d, size_t n) {
  if (n < 2 || d[0] != 0x30)
    return false;
  if (d[1] < 0x80)
    return (size_t)2 + d[1] == n;
  size_t k = d[1] & 0x7f, len = 0;
  if (k == 0 || k > 4 || n < 2 + k)
    return false;
  for (size_t i = 0; i < k; i++)
    len = len << 8 | d[2 + i];
  return len == n - 2 - k;
}

bool rt_uefi_authority_sig(const uint8_t *d, size_t n, const uint8_t **owner, const uint8_t **sig,
                           size_t *sig_len) {
  if (d == NULL || n == 0)
    return false;
  if (der_sequence_spans(d, n)) {
    *owner = NULL;
    *sig = d;
    *sig_len = n;
    return true;
  }
  if (n < 16)
    return false;
  *owner = d;
  *sig = d + 16;
  *sig_len = n - 16;
  return true;
}

/* ---- images, load options, GPT ------------------------------------------- */

bool rt_uefi_image_load_parse(const uint8_t *d, size_t n, rt_uefi_image_load *out) {
  if (d == NULL || n < 32)
    return false;
  uint64_t dp_len = rt_le64(d + 24);
  if (dp_len > n - 32)
    return false;
  out->location = rt_le64(d);
  out->length = rt_le64(d + 8);
  out->link_time_address = rt_le64(d + 16);
  out->device_path = d + 32;
  out->device_path_len = (size_t)dp_len;
  return true;
}

bool rt_uefi_load_option_parse(const uint8_t *d, size_t n, rt_uefi_load_option *out) {
  if (d == NULL || n < 6)
    return false;
  out->attributes = rt_le32(d);
  size_t dp_len = rt_le16(d + 4), pos = 6;
  out->description = d + pos;
  for (;;) {
    if (n - pos < 2)
      return false; /* no NUL before the end */
    if (rt_le16(d + pos) == 0)
      break;
    pos += 2;
  }
  out->description_len = (pos - 6) / 2;
  pos += 2;
  if (dp_len > n - pos)
    return false;
  out->device_path = d + pos;
  out->device_path_len = dp_len;
  out->optional_len = n - pos - dp_len;
  return true;
}

bool rt_uefi_gpt_parse(const uint8_t *d, size_t n, rt_uefi_gpt *out) {
  if (d == NULL || n < 100 || memcmp(d, "EFI PART", 8) != 0)
    return false;
  uint32_t entry_size = rt_le32(d + 84);
  uint64_t count = rt_le64(d + 92);
  if (entry_size < 128 || count > (n - 100) / entry_size)
    return false;
  out->disk_guid = d + 56;
  out->n_partitions = count;
  out->entry_size = entry_size;
  out->entries = d + 100;
  return true;
}
