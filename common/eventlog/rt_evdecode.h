/* What one event's data says, decoded for display (`rattest-verifier
 * eventlog --json`) and for rt_evstate. Decoding says nothing about trust:
 * rt_evstate decides which events' data is backed by their digests. Every
 * length in event data is checked before it is followed; a malformed payload
 * decodes to less (or nothing), never to an error. */
#ifndef RT_EVDECODE_H
#define RT_EVDECODE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_eventlog.h"

/* The decoded data of log->events[i] as a JSON object ({} when nothing is
 * known about its type or it is malformed); NULL only when out of memory. */
json_t *rt_evdecode_json(const rt_eventlog *log, size_t i);

#endif
