/* PCR selections: parsed from the command line ("sha256:0,1,2+sha1:0"),
 * converted to and from TPML_PCR_SELECTION, compared exactly. */
#ifndef RT_PCRSEL_H
#define RT_PCRSEL_H

#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "rt_err.h"

#define RT_PCR_COUNT 24

/* "sha1", "sha256", "sha384", "sha512" (rt_hash.h's TPM algorithms) ->
 * TPM2_ALG_*, TPM2_ALG_ERROR if unknown; and back (NULL if unknown). */
TPMI_ALG_HASH rt_pcr_bank_parse(const char *name);
const char *rt_pcr_bank_name(TPMI_ALG_HASH alg);
/* Digest size of a bank's algorithm, 0 if unknown. */
size_t rt_pcr_bank_size(TPMI_ALG_HASH alg);

/* Parses "BANK:I,J,K[+BANK:...]" (tpm2-tools syntax; ranges "0-7" too)
 * into a selection with 3-byte select bitmaps. Rejects unknown banks, PCR
 * indexes over 23, duplicates of a bank, empty lists. */
rt_code rt_pcrsel_parse(const char *text, TPML_PCR_SELECTION *sel, rt_err *err);

/* Adds PCR index to bank (creating the bank entry); RT_E_INVALID when the
 * bank is unknown, the index out of range or the list is full. */
rt_code rt_pcrsel_add(TPML_PCR_SELECTION *sel, TPMI_ALG_HASH bank, uint32_t index, rt_err *err);

int rt_pcrsel_has(const TPML_PCR_SELECTION *sel, TPMI_ALG_HASH bank, uint32_t index);

/* 1 when both select exactly the same PCRs in the same banks (bank order and
 * select-size padding do not matter). */
int rt_pcrsel_equal(const TPML_PCR_SELECTION *a, const TPML_PCR_SELECTION *b);

/* Number of PCRs selected over all banks. */
size_t rt_pcrsel_count(const TPML_PCR_SELECTION *sel);

/* Writes "sha256:0,1,2+sha1:7" into buf. */
void rt_pcrsel_format(const TPML_PCR_SELECTION *sel, char *buf, size_t len);

#endif
