/* The policy's event rules ("events" in the policy JSON, docs/policy.md):
 * judgements of what the event log says the machine booted, beyond PCR
 * values that change with every firmware or kernel update.
 *
 * Rules only ever read events the verifier has proven: the event's PCR is in
 * the quoted selection (so replay matched the TPM) and, for data the verifier
 * interprets, the data hashes to the event's digests (rt_evstate.h). A rule
 * that finds no such event fails; it never falls back to unverified data. */
#ifndef RT_VERIFIER_POLICY_EVENTS_H
#define RT_VERIFIER_POLICY_EVENTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_err.h"
#include "rt_eventlog.h"
#include "rt_evstate.h"

typedef struct rt_policy_events rt_policy_events;

/* Parses the "events" object. quoted: bit i set when PCR i is demanded in
 * some bank; a rule reading a PCR outside it is refused ("events.X: needs PCR
 * n in pcrs"), since the quote would not prove its events. Messages name the
 * JSON path ("events.boot_apps.allow[2]: ..."). */
rt_code rt_policy_events_parse(json_t *v, uint32_t quoted, rt_policy_events **out, rt_err *err);
void rt_policy_events_free(rt_policy_events *ev);

/* Applies every rule to a replayed, quote-matched log and its derived state.
 * quoted as for parse. On a failure returns false and writes into why the
 * rule, the PCR and the event ("rule events.secure_boot: PCR 7 event 9
 * (EV_EFI_VARIABLE_DRIVER_CONFIG SecureBoot): secure boot is off"). */
bool rt_policy_events_check(const rt_policy_events *ev, const rt_eventlog *log,
                            const rt_evstate *st, uint32_t quoted, char *why, size_t why_size);

#endif
