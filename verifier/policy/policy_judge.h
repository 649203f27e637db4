/* The verdict on an event log, as the service reaches it once a quote has
 * matched the log's replay, and as `rattest-verifier policy check` reaches
 * it for a log taken as the TPM's: one function, so that what an operator
 * tries on the command line is what the service decides.
 *
 * The steps, each with its own refusal code (docs/protocol.md):
 * - EVENTLOG_MALFORMED: the log does not parse;
 * - EVENTLOG_ALGORITHM / EVENTLOG_DIGEST_SIZE: it declares an algorithm the
 *   verifier does not know, or a known one with another digest size
 *   (rt_eventlog_check_algs);
 * - EVENTLOG_BANK_MISSING: it lacks a bank the policy demands;
 * - POLICY_PCR: a demanded PCR's replayed value is not allowed;
 * - POLICY_EVENT: an event rule fails. Only the digests of the demanded
 *   banks, in the demanded PCRs, count as proof (rt_evstate.h). */
#ifndef RT_VERIFIER_POLICY_JUDGE_H
#define RT_VERIFIER_POLICY_JUDGE_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "rt_err.h"
#include "rt_eventlog.h"

typedef struct {
  const char *code; /* NULL: the log passes; else the refusal code */
  char why[512];    /* the reason, naming bank, PCR, rule and event */
} rt_log_verdict;

/* From the parsed and replayed log (rt_eventlog_replay succeeded, so its
 * algorithms are known): EVENTLOG_BANK_MISSING, POLICY_PCR, POLICY_EVENT.
 * Errors (RT_E_NOMEM, RT_E_CRYPTO) only when the verifier itself fails. */
rt_code rt_policy_judge_replayed(const rt_policy *policy, const rt_eventlog *log,
                                 const rt_eventlog_pcrs *replayed, rt_log_verdict *out,
                                 rt_err *err);

/* Parse, algorithm check, replay, then rt_policy_judge_replayed. */
rt_code rt_policy_judge_log(const rt_policy *policy, const uint8_t *data, size_t len,
                            rt_log_verdict *out, rt_err *err);

/* The refusal code for a log whose algorithms do not pass
 * rt_eventlog_check_algs, NULL when they do (err says why). */
const char *rt_log_alg_code(const rt_eventlog *log, rt_err *err);

#endif
