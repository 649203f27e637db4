/* Describes the TPM a machine has: what `rattest-bootstrap tpm-info` prints. */
#ifndef RT_BOOTSTRAP_TPM_INFO_H
#define RT_BOOTSTRAP_TPM_INFO_H

#include <jansson.h>

#include "rt_tpm.h"

/* Builds {"tcti", "manufacturer", "vendor", "firmware", "spec", "pcr_banks",
 * "ek_certificates": [...], "ek_chain": [...] (one entry a certificate of
 * the chain indices 0x01c00100-0x01c001ff), "platform_certificate": {...}}. */
rt_code rt_tpm_describe(rt_tpm *tpm, json_t **out, rt_err *err);

#endif
