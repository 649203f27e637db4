/* The EK certificates' chain the TPM carries itself: TCG EK Credential
 * Profile 2.3+ NV indices 0x01c00100-0x01c001ff, each holding one or several
 * concatenated DER certificates. Sent as EK intermediates: the verifier
 * still needs the root. */
#ifndef RT_BOOTSTRAP_EK_CHAIN_H
#define RT_BOOTSTRAP_EK_CHAIN_H

#include "ek.h"

/* At most this many certificates are taken (the verifier's limit on the
 * intermediates of one Begin). */
#define RT_MAX_EK_CHAIN 8

typedef struct {
  /* One certificate each, with the index it came from. */
  rt_nv_cert certs[RT_MAX_EK_CHAIN];
  size_t n;
} rt_ek_chain;

/* Reads every chain index. An index that does not parse as DER
 * certificates is skipped with a warning (it says nothing the verifier
 * could use); TPM failures are errors. *chain is empty when there is none. */
rt_code rt_ek_chain_read(rt_tpm *tpm, rt_ek_chain *chain, rt_err *err);

void rt_ek_chain_free(rt_ek_chain *chain);

#endif
