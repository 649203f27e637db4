/* The derived event-log state (rt_evstate) for people and programs: the
 * "state" object of `rattest-verifier eventlog --json` and its text summary. */
#ifndef RT_EVSTATE_OUT_H
#define RT_EVSTATE_OUT_H

#include <jansson.h>
#include <stdio.h>

#include "rt_eventlog.h"
#include "rt_evstate.h"

/* {"secure_boot": "on", "secure_boot_event": 3, "pk": {"sha256", "event",
 * "data_len"} | null, "kek", "db", "dbx", "dbx_sha256": [HEX], "authorities":
 * [{sha256, subject, variable, event}], "boot_apps": [{event, path, digests:
 * {BANK: HEX}}], "kernel_cmdlines": [{event, cmdline}], "separators": [PCR],
 * "separator_errors": [PCR], "mismatches": [EVENT], "flawed": [{event,
 * flaw}]}; NULL when out of memory. */
json_t *rt_evstate_json(const rt_eventlog *log, const rt_evstate *st);

/* {BANK: HEX} of one event's digests; NULL when out of memory. */
json_t *rt_evstate_digests_json(const rt_eventlog_event *ev);

/* A few lines: secure boot, the key databases, authorities, boot
 * applications, command lines, separators, mismatches, flawed events. */
void rt_evstate_print(FILE *f, const rt_evstate *st);

#endif
