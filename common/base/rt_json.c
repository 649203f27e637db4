#include "rt_json.h"

#include <stdlib.h>
#include <string.h>

#include "rt_hex.h"

bool rt_jset(json_t *obj, const char *key, json_t *val) {
  return val != NULL && json_object_set_new(obj, key, val) == 0;
}

bool rt_jset_str(json_t *obj, const char *key, char *s) {
  bool ok = s != NULL && rt_jset(obj, key, json_string(s));
  free(s);
  return ok;
}

bool rt_jset_hex(json_t *obj, const char *key, const uint8_t *d, size_t n) {
  char *hex = malloc(2 * n + 1);
  if (hex == NULL)
    return false;
  rt_hex(d, n, hex);
  return rt_jset_str(obj, key, hex);
}

bool rt_jpush(json_t *arr, json_t *val) {
  return val != NULL && json_array_append_new(arr, val) == 0;
}

const char *rt_json_unknown_key(json_t *obj, const char *const *allowed) {
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    size_t i = 0;
    while (allowed[i] != NULL && strcmp(allowed[i], key) != 0)
      i++;
    if (allowed[i] == NULL)
      return key;
  }
  return NULL;
}
