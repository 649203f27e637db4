/* JSON helpers the policy's parsers share (policy.c, policy_events.c,
 * policy_secrets.c). They live apart from policy.c so that the section
 * parsers depend on these helpers, not on the parser that calls them. */
#ifndef RT_VERIFIER_POLICY_JSON_H
#define RT_VERIFIER_POLICY_JSON_H

#include <jansson.h>
#include <stdbool.h>

#include "rt_err.h"

/* Every key of obj must be in allowed (NULL-terminated): a typo in a
 * security policy must stop the verifier. RT_E_INVALID "PREFIX.KEY: unknown
 * key" (just "KEY: ..." for an empty prefix). */
rt_code rt_policy_check_keys(json_t *obj, const char *prefix, const char *const *allowed,
                             rt_err *err);

/* obj[key] as a boolean into *out; an absent key leaves *out as it is.
 * RT_E_INVALID "PREFIX.KEY: expected true or false" otherwise. */
rt_code rt_policy_get_bool(json_t *obj, const char *prefix, const char *key, bool *out,
                           rt_err *err);

#endif
