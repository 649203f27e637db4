#include "policy_judge.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_evstate.h"

static void refuse(rt_log_verdict *out, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void refuse(rt_log_verdict *out, const char *code, const char *fmt, ...) {
  va_list ap;
  out->code = code;
  va_start(ap, fmt);
  vsnprintf(out->why, sizeof out->why, fmt, ap);
  va_end(ap);
}

/* rt_evstate_derive with what the selection proves, then the rules: *pass
 * says whether the log passes. A NULL rule set passes without deriving. */
static rt_code judge_events(const rt_policy_events *p, const rt_eventlog *log, bool *pass,
                            char *why, size_t why_size, rt_err *err) {
  *pass = true;
  if (p == NULL)
    return RT_OK;
  rt_evstate st;
  rt_code code = rt_evstate_derive(log, rt_policy_events_proof(p), &st, err);
  if (code != RT_OK)
    return code;
  *pass = rt_policy_events_check(p, log, &st, why, why_size);
  rt_evstate_free(&st);
  return RT_OK;
}

const char *rt_log_alg_code(const rt_eventlog *log, rt_err *err) {
  switch (rt_eventlog_check_algs(log, err)) {
  case RT_EVENTLOG_ALG_UNKNOWN:
    return "EVENTLOG_ALGORITHM";
  case RT_EVENTLOG_ALG_DIGEST_SIZE:
    return "EVENTLOG_DIGEST_SIZE";
  default:
    return NULL;
  }
}

rt_code rt_policy_judge_replayed(const rt_policy *policy, const rt_eventlog *log,
                                 const rt_eventlog_pcrs *replayed, rt_log_verdict *out,
                                 rt_err *err) {
  rt_policy_bank_sel sel[RT_POLICY_MAX_BANKS];
  size_t n = rt_policy_selection(policy, sel);
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < n; i++) {
    const rt_eventlog_bank *b = rt_eventlog_pcrs_bank(replayed, sel[i].bank);
    if (b == NULL) {
      refuse(out, "EVENTLOG_BANK_MISSING", "the event log has no %s bank",
             rt_eventlog_alg_name(sel[i].bank));
      return RT_OK;
    }
    for (uint32_t p = 0; p < RT_POLICY_NUM_PCRS; p++)
      if ((sel[i].mask & (1u << p)) &&
          rt_policy_check_pcrs(policy, sel[i].bank, p, b->pcr[p], b->size, out->why,
                               sizeof out->why) != RT_POLICY_ALLOW) {
        out->code = "POLICY_PCR";
        return RT_OK;
      }
  }
  bool pass = true;
  rt_code code =
      judge_events(rt_policy_event_rules(policy), log, &pass, out->why, sizeof out->why, err);
  if (code != RT_OK)
    return code;
  if (!pass)
    out->code = "POLICY_EVENT";
  return RT_OK;
}

rt_code rt_policy_judge_log(const rt_policy *policy, const uint8_t *data, size_t len,
                            rt_log_verdict *out, rt_err *err) {
  rt_eventlog log;
  rt_eventlog_pcrs *pcrs = calloc(1, sizeof *pcrs);
  rt_err why;
  rt_code code = RT_OK;
  memset(out, 0, sizeof *out);
  if (pcrs == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  if (rt_eventlog_parse(data, len, NULL, &log, &why) != RT_OK) {
    refuse(out, "EVENTLOG_MALFORMED", "event log: %s", why.msg);
    free(pcrs);
    return RT_OK;
  }
  const char *alg = rt_log_alg_code(&log, &why);
  if (alg != NULL)
    refuse(out, alg, "%s", why.msg);
  else if (rt_eventlog_replay(&log, pcrs, err) != RT_OK)
    code = err->code;
  else
    code = rt_policy_judge_replayed(policy, &log, pcrs, out, err);
  rt_eventlog_free(&log);
  free(pcrs);
  return code;
}
