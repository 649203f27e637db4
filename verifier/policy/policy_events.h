/* The policy's event rules ("events" in the policy JSON, docs/policy.md):
 * judgements of what the event log says the machine booted, beyond PCR
 * values that change with every firmware or kernel update.
 *
 * Rules only ever read what the quote proves: the digests of the demanded
 * banks in the demanded PCRs, the data that hashes to them, and the order of
 * events within one PCR (rt_evstate.h). A rule refuses a machine when its PCR
 * holds an event that could be something else than its label says
 * (rt_evclass.h), and when it finds no proven event to judge; it never falls
 * back to unverified data. */
#ifndef RT_VERIFIER_POLICY_EVENTS_H
#define RT_VERIFIER_POLICY_EVENTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_err.h"
#include "rt_eventlog.h"
#include "rt_evstate.h"

typedef struct rt_policy_events rt_policy_events;

/* Parses the "events" object. proof: what a quote of the policy's selection
 * proves (rt_policy_proof). A rule reading a PCR no demanded bank covers is
 * refused ("events.X: needs PCR n in pcrs"), as is a boot application
 * digest of a bank that does not demand PCR 4. Messages name the JSON path
 * ("events.boot_apps.allow[2]: ..."). */
rt_code rt_policy_events_parse(json_t *v, const rt_evproof *proof, rt_policy_events **out,
                               rt_err *err);
void rt_policy_events_free(rt_policy_events *ev);

/* The proof the rules were parsed for: derive the state with it. */
const rt_evproof *rt_policy_events_proof(const rt_policy_events *ev);

/* Applies every rule to a replayed, quote-matched log and the state derived
 * with rt_policy_events_proof. On a failure returns false and writes into
 * why the rule, the PCR and the event ("rule events.secure_boot: PCR 7
 * event 9 (EV_EFI_VARIABLE_DRIVER_CONFIG) SecureBoot: secure boot is off"). */
bool rt_policy_events_check(const rt_policy_events *ev, const rt_eventlog *log,
                            const rt_evstate *st, char *why, size_t why_size);

#endif
