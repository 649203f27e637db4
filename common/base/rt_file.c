/* mkostemp (a temp file opened with O_CLOEXEC in one step) is a GNU
 * extension. */
#define _GNU_SOURCE
#include "rt_file.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens path for reading, refusing a directory. */
static rt_code open_readable(const char *path, int *fd_out, rt_err *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return rt_err_set(err, RT_E_IO, "cannot open %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return rt_err_set(err, RT_E_IO, "cannot stat %s: %s", path, strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    return rt_err_set(err, RT_E_INVALID, "%s is a directory, expected a file", path);
  }
  *fd_out = fd;
  return RT_OK;
}

/* Reads fd to its end, or until it has more than max_len bytes, into *buf
 * of *cap + 1 bytes. In chunks rather than trusting st_size: securityfs
 * files such as the firmware event log report size 0. */
static rt_code read_chunks(int fd, const char *path, size_t max_len, uint8_t **buf, size_t *cap,
                           size_t *used, rt_err *err) {
  *cap = 4096;
  *used = 0;
  if ((*buf = malloc(*cap + 1)) == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory reading %s", path);
  for (;;) {
    if (*used == *cap) {
      if (*cap > max_len)
        return RT_OK;
      uint8_t *nbuf = realloc(*buf, *cap * 2 + 1);
      if (nbuf == NULL)
        break;
      *buf = nbuf;
      *cap *= 2;
    }
    ssize_t n = read(fd, *buf + *used, *cap - *used);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = errno;
      OPENSSL_clear_free(*buf, *cap + 1);
      *buf = NULL;
      return rt_err_set(err, RT_E_IO, "cannot read %s: %s", path, strerror(e));
    }
    if (n == 0)
      return RT_OK;
    *used += (size_t)n;
  }
  OPENSSL_clear_free(*buf, *cap + 1);
  *buf = NULL;
  return rt_err_set(err, RT_E_NOMEM, "out of memory reading %s", path);
}

rt_code rt_file_read(const char *path, size_t max_len, uint8_t **data, size_t *len, rt_err *err) {
  *data = NULL;
  *len = 0;
  int fd = -1;
  rt_code code = open_readable(path, &fd, err);
  if (code != RT_OK)
    return code;
  code = rt_file_read_fd(fd, path, max_len, data, len, err);
  close(fd);
  return code;
}

rt_code rt_file_read_fd(int fd, const char *path, size_t max_len, uint8_t **data, size_t *len,
                        rt_err *err) {
  *data = NULL;
  *len = 0;
  uint8_t *buf = NULL;
  size_t cap = 0, used = 0;
  rt_code code = read_chunks(fd, path, max_len, &buf, &cap, &used, err);
  if (code != RT_OK)
    return code;
  if (used > max_len) {
    OPENSSL_clear_free(buf, cap + 1);
    return rt_err_set(err, RT_E_INVALID, "%s is larger than the limit of %zu bytes", path, max_len);
  }
  buf[used] = '\0';
  *data = buf;
  *len = used;
  return RT_OK;
}

rt_code rt_file_open_private(const char *path, const char *what, size_t max_len, int *fd_out,
                             rt_err *err) {
  *fd_out = -1;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return rt_err_set(err, RT_E_IO, "%s %s: cannot open: %s", what, path, strerror(errno));
  /* Checked on the descriptor that is read: the file checked is the file
   * used, whatever happens to the path meanwhile. */
  struct stat st;
  rt_code code = RT_OK;
  if (fstat(fd, &st) != 0)
    code = rt_err_set(err, RT_E_IO, "%s %s: cannot stat: %s", what, path, strerror(errno));
  else if (!S_ISREG(st.st_mode))
    code = rt_err_set(err, RT_E_INVALID, "%s %s: not a regular file", what, path);
  else if ((st.st_mode & 077) != 0)
    code =
        rt_err_set(err, RT_E_INVALID, "%s %s: mode %04o lets group or others read it (chmod 600)",
                   what, path, (unsigned)(st.st_mode & 07777));
  else if ((uintmax_t)st.st_size > max_len)
    code = rt_err_set(err, RT_E_INVALID, "%s %s is larger than %zu bytes", what, path, max_len);
  if (code != RT_OK) {
    close(fd);
    return code;
  }
  *fd_out = fd;
  return RT_OK;
}

