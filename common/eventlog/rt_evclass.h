/* What each event of a log may be taken for, once its label is set aside.
 *
 * Root on the machine chooses every label in the log: the event type, the
 * data of an event whose digest does not cover it, the order of events of
 * different PCRs. Only the digests proven by a quote (rt_evcheck.h) and, for
 * events whose data is hashed, the data are facts. An event is *flawed* when
 * nothing those facts allow says it is what its label claims; a rule reading
 * a PCR refuses the machine when any event in that PCR is flawed, since a
 * flawed event could be the measurement the rule looks for in disguise (a
 * SecureBoot=0 variable relabelled EV_POST_CODE, a boot application
 * relabelled as a driver).
 *
 * The flaws, from the TCG PC Client Platform Firmware Profile
 * (rt_eventlog_type_in_pcr) and from what the real logs in tests/data do:
 * - a type the profile does not define;
 * - a type the profile does not measure into that PCR (PCRs 0-8);
 * - in PCR 7, a type the verifier cannot read safely (EV_COMPACT_HASH, the
 *   SPDM device events): the profile allows them, but their data could hide
 *   a Secure Boot variable or authority;
 * - data that does not hash to the proven digests (RT_EVCHECK_MISMATCH);
 * - data whose digest checks but that is not what the type holds: not a
 *   UEFI_VARIABLE_DATA (variables, authorities), not an ASCII string
 *   (actions), not a separator value, not a GRUB or systemd-boot string
 *   (EV_IPL in PCR 8);
 * - in PCRs 0-7, proven digests that are an error separator's hash (value
 *   1 or all ones) under another label;
 * - a second separator in a PCR;
 * - after the PCR's separator, a type the profile measures before it
 *   (rt_eventlog_type_before_separator: firmware code and configuration in
 *   PCRs 0-1, Secure Boot configuration in PCR 7);
 * - an EV_EFI_VARIABLE_DRIVER_CONFIG in PCR 7 measuring a variable (GUID and
 *   name) already measured there. */
#ifndef RT_EVCLASS_H
#define RT_EVCLASS_H

#include <stdbool.h>
#include <stddef.h>

#include "rt_evcheck.h"
#include "rt_eventlog.h"

typedef enum {
  RT_EVFLAW_NONE = 0,
  RT_EVFLAW_UNKNOWN_TYPE,
  RT_EVFLAW_WRONG_PCR,
  RT_EVFLAW_NOT_JUDGED,
  RT_EVFLAW_DISGUISED_SEPARATOR,
  RT_EVFLAW_MISMATCH,
  RT_EVFLAW_MALFORMED,
  RT_EVFLAW_SECOND_SEPARATOR,
  RT_EVFLAW_AFTER_SEPARATOR,
  RT_EVFLAW_REPEATED,
} rt_evflaw;

/* flaws[i] for every event (log->n_events entries), from checks and
 * sep_digest (rt_evcheck_all) and the PCRs the proof covers: an event in a
 * PCR no bank proves is never flawed (no rule may read it), nor is one that
 * is not extended. */
void rt_evclass_all(const rt_eventlog *log, const rt_evproof *proof, const rt_evcheck *checks,
                    const bool *sep_digest, rt_evflaw *flaws);

/* A short clause for messages: "type 0x8000beef is not a TCG PC Client
 * event type" needs the event, so the text takes it:
 * "EV_POST_CODE is not measured into PCR 7". Writes into buf. */
const char *rt_evflaw_text(rt_evflaw f, const rt_eventlog_event *ev, char *buf, size_t size);

/* "unknown_type", "wrong_pcr", ...; "" for RT_EVFLAW_NONE. */
const char *rt_evflaw_name(rt_evflaw f);

#endif
