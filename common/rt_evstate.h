/* What a TCG PC Client event log says about the machine that booted, with
 * every claim checked against the digests the TPM extended.
 *
 * The PCR values prove the digests; the event data beside a digest proves
 * nothing by itself. For event types whose data *is* the hashed content
 * (UEFI variables, separators, actions, IPL strings, GPT, S-CRTM version)
 * the data is hashed again here and compared with each of the event's
 * digests; an event whose data does not hash to its digests is a
 * MISMATCH and contributes nothing to the derived state. Events whose
 * digest covers something the log does not carry (a PE image, firmware
 * volume) are UNCHECKED: only their digests are facts.
 *
 * The derived state reads PCRs 0-9 and 14 only (firmware, boot loader,
 * secure boot, kernel command line, shim's MOK state). */
#ifndef RT_EVSTATE_H
#define RT_EVSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_err.h"
#include "rt_eventlog.h"

typedef enum {
  /* The digest covers something outside the log (image, firmware blob), or
   * the event is EV_NO_ACTION / not extended: nothing to check. */
  RT_EVCHECK_UNCHECKED = 0,
  /* The data hashes to every digest of a bank replay can compute. */
  RT_EVCHECK_OK,
  /* The data is the hashed content by type, yet some digest differs. */
  RT_EVCHECK_MISMATCH,
} rt_evcheck;

typedef enum {
  RT_SECURE_BOOT_UNKNOWN = 0, /* no verified SecureBoot variable in PCR 7 */
  RT_SECURE_BOOT_OFF,         /* verified, data empty or 0x00 */
  RT_SECURE_BOOT_ON,          /* verified, data 0x01 */
} rt_secure_boot;

/* A secure boot variable measured into PCR 7 (EV_EFI_VARIABLE_DRIVER_CONFIG,
 * verified). The first verified measurement of each variable counts. */
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

/* A boot application (EV_EFI_BOOT_SERVICES_APPLICATION in PCR 4). Its
 * digests are the image's Authenticode hashes: see the event's digests in
 * the log (rt_eventlog_event_digest(&log->events[event], alg)). */
typedef struct {
  uint32_t event;
  char *path; /* the image's device path as text (UTF-8), NULL if none decodes */
} rt_evstate_app;

/* A kernel command line measured by the boot loader (GRUB's EV_IPL
 * "kernel_cmdline: ..." in PCR 8, or "grub_kernel_cmdline ..." from Red
 * Hat's GRUB, verified), without the prefix and NUL. */
typedef struct {
  uint32_t event;
  char *cmdline;
} rt_evstate_cmdline;

typedef struct {
  /* One per log event, same index as log->events. */
  size_t n_events;
  rt_evcheck *checks;
  size_t n_mismatches; /* events that are RT_EVCHECK_MISMATCH */

  /* UNKNOWN also when SecureBoot was measured twice with different values,
   * or holds anything but nothing, 0x00 or 0x01. */
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

  uint32_t separators;      /* bit i: PCR i has a verified EV_SEPARATOR */
  uint32_t separator_error; /* bit i: ... whose value is not 0x00000000
                               (firmware reports an error); Windows' "WBCL"
                               separator in PCRs 12-14 is not an error */
} rt_evstate;

/* Checks every event of a parsed log and derives the state. The log must
 * outlive nothing: *out owns copies of what it keeps. RT_E_CRYPTO if OpenSSL
 * cannot hash; malformed event data is never an error here (the event is a
 * MISMATCH if its digest disagrees, or ignored for the state). */
rt_code rt_evstate_derive(const rt_eventlog *log, rt_evstate *out, rt_err *err);

/* Frees and clears; NULL and cleared states are fine. */
void rt_evstate_free(rt_evstate *st);

/* "unchecked", "ok", "mismatch". */
const char *rt_evcheck_name(rt_evcheck c);
/* "unknown", "off", "on". */
const char *rt_secure_boot_name(rt_secure_boot s);

#endif
