/* TCG PC Client event log (TCG PC Client Platform Firmware Profile): a
 * bounded parser for both on-disk formats and the PCR replay the verifier
 * compares with a quote.
 *
 * - SHA1-only legacy log: TCG_PCR_EVENT entries only.
 * - Crypto-agile log: a first TCG_PCR_EVENT (EV_NO_ACTION, "Spec ID
 *   Event03", TCG_EfiSpecIdEvent) declaring the algorithms and their digest
 *   sizes, then TCG_PCR_EVENT2 entries carrying one digest per declared
 *   algorithm (TPML_DIGEST_VALUES).
 *
 * The log is little-endian and not a TPM structure, so it is read with a
 * small bounds-checked cursor rather than Tss2_MU_*. Any malformed input is
 * an RT_E_INVALID error naming the event index and its byte offset. */
#ifndef RT_EVENTLOG_H
#define RT_EVENTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "rt_err.h"
#include "rt_hash.h"

#define RT_EVENTLOG_DEFAULT_MAX_SIZE ((size_t)16 * 1024 * 1024)
#define RT_EVENTLOG_DEFAULT_MAX_EVENTS ((size_t)65536)
/* Algorithms a Spec ID event may declare (known or not). */
#define RT_EVENTLOG_MAX_ALGS 8
/* Banks replay can compute: every algorithm of rt_hash.h. */
#define RT_EVENTLOG_MAX_BANKS RT_HASH_COUNT
#define RT_EVENTLOG_NUM_PCRS 24
#define RT_EVENTLOG_MAX_DIGEST RT_HASH_MAX_DIGEST

/* Event types, TCG PC Client Platform Firmware Profile 1.06, 10.4.1. */
#define RT_EV_PREBOOT_CERT 0x00000000u
#define RT_EV_POST_CODE 0x00000001u
#define RT_EV_UNUSED 0x00000002u
#define RT_EV_NO_ACTION 0x00000003u
#define RT_EV_SEPARATOR 0x00000004u
#define RT_EV_ACTION 0x00000005u
#define RT_EV_EVENT_TAG 0x00000006u
#define RT_EV_S_CRTM_CONTENTS 0x00000007u
#define RT_EV_S_CRTM_VERSION 0x00000008u
#define RT_EV_CPU_MICROCODE 0x00000009u
#define RT_EV_PLATFORM_CONFIG_FLAGS 0x0000000Au
#define RT_EV_TABLE_OF_DEVICES 0x0000000Bu
#define RT_EV_COMPACT_HASH 0x0000000Cu
#define RT_EV_IPL 0x0000000Du
#define RT_EV_IPL_PARTITION_DATA 0x0000000Eu
#define RT_EV_NONHOST_CODE 0x0000000Fu
#define RT_EV_NONHOST_CONFIG 0x00000010u
#define RT_EV_NONHOST_INFO 0x00000011u
#define RT_EV_OMIT_BOOT_DEVICE_EVENTS 0x00000012u
#define RT_EV_EFI_EVENT_BASE 0x80000000u
#define RT_EV_EFI_VARIABLE_DRIVER_CONFIG 0x80000001u
#define RT_EV_EFI_VARIABLE_BOOT 0x80000002u
#define RT_EV_EFI_BOOT_SERVICES_APPLICATION 0x80000003u
#define RT_EV_EFI_BOOT_SERVICES_DRIVER 0x80000004u
#define RT_EV_EFI_RUNTIME_SERVICES_DRIVER 0x80000005u
#define RT_EV_EFI_GPT_EVENT 0x80000006u
#define RT_EV_EFI_ACTION 0x80000007u
#define RT_EV_EFI_PLATFORM_FIRMWARE_BLOB 0x80000008u
#define RT_EV_EFI_HANDOFF_TABLES 0x80000009u
#define RT_EV_EFI_PLATFORM_FIRMWARE_BLOB2 0x8000000Au
#define RT_EV_EFI_HANDOFF_TABLES2 0x8000000Bu
#define RT_EV_EFI_VARIABLE_BOOT2 0x8000000Cu
#define RT_EV_EFI_GPT_EVENT2 0x8000000Du
#define RT_EV_EFI_HCRTM_EVENT 0x80000010u
#define RT_EV_EFI_VARIABLE_AUTHORITY 0x800000E0u
#define RT_EV_EFI_SPDM_FIRMWARE_BLOB 0x800000E1u
#define RT_EV_EFI_SPDM_FIRMWARE_CONFIG 0x800000E2u
#define RT_EV_EFI_SPDM_DEVICE_POLICY 0x800000E3u
#define RT_EV_EFI_SPDM_DEVICE_AUTHORITY 0x800000E4u

