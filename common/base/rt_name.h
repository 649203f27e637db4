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

#endif
