/* Small readers of event data, shared by the checks (rt_evcheck,
 * rt_evclass, rt_evstate) and the display (rt_evdecode): the boot loader
 * strings measured into PCR 8 (GRUB's, systemd-boot's), SHA-256 of a
 * payload, a certificate's subject. Every length is checked before it is
 * followed; malformed data answers false or NULL, never an error. */
#ifndef RT_EVDATA_H
#define RT_EVDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The strings GRUB measures as EV_IPL events into PCR 8: its description
 * prefix, then the text. */
typedef enum {
  RT_GRUB_CMD = 1,        /* "grub_cmd: " (upstream), "grub_cmd " (Red Hat) */
  RT_GRUB_KERNEL_CMDLINE, /* "kernel_cmdline: ", "grub_kernel_cmdline " */
  RT_GRUB_MODULE_CMDLINE, /* "module_cmdline: " */
} rt_grub_kind;

typedef struct {
  rt_grub_kind kind;
  const char *prefix;
  const uint8_t *text; /* after the prefix, into the event data */
  size_t len;          /* without the one trailing NUL, if there is one */
  bool nul;            /* the data ends with that NUL */
} rt_grub_string;

/* True if d starts with a GRUB prefix. */
bool rt_evdata_grub(const uint8_t *d, size_t n, rt_grub_string *out);

/* SHA-256 of d (EVP); false if OpenSSL fails. */
bool rt_evdata_sha256(const uint8_t *d, size_t n, uint8_t out[32]);

/* The subject of the DER certificate d as one RFC 2253 line, malloc'd; NULL
 * if it does not parse as X.509 (or out of memory). */
char *rt_evdata_x509_subject(const uint8_t *d, size_t n);

/* systemd-boot's kernel command line (EV_IPL in PCR 8): UTF-16LE load
 * options and a NUL. *units: the text's length in UTF-16 units, without the
 * NUL. */
bool rt_evdata_sdboot_units(const uint8_t *d, size_t n, size_t *units);

#endif
