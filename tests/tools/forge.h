/* Test tool: an editable in-memory model of a TCG event log, for writing
 * the forgeries a root attacker on a machine with a genuine TPM can send.
 *
 * The TPM proves only the PCR values of the quoted banks. Everything else in
 * a log is the sender's choice: event types, the data of events whose digest
 * does not cover it, digests of banks the quote does not cover, the
 * interleaving of events of different PCRs, and events root extends after
 * boot. Each operation here changes one of those; which ones keep the quoted
 * replay (and are therefore forgeries, not just broken logs) is the
 * caller's question: rt_forge_pcr_order_kept helps with moves, and the
 * tests compare replays.
 *
 * A model comes from a parsed rt_eventlog and serializes back to the same
 * bytes (trailing zero padding aside). Event i of the model is event i of
 * the log, as `rattest-verifier eventlog` numbers them: for a crypto-agile
 * log event 0 is the Spec ID event, which replay skips.
 *
 * Digests are kept per event in the order the event lists them (so that
 * serialization is byte-exact), each at most RT_EVENTLOG_MAX_DIGEST bytes:
 * a log declaring a longer digest is refused. */
#ifndef RT_FORGE_H
#define RT_FORGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_err.h"
#include "rt_eventlog.h"

typedef struct {
  TPM2_ALG_ID alg;
  uint16_t len;
  uint8_t bytes[RT_EVENTLOG_MAX_DIGEST];
} rt_forge_digest;

typedef struct {
  uint32_t pcr;
  uint32_t type;
  size_t n_digests; /* the Spec ID event and legacy events: one sha1 */
  rt_forge_digest digests[RT_EVENTLOG_MAX_ALGS];
  uint8_t *data; /* owned; NULL when data_len is 0 */
  uint32_t data_len;
  /* Where the event came from: its index in the source log; appended
   * events count on from the source's last (n_source, n_source + 1, ...);
   * a Spec ID event add_bank created is SIZE_MAX. */
  size_t origin;
  bool appended;
} rt_forge_event;

typedef struct {
  bool legacy; /* SHA1-only TCG_PCR_EVENT log */
  size_t n_algs;
  rt_eventlog_alg algs[RT_EVENTLOG_MAX_ALGS]; /* legacy: sha1 only */
  size_t n_events, cap;
  rt_forge_event *events;
  size_t n_source;   /* events the source log had */
  size_t n_appended; /* events append added */
} rt_forge;

/* A byte string a builder made; free with rt_forge_buf_free. */
typedef struct {
  uint8_t *data;
  size_t len;
} rt_forge_buf;

/* ---- model ---------------------------------------------------------------- */

/* The model of a parsed log (its events and their data are copied). */
rt_code rt_forge_from_log(const rt_eventlog *log, rt_forge *out, rt_err *err);
/* rt_eventlog_parse, then rt_forge_from_log. */
rt_code rt_forge_parse(const uint8_t *data, size_t len, rt_forge *out, rt_err *err);
/* A deep copy, to forge from one honest model many times. */
rt_code rt_forge_copy(const rt_forge *src, rt_forge *dst, rt_err *err);
/* Frees and clears; NULL and cleared models are fine. */
void rt_forge_free(rt_forge *f);

/* The log's bytes (malloc'd): TCG_PCR_EVENT entries for a legacy log; for
 * a crypto-agile one the Spec ID event as a TCG_PCR_EVENT, then
 * TCG_PCR_EVENT2 entries with each event's digests in its own order. */
rt_code rt_forge_serialize(const rt_forge *f, uint8_t **out, size_t *len, rt_err *err);

/* The event's digest for alg, or NULL. */
const rt_forge_digest *rt_forge_digest_of(const rt_forge *f, size_t i, TPM2_ALG_ID alg);

/* Whether every PCR's events are still in their source order (appended
 * events after the source's): then replay extends each PCR with the same
 * digests in the same order, whatever the interleaving of PCRs. */
bool rt_forge_pcr_order_kept(const rt_forge *f);

/* ---- edits (i: the event's index in the model) ------------------------------ */

/* The event's type: a label no digest covers. */
rt_code rt_forge_relabel(rt_forge *f, size_t i, uint32_t type, rt_err *err);
/* The event's data, digests unchanged (a forgery only for events whose
 * digest does not cover their data, e.g. images). */
rt_code rt_forge_set_data(rt_forge *f, size_t i, const uint8_t *d, size_t n, rt_err *err);
/* Replaces the prefix of a GRUB string (PCR 8 EV_IPL "grub_cmd: ...") with
 * prefix, keeping the text and its NUL: the digest covers only the text. */
rt_code rt_forge_set_grub_prefix(rt_forge *f, size_t i, const char *prefix, rt_err *err);

typedef enum {
  RT_FORGE_FILL_ZERO = 0, /* all-zero digests */
  RT_FORGE_FILL_DATA,     /* the hash of the event's data */
  /* The hash of what the event's existing digests cover, found among the
   * forms rt_evstate.h documents (the data, a GRUB string's text with or
   * without its NUL, systemd-boot's UTF-16 text with a 2-byte NUL, a boot
   * variable's VariableData, shim 15's authority + 5 bytes): a bank root
   * would compute so that every checked event still verifies. Zeros where
   * none matches (images). */
  RT_FORGE_FILL_MEASURED,
} rt_forge_fill;

