#include "policy_json.h"

#include "rt_json.h"

rt_code rt_policy_check_keys(json_t *obj, const char *prefix, const char *const *allowed,
                             rt_err *err) {
  const char *key = rt_json_unknown_key(obj, allowed);
  if (key == NULL)
    return RT_OK;
  return rt_err_set(err, RT_E_INVALID, "%s%s%s: unknown key", prefix, *prefix ? "." : "", key);
}

rt_code rt_policy_get_bool(json_t *obj, const char *prefix, const char *key, bool *out,
                           rt_err *err) {
  json_t *v = json_object_get(obj, key);
  if (v == NULL)
    return RT_OK;
  if (!json_is_boolean(v))
    return rt_err_set(err, RT_E_INVALID, "%s%s%s: expected true or false", prefix,
                      *prefix ? "." : "", key);
  *out = json_is_true(v);
  return RT_OK;
}
