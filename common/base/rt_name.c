#include "rt_name.h"

#include <stdio.h>
#include <string.h>

rt_code rt_name_check(const char *name, rt_err *err) {
  if (name == NULL)
    return rt_err_set(err, RT_E_INVALID, "identity name missing");
  size_t n = strlen(name);
  if (n == 0 || n > RT_NAME_MAX)
    return rt_err_set(err, RT_E_INVALID, "identity name must be 1 to %d characters, got %zu",
                      RT_NAME_MAX, n);
  for (size_t i = 0; i < n; i++) {
    /* Spelled out: isalnum() depends on the locale. */
    char c = name[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return rt_err_set(err, RT_E_INVALID,
                        "identity name \"%.64s\": only A-Z a-z 0-9 . _ - are allowed", name);
  }
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return rt_err_set(err, RT_E_INVALID, "identity name \"%s\" is reserved", name);
  return RT_OK;
}

rt_code rt_name_from_ek(const char *ek_hex, char out[RT_NAME_EK_SIZE], rt_err *err) {
  size_t n = ek_hex != NULL ? strlen(ek_hex) : 0;
  if (n != 64 || strspn(ek_hex, "0123456789abcdef") != n)
    return rt_err_set(err, RT_E_INVALID, "an EK SHA-256 is 64 lowercase hex digits");
  snprintf(out, RT_NAME_EK_SIZE, "ek-%.*s", RT_NAME_EK_DIGITS, ek_hex);
  return RT_OK;
}
