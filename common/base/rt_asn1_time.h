/* A certificate's time (notBefore, notAfter) as Unix seconds: the one
 * conversion for every certificate date the project reads (issuer, TLS
 * and identity certificates, delivered keys, the registry, what EK and
 * platform certificates say). */
#ifndef RT_ASN1_TIME_H
#define RT_ASN1_TIME_H

#include <openssl/asn1.h>
#include <stddef.h>
#include <time.h>

/* 1 with *out set, or 0 when OpenSSL cannot read t (*out untouched). */
int rt_asn1_time_unix(const ASN1_TIME *t, time_t *out);

/* t as "YYYY-MM-DDTHH:MM:SSZ" into out (len bytes); "" when unreadable. */
void rt_asn1_time_text(const ASN1_TIME *t, char *out, size_t len);

#endif
