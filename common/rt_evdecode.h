/* What one event's data says, decoded for display (`rattest-verifier
 * eventlog --json`) and for rt_evstate. Decoding says nothing about trust:
 * rt_evstate decides which events' data is backed by their digests. Every
 * length in event data is checked before it is followed; a malformed payload
 * decodes to less (or nothing), never to an error. */
#ifndef RT_EVDECODE_H
#define RT_EVDECODE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_eventlog.h"

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
bool rt_evdecode_grub(const uint8_t *d, size_t n, rt_grub_string *out);

/* SHA-256 of d (EVP); false if OpenSSL fails. */
bool rt_evdecode_sha256(const uint8_t *d, size_t n, uint8_t out[32]);

/* The subject of the DER certificate d as one RFC 2253 line, malloc'd; NULL
 * if it does not parse as X.509 (or out of memory). */
char *rt_evdecode_x509_subject(const uint8_t *d, size_t n);

/* The decoded data of log->events[i] as a JSON object ({} when nothing is
 * known about its type or it is malformed); NULL only when out of memory. */
json_t *rt_evdecode_json(const rt_eventlog *log, size_t i);

#endif
