/* rt_evdecode's UEFI part: UEFI variables (secure boot databases, boot
 * options, authorities), loaded images and GPT data as JSON members of obj.
 * Each returns false only when out of memory; malformed data adds less. */
#ifndef RT_EVDECODE_UEFI_H
#define RT_EVDECODE_UEFI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* UEFI_VARIABLE_DATA; authority: the data is one signature
 * (EV_EFI_VARIABLE_AUTHORITY), else the variable's own format. */
bool rt_evdecode_variable(json_t *obj, const uint8_t *d, size_t n, bool authority);
/* UEFI_IMAGE_LOAD_EVENT. */
bool rt_evdecode_image(json_t *obj, const uint8_t *d, size_t n);
/* UEFI_GPT_DATA. */
bool rt_evdecode_gpt(json_t *obj, const uint8_t *d, size_t n);

#endif
