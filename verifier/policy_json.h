/* JSON helpers the policy's parsers share (policy.c, policy_events.c,
 * policy_secrets.c). */
#ifndef RT_VERIFIER_POLICY_JSON_H
#define RT_VERIFIER_POLICY_JSON_H

#include <jansson.h>

#include "rt_err.h"

/* Every key of obj must be in allowed (NULL-terminated): a typo in a
 * security policy must stop the verifier. RT_E_INVALID "PREFIX.KEY: unknown
 * key" (just "KEY: ..." for an empty prefix). */
rt_code rt_policy_check_keys(json_t *obj, const char *prefix, const char *const *allowed,
                             rt_err *err);

#endif