typedef struct {
  TPM2_ALG_ID alg;
  uint16_t len;         /* the digest size the Spec ID event declares for alg */
  const uint8_t *bytes; /* into the log's own copy */
} rt_eventlog_digest;

typedef struct {
  uint32_t index; /* position in the log, 0 = first event */
  size_t offset;  /* byte offset of the event in the log */
  uint32_t pcr;   /* may be >= 24 (e.g. Windows 0xFFFFFFFF trailers) */
  uint32_t type;  /* RT_EV_*, or any other value: unknown types are kept */
  /* One digest per declared algorithm, in the order the event lists them
   * (legacy logs: one sha1 digest). */
  size_t n_digests;
  const rt_eventlog_digest *digests;
  const uint8_t *data; /* into the log's own copy; NULL when data_len is 0 */
  uint32_t data_len;
} rt_eventlog_event;

typedef struct {
  TPM2_ALG_ID alg;
  uint16_t digest_size;
} rt_eventlog_alg;

typedef struct {
  uint8_t *raw; /* the log's own copy; events point into it */
  size_t raw_len;
  size_t parsed_len; /* bytes covered by events; the rest was zero padding */
  bool legacy;       /* SHA1-only TCG_PCR_EVENT log, no Spec ID Event03 */
  /* Algorithms in the Spec ID event (legacy: sha1 only), with the digest
   * sizes it declares: parsing accepts any algorithm and any non-zero size,
   * rt_eventlog_check_algs judges them. */
  size_t n_algs;
  rt_eventlog_alg algs[RT_EVENTLOG_MAX_ALGS];
  bool has_startup_locality; /* an EV_NO_ACTION "StartupLocality" event */
  uint8_t startup_locality;
  size_t n_events;
  rt_eventlog_event *events;
  rt_eventlog_digest *digest_store; /* storage behind events[].digests */
} rt_eventlog;

typedef struct {
  size_t max_size;   /* largest log accepted, bytes; 0 = RT_EVENTLOG_DEFAULT_MAX_SIZE */
  size_t max_events; /* most events accepted; 0 = RT_EVENTLOG_DEFAULT_MAX_EVENTS */
} rt_eventlog_limits;

/* One replayed bank. */
typedef struct {
  TPM2_ALG_ID alg;
  uint16_t size;     /* digest size */
  uint32_t extended; /* bit i set: PCR i had at least one extended event */
  uint8_t pcr[RT_EVENTLOG_NUM_PCRS][RT_EVENTLOG_MAX_DIGEST]; /* first size bytes used */
} rt_eventlog_bank;

typedef struct {
  size_t n_banks; /* the declared algorithms, in log order */
  rt_eventlog_bank banks[RT_EVENTLOG_MAX_BANKS];
} rt_eventlog_pcrs;

/* Parses len bytes of log into *log (which it first clears), copying them so
 * that the caller's buffer can go away. limits may be NULL (defaults). On
 * failure *log is left empty and safe to free. */
rt_code rt_eventlog_parse(const uint8_t *data, size_t len, const rt_eventlog_limits *limits,
                          rt_eventlog *log, rt_err *err);

