/* What a TCG PC Client event log proves about the machine that booted.
 *
 * Given what a quote proves (rt_evproof: for each bank, the quoted PCRs),
 * every event is checked (rt_evcheck.h: does its data hash to the proven
 * digests) and classified (rt_evclass.h: is it flawed, i.e. could it be
 * something other than its label says). The derived state reads only
 * unflawed events, and among them only facts: data that hashed to a proven
 * digest, the digests themselves, and the order of events within one PCR.
 * Never the order between PCRs, and never the label where the content
 * decides (a boot application is any opaque measurement in PCR 4, whatever
 * its type; a kernel command line is also any GRUB string that follows the
 * `linux` command it completes, whatever its prefix).
 *
 * The derived state reads PCRs 0-9 and 14 only (firmware, boot loader,
 * secure boot, kernel command line, shim's MOK state). */
#ifndef RT_EVSTATE_H
#define RT_EVSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_err.h"
#include "rt_evcheck.h"
#include "rt_evclass.h"
#include "rt_eventlog.h"

typedef enum {
  RT_SECURE_BOOT_UNKNOWN = 0, /* no verified SecureBoot variable in PCR 7 */
  RT_SECURE_BOOT_OFF,         /* verified, data empty or 0x00 */
  RT_SECURE_BOOT_ON,          /* verified, data 0x01 */
} rt_secure_boot;

/* A secure boot variable measured into PCR 7 (EV_EFI_VARIABLE_DRIVER_CONFIG,
 * verified, unflawed: so before PCR 7's separator and measured once). */
typedef struct {
  bool present;
  uint32_t event;     /* index in the log */
  uint8_t sha256[32]; /* SHA-256 of the variable's data (VariableData) */
  uint64_t data_len;  /* length of the variable's data */
} rt_evstate_var;

/* A signing authority the firmware or shim used
 * (EV_EFI_VARIABLE_AUTHORITY in PCR 7, verified). */
typedef struct {
  uint32_t event;
  uint8_t sha256[32]; /* SHA-256 of EFI_SIGNATURE_DATA.SignatureData (the
                         certificate DER for an X.509 entry) */
  char *subject;      /* one-line subject (OpenSSL RFC 2253 form) when it
                         parses as an X.509 certificate, else NULL */
  char *variable;     /* "db", "MokList", "MokListX", ... (UTF-8) */
} rt_evstate_authority;

/* A boot application: an unflawed measurement in PCR 4 whose digest covers
 * something the log does not carry (EV_EFI_BOOT_SERVICES_APPLICATION, and
 * any other such type the profile allows there: legacy EV_IPL code,
 * firmware blobs, EV_OMIT_BOOT_DEVICE_EVENTS). Its digests are the image's
 * Authenticode hashes: see the event's digests in the log
 * (rt_eventlog_event_digest(&log->events[event], alg)). */
typedef struct {
  uint32_t event;
  char *path; /* the image's device path as text (UTF-8), NULL if none decodes */
} rt_evstate_app;

/* A kernel command line measured by the boot loader into PCR 8 (verified,
 * unflawed), without prefix and NUL: GRUB's "kernel_cmdline: " or Red Hat's
 * "grub_kernel_cmdline " string; any GRUB string, whatever its prefix, that
 * follows a `linux`, `linux16` or `linuxefi` command in PCR 8 and is that
 * command's arguments as GRUB passes them (quoted where they hold spaces);
 * systemd-boot's load options. */
typedef struct {
  uint32_t event;
  char *cmdline;
} rt_evstate_cmdline;

typedef struct {
  /* One per log event, same index as log->events. */
  size_t n_events;
  rt_evcheck *checks;
  rt_evflaw *flaws;
  size_t n_mismatches; /* events that are RT_EVCHECK_MISMATCH */
  size_t n_flawed;     /* events with a flaw */

  rt_secure_boot secure_boot;
  uint32_t secure_boot_event; /* valid when secure_boot != UNKNOWN */
  rt_evstate_var pk, kek, db, dbx;
  /* EFI_CERT_SHA256_GUID entries of the measured (verified) dbx; none if its
   * signature lists are malformed. */
  size_t n_dbx_sha256;
  uint8_t (*dbx_sha256)[32];

  size_t n_authorities;
  rt_evstate_authority *authorities;
  size_t n_boot_apps;
  rt_evstate_app *boot_apps;
  size_t n_cmdlines;
  rt_evstate_cmdline *cmdlines;

  uint32_t separators;      /* bit i: PCR i has a verified, unflawed EV_SEPARATOR */
  uint32_t separator_error; /* bit i: ... whose value is not 0x00000000
                               (firmware reports an error); Windows' "WBCL"
                               separator in PCRs 12-14 is not an error */
} rt_evstate;

/* Checks and classifies every event of a parsed log against what proof says
 * the quote proves, and derives the state. *out owns copies of what it
 * keeps. RT_E_CRYPTO if OpenSSL cannot hash; malformed event data is never
 * an error here (the event is flawed, or ignored for the state). */
rt_code rt_evstate_derive(const rt_eventlog *log, const rt_evproof *proof, rt_evstate *out,
                          rt_err *err);

/* Frees and clears; NULL and cleared states are fine. */
void rt_evstate_free(rt_evstate *st);

/* The first flawed event in pcr, or -1. */
long rt_evstate_first_flaw(const rt_eventlog *log, const rt_evstate *st, uint32_t pcr);

/* "unknown", "off", "on". */
const char *rt_secure_boot_name(rt_secure_boot s);

#endif
