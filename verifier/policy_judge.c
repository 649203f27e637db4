/* rt_policy_events_judge: apart from the rules so that only its callers
 * (the service's PCR check, `policy check`) need the derived state. */
#include "policy_events.h"

rt_code rt_policy_events_judge(const rt_policy_events *p, const rt_eventlog *log, uint32_t quoted,
                               bool *pass, char *why, size_t why_size, rt_err *err) {
  *pass = true;
  if (p == NULL)
    return RT_OK;
  rt_evstate st;
  rt_code code = rt_evstate_derive(log, &st, err);
  if (code != RT_OK) {
    *pass = false;
    return code;
  }
  *pass = rt_policy_events_check(p, log, &st, quoted, why, why_size);
  rt_evstate_free(&st);
  return RT_OK;
}
