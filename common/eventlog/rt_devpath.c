#include "rt_devpath.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_uefi.h"

/* Growing string; any failure sticks in oom. */
typedef struct {
  char *b;
  size_t len, cap;
  bool oom;
} sbuf;

static void sb_printf(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *s, const char *fmt, ...) {
  if (s->oom)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n =
        vsnprintf(s->b == NULL ? NULL : s->b + s->len, s->b == NULL ? 0 : s->cap - s->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      s->oom = true;
      return;
    }
    if (s->b != NULL && (size_t)n < s->cap - s->len) {
      s->len += (size_t)n;
      return;
    }
    size_t ncap = (s->cap == 0 ? 64 : s->cap) + (size_t)n + 1;
    char *nb = realloc(s->b, ncap);
    if (nb == NULL) {
      s->oom = true;
      return;
    }
    s->b = nb;
    s->cap = ncap;
  }
}

static void sb_guid(sbuf *s, const uint8_t *g) {
  char buf[37];
  rt_guid_str(g, buf);
  sb_printf(s, "%s", buf);
}

/* Path(Type,SubType,HexData): the UEFI text form of a node without its own. */
static void node_generic(sbuf *s, uint8_t type, uint8_t sub, const uint8_t *d, size_t n) {
  sb_printf(s, "Path(%u,%u,", (unsigned)type, (unsigned)sub);
  for (size_t i = 0; i < n; i++)
    sb_printf(s, "%02x", d[i]);
  sb_printf(s, ")");
}

/* EISA ids of the PCI root bridges, as ACPI _HID values. */
#define EISA_PNP0A03 0x0a0341d0u
#define EISA_PNP0A08 0x0a0841d0u

