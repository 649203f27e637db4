/* Error value carried up the call chain: a category for callers to branch on
 * and a human message that gathers context on the way up. */
#ifndef RT_ERR_H
#define RT_ERR_H

#include <stddef.h>

typedef enum {
  RT_OK = 0,
  RT_E_INVALID,   /* bad input: arguments, files, messages */
  RT_E_NOT_FOUND, /* the thing asked for does not exist (file, NV index, name) */
  RT_E_IO,        /* file system or OS failure */
  RT_E_NOMEM,     /* allocation failed */
  RT_E_TPM,       /* the TPM or the TSS stack answered an error */
  RT_E_CRYPTO,    /* OpenSSL failure or a cryptographic check that failed */
  RT_E_NET,       /* transport failure: connect, TLS, deadline */
  RT_E_REMOTE,    /* the peer answered with an error status */
  RT_E_INTERNAL,  /* a bug: a state that should be impossible */
} rt_code;

typedef struct {
  rt_code code;
  char msg[768];
} rt_err;

/* Sets the error (if err is non-NULL) and returns code, so that callers can
 * write `return rt_err_set(err, RT_E_IO, "...")`. */
rt_code rt_err_set(rt_err *err, rt_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends context ("loading key: ") to an existing message and returns the
 * error's code unchanged. */
rt_code rt_err_prefix(rt_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void rt_err_clear(rt_err *err);

const char *rt_code_name(rt_code code);

#endif
