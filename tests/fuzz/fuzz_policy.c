/* The policy file (rt_policy_parse: the JSON loader, its PCR, event and
 * secret rules, the subject template), then what the verifier asks of a
 * policy that loaded: the PCR selection, a rendered identity for a fixed
 * name, and the judgement of a real event log (gce-cos85, replayed) by
 * its PCR and event rules. */
#include <stdlib.h>

#include "fuzz.h"
#include "policy_judge.h"

static void use(const rt_policy *p, const rt_eventlog *log, const rt_eventlog_pcrs *pcrs) {
  rt_policy_bank_sel sel[RT_POLICY_MAX_BANKS];
  TPML_PCR_SELECTION tpml;
  rt_policy_identity id;
  rt_log_verdict verdict;
  rt_err err;
  (void)rt_policy_selection(p, sel);
  rt_policy_tpml_selection(p, &tpml);
  if (rt_policy_render_identity(p, FUZZ_NAME,
                                "e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4",
                                &id, &err) == RT_OK)
    rt_policy_identity_free(&id);
  (void)rt_policy_judge_replayed(p, log, pcrs, &verdict, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static rt_eventlog log;
  static rt_eventlog_pcrs pcrs;
  rt_policy *p = NULL;
  rt_err err;
  if (log.raw == NULL) {
    size_t len;
    uint8_t *raw = fuzz_data_file("eventlogs/gce-cos85/eventlog.bin", &len);
    if (rt_eventlog_parse(raw, len, NULL, &log, &err) != RT_OK ||
        rt_eventlog_replay(&log, &pcrs, &err) != RT_OK)
      abort();
    free(raw);
  }
  if (rt_policy_parse((const char *)data, size, &p, &err) == RT_OK)
    use(p, &log, &pcrs);
  rt_policy_free(p);
  return 0;
}
