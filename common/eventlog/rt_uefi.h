/* The UEFI structures TCG event data carries, read with explicit bounds:
 * UEFI_VARIABLE_DATA, EFI_SIGNATURE_LIST / EFI_SIGNATURE_DATA,
 * UEFI_IMAGE_LOAD_EVENT, EFI_LOAD_OPTION, UEFI_GPT_DATA; plus GUID and text
 * conversions. Every parser takes (pointer, length), checks every length
 * field against what is left before reading, and answers false on anything
 * malformed: event data comes from the machine being judged. Pointers in the
 * results point into the caller's buffer. */
#ifndef RT_UEFI_H
#define RT_UEFI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline uint16_t rt_le16(const uint8_t *p) {
  return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}
static inline uint32_t rt_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t rt_le64(const uint8_t *p) {
  return (uint64_t)rt_le32(p) | (uint64_t)rt_le32(p + 4) << 32;
}

/* GUIDs as their 16 bytes in memory (EFI_GUID is little-endian in its first
 * three fields). */
extern const uint8_t RT_GUID_EFI_GLOBAL[16];        /* 8be4df61-93ca-11d2-aa0d-00e098032b8c */
extern const uint8_t RT_GUID_IMAGE_SECURITY_DB[16]; /* d719b2cb-3d3a-4596-a3bc-dad00e67656f */
extern const uint8_t RT_GUID_SHIM_LOCK[16];         /* 605dab50-e046-4300-abb6-3dd810dd8b23 */
extern const uint8_t RT_GUID_CERT_SHA256[16];       /* c1c41626-504c-4092-aca9-41f936934328 */
extern const uint8_t RT_GUID_CERT_X509[16];         /* a5c059a1-94e4-4aa7-87b5-ab155c2bf072 */

/* "8be4df61-93ca-11d2-aa0d-00e098032b8c" into out (37 bytes). */
void rt_guid_str(const uint8_t g[16], char out[37]);

/* UTF-16LE (n_units code units, stopping early at a NUL unit) as UTF-8,
 * malloc'd; unpaired surrogates become U+FFFD. NULL only when out of memory. */
char *rt_utf16_to_utf8(const uint8_t *p, size_t n_units);

/* Bytes (stopping at the first NUL) as valid UTF-8, malloc'd: invalid
 * sequences become U+FFFD. NULL only when out of memory. */
char *rt_bytes_to_utf8(const uint8_t *p, size_t n);

/* UEFI_VARIABLE_DATA: VariableName GUID, UnicodeNameLength (characters),
 * VariableDataLength, UnicodeName, VariableData. */
typedef struct {
  const uint8_t *guid;
  const uint8_t *name; /* UTF-16LE, name_len units, not NUL-terminated */
  size_t name_len;
  const uint8_t *data;
  size_t data_len;
  size_t struct_len; /* 32 + 2 * name_len + data_len: the bytes the structure spans */
} rt_uefi_var;

/* False if the lengths run past n. Bytes after struct_len are allowed (the
 * caller decides what they mean). */
bool rt_uefi_var_parse(const uint8_t *d, size_t n, rt_uefi_var *v);
/* The variable has this GUID and exactly this (ASCII) name. */
bool rt_uefi_var_is(const rt_uefi_var *v, const uint8_t guid[16], const char *name);
/* The name as UTF-8, malloc'd; NULL when out of memory. */
char *rt_uefi_var_name(const rt_uefi_var *v);

/* One EFI_SIGNATURE_DATA of an EFI_SIGNATURE_LIST. */
typedef struct {
  const uint8_t *type;  /* the list's SignatureType GUID */
  const uint8_t *owner; /* SignatureOwner GUID */
  const uint8_t *data;  /* SignatureData (SHA-256 digest, certificate DER, ...) */
  size_t len;
} rt_uefi_sig;

/* Calls cb for every signature of the EFI_SIGNATURE_LISTs filling d[0..n),
 * but only if all of them are well formed (a malformed list contributes
 * nothing, not its first entries). cb returns false to stop. Returns false if
 * malformed or stopped. */
bool rt_uefi_siglists_each(const uint8_t *d, size_t n,
                           bool (*cb)(const rt_uefi_sig *sig, void *ctx), void *ctx);

/* The signature an EV_EFI_VARIABLE_AUTHORITY's VariableData holds. Firmware
 * measures an EFI_SIGNATURE_DATA (owner GUID, then the certificate); shim
 * measures the bare certificate DER (seen in the rhel8 and gce-cos85 logs,
 * variables "Shim" and "db"). A DER SEQUENCE spanning all of d is taken as
 * the bare certificate, anything else of at least 16 bytes as
 * EFI_SIGNATURE_DATA. owner is NULL for a bare certificate. */
bool rt_uefi_authority_sig(const uint8_t *d, size_t n, const uint8_t **owner, const uint8_t **sig,
                           size_t *sig_len);

/* UEFI_IMAGE_LOAD_EVENT (EV_EFI_BOOT_SERVICES_APPLICATION, ..._DRIVER). */
typedef struct {
  uint64_t location, length, link_time_address;
  const uint8_t *device_path;
  size_t device_path_len;
} rt_uefi_image_load;

bool rt_uefi_image_load_parse(const uint8_t *d, size_t n, rt_uefi_image_load *out);

/* EFI_LOAD_OPTION (the data of Boot####). */
typedef struct {
  uint32_t attributes;
  const uint8_t *description; /* UTF-16LE without its NUL, description_len units */
  size_t description_len;
  const uint8_t *device_path;
  size_t device_path_len;
  size_t optional_len;
} rt_uefi_load_option;

bool rt_uefi_load_option_parse(const uint8_t *d, size_t n, rt_uefi_load_option *out);

/* UEFI_GPT_DATA: the GPT header (92 bytes), NumberOfPartitions, and that
 * many entries of the header's SizeOfPartitionEntry bytes. */
typedef struct {
  const uint8_t *disk_guid;
  uint64_t n_partitions;
  uint32_t entry_size;
  const uint8_t *entries; /* n_partitions * entry_size bytes, each >= 128 */
} rt_uefi_gpt;

bool rt_uefi_gpt_parse(const uint8_t *d, size_t n, rt_uefi_gpt *out);

#endif