/* One node's text; d/n are the node's data after its 4-byte header. */
static void node_text(sbuf *s, uint8_t type, uint8_t sub, const uint8_t *d, size_t n) {
  switch (type << 8 | sub) {
  case 0x0101: /* Hardware / PCI: Function, Device */
    if (n >= 2) {
      sb_printf(s, "Pci(0x%x,0x%x)", d[1], d[0]);
      return;
    }
    break;
  case 0x0104: /* Hardware / Vendor */
    if (n >= 16) {
      sb_printf(s, "VenHw(");
      sb_guid(s, d);
      sb_printf(s, ")");
      return;
    }
    break;
  case 0x0201: /* ACPI / ACPI: _HID, _UID */
    if (n >= 8) {
      uint32_t hid = rt_le32(d), uid = rt_le32(d + 4);
      if (hid == EISA_PNP0A03) {
        sb_printf(s, "PciRoot(0x%x)", (unsigned)uid);
        return;
      }
      if (hid == EISA_PNP0A08) {
        sb_printf(s, "PcieRoot(0x%x)", (unsigned)uid);
        return;
      }
      sb_printf(s, "Acpi(0x%08x,0x%x)", (unsigned)hid, (unsigned)uid);
      return;
    }
    break;
  case 0x0302: /* Messaging / SCSI: Pun, Lun */
    if (n >= 4) {
      sb_printf(s, "Scsi(0x%x,0x%x)", rt_le16(d), rt_le16(d + 2));
      return;
    }
    break;
  case 0x0305: /* Messaging / USB: parent port, interface */
    if (n >= 2) {
      sb_printf(s, "USB(0x%x,0x%x)", d[0], d[1]);
      return;
    }
    break;
  case 0x030a: /* Messaging / Vendor */
    if (n >= 16) {
      sb_printf(s, "VenMsg(");
      sb_guid(s, d);
      sb_printf(s, ")");
      return;
    }
    break;
  case 0x030b: /* Messaging / MAC: 32-byte address (6 used for Ethernet), IfType */
    if (n >= 33) {
      sb_printf(s, "MAC(%02x%02x%02x%02x%02x%02x,0x%x)", d[0], d[1], d[2], d[3], d[4], d[5], d[32]);
      return;
    }
    break;
  case 0x0312: /* Messaging / SATA: HBA port, port multiplier port, LUN */
    if (n >= 6) {
      sb_printf(s, "Sata(0x%x,0x%x,0x%x)", rt_le16(d), rt_le16(d + 2), rt_le16(d + 4));
      return;
    }
    break;
  case 0x0317: /* Messaging / NVMe: namespace id, EUI-64 */
    if (n >= 12) {
      sb_printf(s, "NVMe(0x%x,%02X-%02X-%02X-%02X-%02X-%02X-%02X-%02X)", (unsigned)rt_le32(d), d[4],
                d[5], d[6], d[7], d[8], d[9], d[10], d[11]);
      return;
    }
    break;
  case 0x0401: /* Media / hard drive: number, start, size, signature, MBR type, sig type */
    if (n >= 38) {
      unsigned part = (unsigned)rt_le32(d);
      unsigned long long start = rt_le64(d + 4), size = rt_le64(d + 12);
      if (d[37] == 2) {
        sb_printf(s, "HD(%u,GPT,", part);
        sb_guid(s, d + 20);
      } else if (d[37] == 1) {
        sb_printf(s, "HD(%u,MBR,0x%08x", part, (unsigned)rt_le32(d + 20));
      } else {
        sb_printf(s, "HD(%u,%u,0", part, (unsigned)d[37]);
      }
      sb_printf(s, ",0x%llx,0x%llx)", start, size);
      return;
    }
    break;
  case 0x0402: /* Media / CD-ROM: boot entry, start, size */
    if (n >= 20) {
      sb_printf(s, "CDROM(0x%x,0x%llx,0x%llx)", (unsigned)rt_le32(d),
                (unsigned long long)rt_le64(d + 4), (unsigned long long)rt_le64(d + 12));
      return;
    }
    break;
  case 0x0403: /* Media / Vendor */
    if (n >= 16) {
      sb_printf(s, "VenMedia(");
      sb_guid(s, d);
      sb_printf(s, ")");
      return;
    }
    break;
  case 0x0404: { /* Media / file path: UTF-16 string */
    char *path = rt_utf16_to_utf8(d, n / 2);
    if (path == NULL) {
      s->oom = true;
      return;
    }
    sb_printf(s, "%s", path);
    free(path);
    return;
  }
  case 0x0406: /* Media / PIWG firmware file */
    if (n >= 16) {
      sb_printf(s, "FvFile(");
      sb_guid(s, d);
      sb_printf(s, ")");
      return;
    }
    break;
  case 0x0407: /* Media / PIWG firmware volume */
    if (n >= 16) {
      sb_printf(s, "Fv(");
      sb_guid(s, d);
      sb_printf(s, ")");
      return;
    }
    break;
  default:
    break;
  }
  node_generic(s, type, sub, d, n);
}

char *rt_devpath_text(const uint8_t *dp, size_t len) {
  sbuf s = {0};
  size_t pos = 0, nodes = 0;
  bool sep = false;
  if (dp == NULL)
    return NULL;
  while (pos < len) {
    size_t left = len - pos;
    if (left < 4)
      goto malformed;
    uint8_t type = dp[pos], sub = dp[pos + 1];
    size_t node_len = rt_le16(dp + pos + 2);
    if (node_len < 4 || node_len > left)
      goto malformed;
    if (type == 0x7f && sub == 0xff) /* end of the whole path */
      break;
    if (type == 0x7f) { /* end of one instance: the next follows */
      sb_printf(&s, ",");
      sep = false;
    } else {
      if (sep)
        sb_printf(&s, "/");
      node_text(&s, type, sub, dp + pos + 4, node_len - 4);
      sep = true;
      nodes++;
    }
    pos += node_len;
  }
  if (s.oom || nodes == 0)
    goto malformed;
  return s.b;
malformed:
  free(s.b);
  return NULL;
}