/* rt_file_read with limits->max_size, then rt_eventlog_parse. Messages start
 * with the path. */
rt_code rt_eventlog_read_file(const char *path, const rt_eventlog_limits *limits, rt_eventlog *log,
                              rt_err *err);

/* Frees what parsing allocated and clears *log; NULL and empty logs are fine. */
void rt_eventlog_free(rt_eventlog *log);

typedef enum {
  RT_EVENTLOG_ALG_OK = 0,
  RT_EVENTLOG_ALG_UNKNOWN,     /* an algorithm without a name above */
  RT_EVENTLOG_ALG_DIGEST_SIZE, /* a known algorithm with another digest size */
} rt_eventlog_alg_issue;

/* Whether every algorithm the log declares is one the verifier knows, with
 * that algorithm's digest size. Digests of anything else can be any bytes
 * the writer chose (no TPM bank computes them), so such a log is refused
 * before anything reads it; err names the algorithm. */
rt_eventlog_alg_issue rt_eventlog_check_algs(const rt_eventlog *log, rt_err *err);

/* Replays the log into every bank it declares (RT_E_INVALID when
 * rt_eventlog_check_algs finds an issue).
 * Per bank: PCRs start at 00..00, 17-22 at ff..ff, PCR0 at 00..0N with an
 * EV_NO_ACTION StartupLocality event of value N; then every event is
 * extended, pcr = H(pcr || digest), except EV_NO_ACTION events, PCR indexes
 * >= 24 and (crypto-agile) the Spec ID event. RT_E_CRYPTO if OpenSSL lacks a
 * digest (e.g. SM3 disabled). */
rt_code rt_eventlog_replay(const rt_eventlog *log, rt_eventlog_pcrs *out, rt_err *err);

/* The replayed bank for alg, or NULL if the log has none. */
const rt_eventlog_bank *rt_eventlog_pcrs_bank(const rt_eventlog_pcrs *pcrs, TPM2_ALG_ID alg);

/* The event's digest for alg, or NULL. */
const rt_eventlog_digest *rt_eventlog_event_digest(const rt_eventlog_event *ev, TPM2_ALG_ID alg);

/* The algorithms of rt_hash.h, all of which a log may declare:
 * "sha1", "sha256", "sha384", "sha512", "sm3_256"; NULL for other ids. */
const char *rt_eventlog_alg_name(TPM2_ALG_ID alg);
/* The name, or "0x0027" (written into buf) for an algorithm without one. */
const char *rt_eventlog_alg_label(TPM2_ALG_ID alg, char buf[8]);
/* OpenSSL's name for the digest ("SHA256", "SM3"): the banks replay can
 * compute; NULL for others. */
const char *rt_eventlog_alg_evp_name(TPM2_ALG_ID alg);
/* The inverse; TPM2_ALG_ERROR for an unknown name. */
TPM2_ALG_ID rt_eventlog_alg_from_name(const char *name);
/* 20, 32, 48, 64, 32; 0 for other ids. */
size_t rt_eventlog_alg_digest_size(TPM2_ALG_ID alg);

/* "EV_SEPARATOR", "EV_EFI_ACTION", ...; NULL for a type the profile does not
 * define. */
const char *rt_eventlog_type_name(uint32_t type);

/* The PCRs the placement facts below cover: 0-8 (firmware, and the boot
 * loader's PCR 8). */
#define RT_EVENTLOG_PLACED_PCRS 8
/* Whether the profile measures events of this type into pcr (0-8; false for
 * other PCRs and unknown types). */
bool rt_eventlog_type_in_pcr(uint32_t type, uint32_t pcr);
/* Whether, in pcr (0-8), the profile measures this type only before the
 * PCR's EV_SEPARATOR (pre-OS firmware, platform configuration, Secure Boot
 * configuration in PCR 7). */
bool rt_eventlog_type_before_separator(uint32_t type, uint32_t pcr);

#endif
