/* Test helper: makes a real firmware event log real on swtpm by extending
 * each of its measured events into the TPM's PCRs (sha1 and sha256 banks),
 * following the same replay rules the verifier applies. Afterwards the TPM's
 * PCRs equal the log's replay, as on the machine that wrote it.
 *
 * Usage: rt_log_extend LOG   (TPM from $RATTEST_TCTI; locality-0 logs only) */
#include <stdio.h>
#include <string.h>

#include "rt_eventlog.h"
#include "rt_tpm.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: rt_log_extend LOG\n");
    return 2;
  }
  rt_err err;
  rt_eventlog log;
  rt_tpm *tpm = NULL;
  rt_tpm_quiet_tss_logs();
  if (rt_eventlog_read_file(argv[1], NULL, &log, &err) != RT_OK) {
    fprintf(stderr, "rt_log_extend: %s\n", err.msg);
    return 1;
  }
  if (log.has_startup_locality && log.startup_locality != 0) {
    fprintf(stderr, "rt_log_extend: the log starts PCR0 at locality %u; swtpm starts at 0\n",
            (unsigned)log.startup_locality);
    rt_eventlog_free(&log);
    return 1;
  }
  if (rt_tpm_open(NULL, &tpm, &err) != RT_OK) {
    fprintf(stderr, "rt_log_extend: %s\n", err.msg);
    rt_eventlog_free(&log);
    return 1;
  }
  int rc = 0;
  size_t extended = 0;
  for (size_t i = 0; i < log.n_events && rc == 0; i++) {
    const rt_eventlog_event *ev = &log.events[i];
    if ((!log.legacy && i == 0) || ev->type == RT_EV_NO_ACTION || ev->pcr >= 24)
      continue;
    TPML_DIGEST_VALUES values;
    memset(&values, 0, sizeof values);
    for (size_t d = 0; d < ev->n_digests; d++) {
      TPMI_ALG_HASH alg = ev->digests[d].alg;
      if (alg != TPM2_ALG_SHA1 && alg != TPM2_ALG_SHA256)
        continue; /* the harness TPM has these two banks */
      TPMT_HA *ha = &values.digests[values.count++];
      ha->hashAlg = alg;
      memcpy(&ha->digest, ev->digests[d].bytes, ev->digests[d].len);
    }
    TSS2_RC r = Esys_PCR_Extend(tpm->esys, ESYS_TR_PCR0 + ev->pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                ESYS_TR_NONE, &values);
    if (r != TSS2_RC_SUCCESS) {
      rt_tpm_rc(&err, r, "PCR_Extend");
      fprintf(stderr, "rt_log_extend: event %zu: %s\n", i, err.msg);
      rc = 1;
    }
    extended++;
  }
  if (rc == 0)
    printf("extended %zu events from %s\n", extended, argv[1]);
  rt_tpm_close(tpm);
  rt_eventlog_free(&log);
  return rc;
}
