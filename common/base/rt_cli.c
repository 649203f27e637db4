#include "rt_cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static rt_code parse_number(const char *opt, const char *s, uint64_t *v, const char **rest,
                            rt_err *err) {
  if (s == NULL || *s == '\0' || *s == '-' || *s == '+' || *s == ' ')
    return rt_err_set(err, RT_E_INVALID, "%s: \"%s\" is not a number", opt, s ? s : "");
  errno = 0;
  char *end = NULL;
  unsigned long long n = strtoull(s, &end, 0);
  if (errno != 0 || end == s)
    return rt_err_set(err, RT_E_INVALID, "%s: \"%s\" is not a number", opt, s);
  *v = n;
  *rest = end;
  return RT_OK;
}

rt_code rt_cli_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out,
                         rt_err *err) {
  uint64_t v = 0;
  const char *rest = NULL;
  rt_code code = parse_number(opt, s, &v, &rest, err);
  if (code != RT_OK)
    return code;
  if (*rest != '\0')
    return rt_err_set(err, RT_E_INVALID, "%s: \"%s\" is not a number", opt, s);
  if (v < min || v > max)
    return rt_err_set(err, RT_E_INVALID, "%s: %s is out of range [%llu, %llu]", opt, s,
                      (unsigned long long)min, (unsigned long long)max);
  *out = v;
  return RT_OK;
}

static rt_code scale(const char *opt, const char *s, uint64_t v, uint64_t mult, uint64_t *out,
                     rt_err *err) {
  if (mult != 0 && v > UINT64_MAX / mult)
    return rt_err_set(err, RT_E_INVALID, "%s: %s is too large", opt, s);
  *out = v * mult;
  return RT_OK;
}

rt_code rt_cli_parse_size(const char *opt, const char *s, size_t *out, rt_err *err) {
  uint64_t v = 0;
  const char *rest = NULL;
  rt_code code = parse_number(opt, s, &v, &rest, err);
  if (code != RT_OK)
    return code;
  uint64_t mult;
  if (*rest == '\0' || strcmp(rest, "B") == 0)
    mult = 1;
  else if (strcmp(rest, "K") == 0 || strcmp(rest, "KiB") == 0)
    mult = 1024;
  else if (strcmp(rest, "M") == 0 || strcmp(rest, "MiB") == 0)
    mult = 1024 * 1024;
  else if (strcmp(rest, "G") == 0 || strcmp(rest, "GiB") == 0)
    mult = 1024 * 1024 * 1024;
  else
    return rt_err_set(err, RT_E_INVALID, "%s: unknown size unit in \"%s\" (use KiB, MiB, GiB)", opt,
                      s);
  uint64_t bytes = 0;
  code = scale(opt, s, v, mult, &bytes, err);
  if (code != RT_OK)
    return code;
  if (bytes > SIZE_MAX)
    return rt_err_set(err, RT_E_INVALID, "%s: %s is too large", opt, s);
  *out = (size_t)bytes;
  return RT_OK;
}

rt_code rt_cli_parse_duration_ms(const char *opt, const char *s, uint64_t *out, rt_err *err) {
  uint64_t v = 0;
  const char *rest = NULL;
  rt_code code = parse_number(opt, s, &v, &rest, err);
  if (code != RT_OK)
    return code;
  uint64_t mult;
  if (strcmp(rest, "ms") == 0)
    mult = 1;
  else if (*rest == '\0' || strcmp(rest, "s") == 0)
    mult = 1000;
  else if (strcmp(rest, "m") == 0)
    mult = 60 * 1000;
  else if (strcmp(rest, "h") == 0)
    mult = 3600 * 1000;
  else
    return rt_err_set(err, RT_E_INVALID, "%s: unknown duration unit in \"%s\" (use ms, s, m, h)",
                      opt, s);
  return scale(opt, s, v, mult, out, err);
}
