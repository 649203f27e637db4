/* Whole-file helpers with explicit size limits, so a wrong path (a device, a
 * huge log) cannot make a binary allocate without bound. */
#ifndef RT_FILE_H
#define RT_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rt_err.h"

/* Reads all of path into a fresh buffer with a terminating NUL byte (not
 * counted in *len), so PEM text can be used as a C string. Fails with
 * RT_E_INVALID when the file is larger than max_len. */
rt_code rt_file_read(const char *path, size_t max_len, uint8_t **data, size_t *len, rt_err *err);
/* The same from a descriptor already open (and checked) by the caller;
 * path only names it in messages. */
rt_code rt_file_read_fd(int fd, const char *path, size_t max_len, uint8_t **data, size_t *len,
                        rt_err *err);

/* Opens a file holding a secret or a private key for reading: refused
 * unless it is a regular file that neither group nor others may access
 * (mode & 077 == 0) and at most max_len bytes. what names the file in
 * messages ("issuer key", "secret"). */
rt_code rt_file_open_private(const char *path, const char *what, size_t max_len, int *fd,
                             rt_err *err);

/* rt_file_open_private, then all of it into one buffer (NUL-terminated, not
 * counted in *len); free with rt_file_free_secret. */
rt_code rt_file_read_private(const char *path, const char *what, size_t max_len, uint8_t **data,
                             size_t *len, rt_err *err);

/* Wipes and frees a buffer from rt_file_read or rt_file_read_private: for
 * files holding secrets or private keys. */
void rt_file_free_secret(uint8_t *data, size_t len);

/* Replaces path with exactly len bytes of data so that a crash at any point
 * leaves either the old file or the new one, never a mix: the bytes go to a
 * temp file in the same directory (same file system, so rename is atomic),
 * which gets `mode` before any byte is written (umask does not apply), is
 * fsynced, renamed over path, and the directory is fsynced so the rename
 * itself survives a crash. On failure the temp file is removed and the old
 * file is untouched; the one exception is a failed directory fsync, reported
 * as RT_E_IO after the new file is already in place. A symlink at path is
 * replaced, not followed. */
rt_code rt_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                             rt_err *err);

#endif
