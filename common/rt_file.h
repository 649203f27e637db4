/* Whole-file helpers with explicit size limits, so a wrong path (a device, a
 * huge log) cannot make a binary allocate without bound. */
#ifndef RT_FILE_H
#define RT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "rt_err.h"

/* Reads all of path into a fresh buffer with a terminating NUL byte (not
 * counted in *len), so PEM text can be used as a C string. Fails with
 * RT_E_INVALID when the file is larger than max_len. */
rt_code rt_file_read(const char *path, size_t max_len, uint8_t **data, size_t *len, rt_err *err);

/* Like rt_file_read, then wipes and frees: for files holding private keys. */
void rt_file_free_secret(uint8_t *data, size_t len);

#endif