rt_code rt_file_read_private(const char *path, const char *what, size_t max_len, uint8_t **data,
                             size_t *len, rt_err *err) {
  *data = NULL;
  *len = 0;
  int fd;
  rt_code code = rt_file_open_private(path, what, max_len, &fd, err);
  if (code != RT_OK)
    return code;
  struct stat st;
  /* One buffer of the file's size (a regular file, so st_size is real): no
   * reallocation leaves copies of the secret behind. */
  size_t size = fstat(fd, &st) == 0 ? (size_t)st.st_size : 0;
  uint8_t *buf = malloc(size + 1);
  size_t used = 0;
  while (buf != NULL && used < size) {
    ssize_t n = read(fd, buf + used, size - used);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    used += (size_t)n;
  }
  close(fd);
  if (buf == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory reading %s", path);
  if (used != size) {
    OPENSSL_clear_free(buf, size + 1);
    return rt_err_set(err, RT_E_IO, "%s %s: short read", what, path);
  }
  buf[size] = 0;
  *data = buf;
  *len = size;
  return RT_OK;
}

void rt_file_free_secret(uint8_t *data, size_t len) {
  if (data != NULL)
    OPENSSL_clear_free(data, len + 1);
}

/* Writes all of data, retrying short writes and EINTR. */
static int write_all(int fd, const uint8_t *p, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* The directory of path, to sync after the rename, and the name template
 * of the temp file: ".NAME.XXXXXX", hidden, and recognisably ours if a crash
 * leaves it. It must live in the target's directory: rename is only atomic
 * within one file system. The caller frees both, also on failure. */
static rt_code temp_names(const char *path, char **dir, char **tmp, rt_err *err) {
  if (path == NULL || path[0] == '\0')
    return rt_err_set(err, RT_E_INVALID, "empty file name");
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  if (base[0] == '\0')
    return rt_err_set(err, RT_E_INVALID, "%s names a directory, expected a file", path);
  size_t dir_len = slash ? (size_t)(slash - path) : 0;
  size_t tmp_cap = strlen(path) + 16;
  *dir = malloc(dir_len + 2);
  *tmp = malloc(tmp_cap);
  if (*dir == NULL || *tmp == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory writing %s", path);
  if (slash == NULL)
    snprintf(*dir, dir_len + 2, ".");
  else if (dir_len == 0)
    snprintf(*dir, dir_len + 2, "/");
  else
    snprintf(*dir, dir_len + 2, "%.*s", (int)dir_len, path);
  snprintf(*tmp, tmp_cap, "%.*s.%s.XXXXXX", (int)(base - path), path, base);
  return RT_OK;
}

/* The temp file's mode, its bytes, synced; closes fd. The mode comes before
 * the first byte, so a secret is never readable under a wider mode,
 * whatever the umask. */
static rt_code fill_temp(int fd, const char *tmp, const void *data, size_t len, mode_t mode,
                         rt_err *err) {
  rt_code code = RT_OK;
  if (fchmod(fd, mode) != 0)
    code = rt_err_set(err, RT_E_IO, "cannot set mode %04o on %s: %s", (unsigned)mode, tmp,
                      strerror(errno));
  else if (write_all(fd, data, len) != 0)
    code = rt_err_set(err, RT_E_IO, "cannot write %s: %s", tmp, strerror(errno));
  else if (fsync(fd) != 0)
    code = rt_err_set(err, RT_E_IO, "cannot sync %s: %s", tmp, strerror(errno));
  if (close(fd) != 0 && code == RT_OK)
    code = rt_err_set(err, RT_E_IO, "cannot close %s: %s", tmp, strerror(errno));
  return code;
}

/* Makes the rename of path durable by syncing its directory. */
static rt_code sync_dir(const char *path, const char *dir, rt_err *err) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return rt_err_set(err, RT_E_IO, "%s written, but cannot open %s to sync it: %s", path, dir,
                      strerror(errno));
  rt_code code = RT_OK;
  /* Some file systems cannot sync a directory (EINVAL): nothing more can be
   * done there, and the rename has happened. */
  if (fsync(dfd) != 0 && errno != EINVAL)
    code = rt_err_set(err, RT_E_IO, "%s written, but syncing %s failed: %s", path, dir,
                      strerror(errno));
  close(dfd);
  return code;
}

rt_code rt_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                             rt_err *err) {
  char *dir = NULL, *tmp = NULL;
  rt_code code = temp_names(path, &dir, &tmp, err);
  if (code != RT_OK)
    goto out;
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) {
    code = rt_err_set(err, RT_E_IO, "cannot create a temp file in %s for %s: %s", dir, path,
                      strerror(errno));
    goto out;
  }
  code = fill_temp(fd, tmp, data, len, mode, err);
  if (code == RT_OK && rename(tmp, path) != 0)
    code = rt_err_set(err, RT_E_IO, "cannot replace %s: %s", path, strerror(errno));
  if (code != RT_OK) {
    unlink(tmp);
    goto out;
  }
  /* The file is in place; what remains makes the rename itself durable. */
  code = sync_dir(path, dir, err);
out:
  free(tmp);
  free(dir);
  return code;
}