/* Declares another bank and gives every event a digest for it (the Spec ID
 * event keeps its one sha1 digest). DATA and MEASURED need an algorithm
 * replay knows (sha1, sha256, sha384, sha512, sm3_256) with its size. A
 * legacy log becomes crypto-agile first: a Spec ID event is inserted at
 * index 0, so every event's index grows by one. */
rt_code rt_forge_add_bank(rt_forge *f, TPM2_ALG_ID alg, uint16_t size, rt_forge_fill fill,
                          rt_err *err);
/* The event's digest for a declared alg; n must be the declared size. */
rt_code rt_forge_set_digest(rt_forge *f, size_t i, TPM2_ALG_ID alg, const uint8_t *d, size_t n,
                            rt_err *err);
/* Event i's alg digest := event from_i's from_alg digest (same size). */
rt_code rt_forge_copy_digest(rt_forge *f, size_t i, TPM2_ALG_ID alg, size_t from_i,
                             TPM2_ALG_ID from_alg, rt_err *err);
/* Moves event i so that it ends up at index to (the events between shift
 * by one). The Spec ID event stays first. */
rt_code rt_forge_move(rt_forge *f, size_t i, size_t to, rt_err *err);

/* ---- appending (root extending PCRs after boot) ------------------------------ */

/* An event at the end whose digests are the hash of data in every declared
 * bank replay knows (zeros in any other). */
rt_code rt_forge_append(rt_forge *f, uint32_t pcr, uint32_t type, const uint8_t *data, size_t n,
                        rt_err *err);
/* The same with the digests over measured instead (GRUB hashes a string's
 * text, not its prefix). */
rt_code rt_forge_append_measured(rt_forge *f, uint32_t pcr, uint32_t type, const uint8_t *data,
                                 size_t n, const uint8_t *measured, size_t measured_len,
                                 rt_err *err);
/* An event with given digests (an image: the digest covers nothing in the
 * log); declared banks not among them get zeros. Each must have its bank's
 * declared size. */
rt_code rt_forge_append_digests(rt_forge *f, uint32_t pcr, uint32_t type, const uint8_t *data,
                                size_t n, const rt_forge_digest *digests, size_t n_digests,
                                rt_err *err);

/* The forms a boot loader measures a kernel command line in (EV_IPL). */
typedef enum {
  RT_FORGE_CMDLINE_GRUB = 0, /* "kernel_cmdline: " TEXT NUL, digest over TEXT */
  RT_FORGE_CMDLINE_REDHAT,   /* "grub_kernel_cmdline " TEXT NUL, digest over TEXT */
  RT_FORGE_CMDLINE_SDBOOT,   /* UTF-16LE TEXT and a NUL unit, digest over all */
} rt_forge_cmdline_form;

/* A GRUB string (prefix, text, NUL) with the digests GRUB would extend: of
 * the text, and with its NUL for Red Hat's "grub_cmd ". */
rt_code rt_forge_append_grub(rt_forge *f, uint32_t pcr, const char *prefix, const char *text,
                             rt_err *err);
/* A kernel command line in the given form, EV_IPL. */
rt_code rt_forge_append_cmdline(rt_forge *f, uint32_t pcr, rt_forge_cmdline_form form,
                                const char *text, rt_err *err);

/* ---- builders for event data ---------------------------------------------- */

/* "8be4df61-93ca-11d2-aa0d-00e098032b8c" as EFI_GUID bytes (first three
 * fields little-endian). False if malformed. */
bool rt_forge_guid_parse(const char *s, uint8_t out[16]);
/* UEFI_VARIABLE_DATA: GUID, name length, data length, the UTF-16LE name
 * (ASCII name), data. */
rt_code rt_forge_uefi_var(const uint8_t guid[16], const char *name, const uint8_t *data, size_t n,
                          rt_forge_buf *out, rt_err *err);
/* One EFI_SIGNATURE_LIST of EFI_CERT_SHA256 entries (owner, hash). */
rt_code rt_forge_siglist_sha256(const uint8_t owner[16], const uint8_t (*hashes)[32], size_t n,
                                rt_forge_buf *out, rt_err *err);
/* prefix, text and a NUL (GRUB's EV_IPL data). */
rt_code rt_forge_grub_string(const char *prefix, const char *text, rt_forge_buf *out, rt_err *err);
/* UTF-8 text as UTF-16LE and a 2-byte NUL (systemd-boot's load options). */
rt_code rt_forge_sdboot_string(const char *text, rt_forge_buf *out, rt_err *err);
/* An EV_SEPARATOR's data: the 32-bit value, little-endian (0: normal,
 * 0xffffffff: firmware error). */
void rt_forge_separator(uint32_t value, uint8_t out[4]);
void rt_forge_buf_free(rt_forge_buf *b);

/* ---- names ------------------------------------------------------------------ */

/* Every event type the TCG PC Client profile defines (rt_eventlog.h's
 * RT_EV_*), in numeric order; returns how many (at most max written). */
size_t rt_forge_event_types(uint32_t *out, size_t max);
/* "EV_POST_CODE" or "0x8000beef"; false for anything else. */
bool rt_forge_type_parse(const char *s, uint32_t *out);
/* "sha256" (rt_eventlog_alg_from_name) or "0x4242"; false otherwise. */
bool rt_forge_alg_parse(const char *s, TPM2_ALG_ID *out);

#endif
