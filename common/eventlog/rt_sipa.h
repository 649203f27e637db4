/* Tagged event data as JSON: TCG_PCClientTaggedEvent (taggedEventID,
 * taggedEventDataSize, data) sequences, the framing of EV_EVENT_TAG data and
 * of Windows' SIPA events (its boot configuration log in PCRs 11-14 and the
 * EV_NO_ACTION trailer at PCR index 0xFFFFFFFF). Windows nests events inside
 * those whose id has the SIPA aggregation bit; those are decoded recursively,
 * with a depth limit. */
#ifndef RT_SIPA_H
#define RT_SIPA_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* [{"id": "0x00050002", "name": "SIPAEVENT_CODEINTEGRITY", "size": 1,
 *   "value": 1 | "string": "..." | "hex": "..." | "events": [...]}, ...];
 * a malformed tail ends the array with {"malformed": true, "offset": N}.
 * NULL only when out of memory. */
json_t *rt_sipa_json(const uint8_t *d, size_t n);

/* "SIPAEVENT_BOOTCOUNTER", ...; NULL for an id Windows' wbcl.h does not
 * name. */
const char *rt_sipa_name(uint32_t id);

#endif
