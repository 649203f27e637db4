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

/* A node with a text form of its own. */
typedef struct {
  const char *name; /* a GUID node's text form name ("VenHw") */
  const uint8_t *d; /* the node's data after its 4-byte header */
  size_t n;
} node;

/* Name(GUID): vendor and firmware volume/file nodes. */
static void text_guid(sbuf *s, const node *nd) {
  sb_printf(s, "%s(", nd->name);
  sb_guid(s, nd->d);
  sb_printf(s, ")");
}

/* Function, Device. */
static void text_pci(sbuf *s, const node *nd) {
  sb_printf(s, "Pci(0x%x,0x%x)", nd->d[1], nd->d[0]);
}

/* _HID, _UID; PCI root bridges by their own names. */
static void text_acpi(sbuf *s, const node *nd) {
  uint32_t hid = rt_le32(nd->d), uid = rt_le32(nd->d + 4);
  if (hid == EISA_PNP0A03)
    sb_printf(s, "PciRoot(0x%x)", (unsigned)uid);
  else if (hid == EISA_PNP0A08)
    sb_printf(s, "PcieRoot(0x%x)", (unsigned)uid);
  else
    sb_printf(s, "Acpi(0x%08x,0x%x)", (unsigned)hid, (unsigned)uid);
}

/* Pun, Lun. */
static void text_scsi(sbuf *s, const node *nd) {
  sb_printf(s, "Scsi(0x%x,0x%x)", rt_le16(nd->d), rt_le16(nd->d + 2));
}

/* Parent port, interface. */
static void text_usb(sbuf *s, const node *nd) {
  sb_printf(s, "USB(0x%x,0x%x)", nd->d[0], nd->d[1]);
}

/* 32-byte address (6 used for Ethernet), IfType. */
static void text_mac(sbuf *s, const node *nd) {
  const uint8_t *d = nd->d;
  sb_printf(s, "MAC(%02x%02x%02x%02x%02x%02x,0x%x)", d[0], d[1], d[2], d[3], d[4], d[5], d[32]);
}

/* HBA port, port multiplier port, LUN. */
static void text_sata(sbuf *s, const node *nd) {
  sb_printf(s, "Sata(0x%x,0x%x,0x%x)", rt_le16(nd->d), rt_le16(nd->d + 2), rt_le16(nd->d + 4));
}

/* Namespace id, EUI-64. */
static void text_nvme(sbuf *s, const node *nd) {
  const uint8_t *d = nd->d;
  sb_printf(s, "NVMe(0x%x,%02X-%02X-%02X-%02X-%02X-%02X-%02X-%02X)", (unsigned)rt_le32(d), d[4],
            d[5], d[6], d[7], d[8], d[9], d[10], d[11]);
}

/* Partition number, start, size, signature, MBR type, signature type. */
static void text_hd(sbuf *s, const node *nd) {
  const uint8_t *d = nd->d;
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
}

/* Boot entry, start, size. */
static void text_cdrom(sbuf *s, const node *nd) {
  sb_printf(s, "CDROM(0x%x,0x%llx,0x%llx)", (unsigned)rt_le32(nd->d),
            (unsigned long long)rt_le64(nd->d + 4), (unsigned long long)rt_le64(nd->d + 12));
}

/* A UTF-16 string. */
static void text_file_path(sbuf *s, const node *nd) {
  char *path = rt_utf16_to_utf8(nd->d, nd->n / 2);
  if (path == NULL) {
    s->oom = true;
    return;
  }
  sb_printf(s, "%s", path);
  free(path);
}

/* The nodes with a text form of their own, by type << 8 | subtype, and the
 * data bytes the form needs: a shorter node prints as Path(). */
static const struct {
  uint16_t kind;
  size_t min_len;
  const char *name;
  void (*text)(sbuf *s, const node *nd);
} node_kinds[] = {
    {0x0101, 2, NULL, text_pci},         /* Hardware / PCI */
    {0x0104, 16, "VenHw", text_guid},    /* Hardware / Vendor */
    {0x0201, 8, NULL, text_acpi},        /* ACPI / ACPI */
    {0x0302, 4, NULL, text_scsi},        /* Messaging / SCSI */
    {0x0305, 2, NULL, text_usb},         /* Messaging / USB */
    {0x030a, 16, "VenMsg", text_guid},   /* Messaging / Vendor */
    {0x030b, 33, NULL, text_mac},        /* Messaging / MAC */
    {0x0312, 6, NULL, text_sata},        /* Messaging / SATA */
    {0x0317, 12, NULL, text_nvme},       /* Messaging / NVMe */
    {0x0401, 38, NULL, text_hd},         /* Media / hard drive */
    {0x0402, 20, NULL, text_cdrom},      /* Media / CD-ROM */
    {0x0403, 16, "VenMedia", text_guid}, /* Media / Vendor */
    {0x0404, 0, NULL, text_file_path},   /* Media / file path */
    {0x0406, 16, "FvFile", text_guid},   /* Media / PIWG firmware file */
    {0x0407, 16, "Fv", text_guid},       /* Media / PIWG firmware volume */
};

/* One node's text; d/n are the node's data after its 4-byte header. */
static void node_text(sbuf *s, uint8_t type, uint8_t sub, const uint8_t *d, size_t n) {
  unsigned kind = (unsigned)type << 8 | sub;
  for (size_t i = 0; i < sizeof node_kinds / sizeof node_kinds[0]; i++)
    if (node_kinds[i].kind == kind && n >= node_kinds[i].min_len) {
      node nd = {node_kinds[i].name, d, n};
      node_kinds[i].text(s, &nd);
      return;
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
