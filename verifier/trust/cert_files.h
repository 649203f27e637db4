/* Reading certificates from files and directories, for the CA sets
 * (--ek-ca, --platform-ca) and the command-line checks: PEM bundles or one
 * DER certificate per file. */
#ifndef RT_VERIFIER_CERT_FILES_H
#define RT_VERIFIER_CERT_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_err.h"

typedef struct {
  const uint8_t *der;
  size_t len;
} rt_cert_der;

/* Hands each certificate of a file to cb as DER: every certificate of a PEM
 * bundle, or else the whole file as one DER certificate, unparsed (the
 * callback judges it). cb returns 0 to stop early. Errors are the file's
 * (unreadable, over 4 MiB). */
typedef int (*rt_cert_der_cb)(const uint8_t *der, size_t len, void *arg);
rt_code rt_cert_file_each(const char *path, rt_cert_der_cb cb, void *arg, rt_err *err);

/* Hands every certificate of a CA path to take: a file (as
 * rt_cert_file_each), or every regular file of a directory but hidden files
 * and *.md / *.txt notes. take returns whether it kept the certificate; a
 * file or a directory of which it kept none is RT_E_INVALID. what names the
 * path in messages ("EK CA", "platform CA"). */
typedef bool (*rt_cert_take_cb)(const uint8_t *der, size_t len, void *arg);
rt_code rt_cert_path_each(const char *path, const char *what, rt_cert_take_cb take, void *arg,
                          rt_err *err);

/* Copies of the certificates rt_cert_file_each hands over, appended at
 * out[*n] while *n < max (*n counts them). RT_E_INVALID "PATH: too many
 * certificates" when none could be kept. Free with rt_cert_der_free. */
rt_code rt_cert_file_read(const char *path, rt_cert_der *out, size_t max, size_t *n, rt_err *err);
void rt_cert_der_free(rt_cert_der *certs, size_t n);

#endif
