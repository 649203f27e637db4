/* JSON with jansson. Building output, where every step can run out of
 * memory: each rt_j* helper drops the value it is given either way and
 * returns false on failure, so callers chain them with && and check once. */
#ifndef RT_JSON_H
#define RT_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* obj[key] = val; false when val is NULL (jansson out of memory) or the set
 * fails. */
bool rt_jset(json_t *obj, const char *key, json_t *val);
/* obj[key] = the string s, which it frees (NULL s: out of memory). */
bool rt_jset_str(json_t *obj, const char *key, char *s);
/* obj[key] = lowercase hex of n bytes. */
bool rt_jset_hex(json_t *obj, const char *key, const uint8_t *d, size_t n);
/* Appends val to arr. */
bool rt_jpush(json_t *arr, json_t *val);

/* Reading: the first key of obj that is not in allowed (NULL-terminated),
 * or NULL when every key is. Files a person writes (policy, state) refuse
 * unknown keys, so that a typo stops the program instead of being ignored;
 * each caller words the refusal for its file. */
const char *rt_json_unknown_key(json_t *obj, const char *const *allowed);

#endif
