/* The event log as a client sends it in Finish: parsed, its algorithms
 * checked, replayed, every event checked and decoded, the machine state
 * derived (what the verifier and `rattest-verifier eventlog` do with it),
 * and judged by the default policy (rt_policy_judge_log, Finish's path). */
#include <jansson.h>
#include <stdlib.h>

#include "fuzz.h"
#include "policy_judge.h"
#include "rt_evdecode.h"
#include "rt_evstate.h"
#include "rt_evstate_out.h"

static void derive(const rt_eventlog *log) {
  rt_evproof all;
  rt_evstate st = {0};
  rt_err err;
  rt_evproof_all(log, &all);
  if (rt_evstate_derive(log, &all, &st, &err) == RT_OK) {
    json_t *j = rt_evstate_json(log, &st);
    free(json_dumps(j, JSON_COMPACT));
    json_decref(j);
    for (uint32_t pcr = 0; pcr < RT_EVENTLOG_NUM_PCRS; pcr++)
      (void)rt_evstate_first_flaw(log, &st, pcr);
  }
  rt_evstate_free(&st);
  for (size_t i = 0; i < log->n_events; i++) {
    json_t *j = rt_evdecode_json(log, i);
    json_t *d = rt_evstate_digests_json(&log->events[i]);
    free(json_dumps(j, JSON_COMPACT));
    json_decref(j);
    json_decref(d);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static rt_policy *policy;
  rt_eventlog log = {0};
  rt_eventlog_pcrs pcrs;
  rt_log_verdict verdict;
  rt_err err;
  if (policy == NULL && rt_policy_default(&policy, &err) != RT_OK)
    abort();
  if (rt_eventlog_parse(data, size, NULL, &log, &err) == RT_OK) {
    (void)rt_eventlog_check_algs(&log, &err);
    (void)rt_eventlog_replay(&log, &pcrs, &err);
    derive(&log);
  }
  rt_eventlog_free(&log);
  (void)rt_policy_judge_log(policy, data, size, &verdict, &err);
  return 0;
}
