/* The one rule for names: identity names (Begin, the bootstrap's state file,
 * `rattest:NAME` in the provider) and secret names (the verifier's policy,
 * the state file) all follow it, so a name one part accepts is never one
 * another refuses. */
#ifndef RT_NAME_H
#define RT_NAME_H

#include "rt_err.h"

/* Longest name, in characters (bytes). */
#define RT_NAME_MAX 64

/* RT_OK when name is 1 to RT_NAME_MAX characters of [A-Za-z0-9._-] and is
 * not "." or "..": names become parts of file names (NAME-SERIAL.key.pem),
 * so they can hold no '/' and cannot name a directory. RT_E_INVALID
 * otherwise (also for NULL), with a message saying which part of the rule
 * failed. */
rt_code rt_name_check(const char *name, rt_err *err);

/* The name an EK enrolls under when the verifier's policy says
 * "name_binding": "ek": "ek-" and the first RT_NAME_EK_DIGITS of the 64
 * lowercase hex digits of the EK's SHA-256 (of its SubjectPublicKeyInfo,
 * the urn:rattest:ek:sha256 value), e.g. "ek-3f9a0c1d2b4e5f60": a DNS
 * label and a name rt_name_check accepts. 64 bits: two EKs sharing a
 * prefix are a 2^-64 chance per pair, and the registry's first-come
 * binding refuses the second one NAME_TAKEN anyway. RT_E_INVALID when
 * ek_hex is not 64 lowercase hex digits. */
#define RT_NAME_EK_DIGITS 16
#define RT_NAME_EK_SIZE (3 + RT_NAME_EK_DIGITS + 1)
rt_code rt_name_from_ek(const char *ek_hex, char out[RT_NAME_EK_SIZE], rt_err *err);

#endif
