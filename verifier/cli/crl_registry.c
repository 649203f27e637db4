#include "crl_registry.h"

#include <stdlib.h>

#include "crl.h"
#include "rt_file.h"

rt_code rt_crl_from_registry(rt_store *s, const rt_issuer *issuer, time_t now, int64_t period_s,
                             char **pem, size_t *len, int64_t *revoked, rt_err *err) {
  *pem = NULL;
  *len = 0;
  rt_store_revoked *list = NULL;
  size_t n = 0, kept = 0;
  if (rt_store_revoked_list(s, &list, &n, err) != RT_OK)
    return rt_err_prefix(err, "CRL: ");
  if (n >= ((size_t)1 << 32)) {
    rt_store_revoked_free(list, n);
    return rt_err_set(err, RT_E_INVALID, "CRL: 2^32 revocations do not fit its number");
  }
  rt_crl_entry *entries = calloc(n > 0 ? n : 1, sizeof *entries);
  if (entries == NULL) {
    rt_store_revoked_free(list, n);
    return rt_err_set(err, RT_E_NOMEM, "CRL: out of memory");
  }
  for (size_t i = 0; i < n; i++)
    if (list[i].not_after >= now)
      entries[kept++] = (rt_crl_entry){list[i].serial, list[i].revoked_at, list[i].reason};
  rt_crl_params params = {.number = ((uint64_t)now << 32) | (uint64_t)n,
                          .this_update = now,
                          .next_update = now + (time_t)period_s};
  rt_code code = rt_crl_build(issuer, entries, kept, &params, pem, len, err);
  if (code == RT_OK && revoked != NULL)
    *revoked = (int64_t)n;
  free(entries);
  rt_store_revoked_free(list, n);
  return code;
}

rt_code rt_crl_write(const char *path, const char *pem, size_t len, rt_err *err) {
  if (rt_file_write_atomic(path, pem, len, 0644, err) != RT_OK)
    return rt_err_prefix(err, "CRL %s: ", path);
  return RT_OK;
}
