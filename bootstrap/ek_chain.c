#include "ek_chain.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "rt_log.h"

/* Most chain indices looked at: the whole range may exist, but only
 * RT_MAX_EK_CHAIN certificates are kept. */
#define MAX_CHAIN_INDICES 32

/* Splits one index's bytes into its DER certificates, appended to chain.
 * Returns how many were taken; 0 with garbage (then nothing is taken). */
static size_t split_certs(TPM2_HANDLE index, const uint8_t *data, size_t len, rt_ek_chain *chain) {
  size_t start = chain->n;
  const unsigned char *p = data, *end = data + len;
  /* NV indices are often larger than what was written: trailing 0xff or 0
   * padding ends the list. */
  while (p < end && *p == 0x30 && chain->n < RT_MAX_EK_CHAIN) {
    const unsigned char *q = p;
    X509 *x = d2i_X509(NULL, &q, (long)(end - p));
    if (x == NULL)
      break;
    X509_free(x);
    uint8_t *der = malloc((size_t)(q - p));
    if (der == NULL)
      break;
    memcpy(der, p, (size_t)(q - p));
    chain->certs[chain->n++] = (rt_nv_cert){index, der, (size_t)(q - p)};
    p = q;
  }
  ERR_clear_error();
  if (chain->n == start)
    rt_warn("EK chain NV index 0x%08x holds no DER certificate; skipped", (unsigned)index);
  return chain->n - start;
}

rt_code rt_ek_chain_read(rt_tpm *tpm, rt_ek_chain *chain, rt_err *err) {
  memset(chain, 0, sizeof *chain);
  TPM2_HANDLE idx[MAX_CHAIN_INDICES];
  size_t n_idx = 0;
  rt_code code = rt_tpm_nv_list(tpm, RT_NV_EK_CHAIN_FIRST, RT_NV_EK_CHAIN_LAST, idx,
                                MAX_CHAIN_INDICES, &n_idx, err);
  for (size_t i = 0; code == RT_OK && i < n_idx && chain->n < RT_MAX_EK_CHAIN; i++) {
    uint8_t *data = NULL;
    size_t len = 0;
    code = rt_tpm_nv_read(tpm, idx[i], &data, &len, err);
    if (code == RT_OK)
      split_certs(idx[i], data, len, chain);
    free(data);
  }
  if (code != RT_OK)
    rt_ek_chain_free(chain);
  return code;
}

void rt_ek_chain_free(rt_ek_chain *chain) {
  for (size_t i = 0; i < chain->n; i++)
    free(chain->certs[i].der);
  memset(chain, 0, sizeof *chain);
}
