#include "rt_asn1_time.h"

int rt_asn1_time_unix(const ASN1_TIME *t, time_t *out) {
  struct tm tm;
  if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
    return 0;
  *out = timegm(&tm); /* ASN1_TIME_to_tm gives UTC */
  return 1;
}

void rt_asn1_time_text(const ASN1_TIME *t, char *out, size_t len) {
  struct tm tm;
  out[0] = '\0';
  if (t != NULL && ASN1_TIME_to_tm(t, &tm) == 1)
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
