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

rt_code rt_file_read(const char *path, size_t max_len, uint8_t **data, size_t *len, rt_err *err) {
  *data = NULL;
  *len = 0;
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

  /* Read in chunks rather than trusting st_size: securityfs files such as the
   * firmware event log report size 0. */
  size_t cap = 4096, used = 0;
  uint8_t *buf = malloc(cap + 1);
  if (buf == NULL) {
    close(fd);
    return rt_err_set(err, RT_E_NOMEM, "out of memory reading %s", path);
  }
  for (;;) {
    if (used == cap) {
      if (cap > max_len) {
        break;
      }
      size_t ncap = cap * 2;
      uint8_t *nbuf = realloc(buf, ncap + 1);
      if (nbuf == NULL) {
        OPENSSL_clear_free(buf, cap + 1);
        close(fd);
        return rt_err_set(err, RT_E_NOMEM, "out of memory reading %s", path);
      }
      buf = nbuf;
      cap = ncap;
    }
    ssize_t n = read(fd, buf + used, cap - used);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      int e = errno;
      OPENSSL_clear_free(buf, cap + 1);
      close(fd);
      return rt_err_set(err, RT_E_IO, "cannot read %s: %s", path, strerror(e));
    }
    if (n == 0)
      break;
    used += (size_t)n;
  }
  close(fd);
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

rt_code rt_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                             rt_err *err) {
  if (path == NULL || path[0] == '\0')
    return rt_err_set(err, RT_E_INVALID, "empty file name");
  /* The temp file must live in the target's directory: rename is only atomic
   * within one file system. */
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  if (base[0] == '\0')
    return rt_err_set(err, RT_E_INVALID, "%s names a directory, expected a file", path);
  size_t dir_len = slash ? (size_t)(slash - path) : 0;
  char *dir = NULL, *tmp = NULL;
  rt_code code = RT_OK;
  int fd = -1;

  dir = malloc(dir_len + 2);
  /* ".NAME.XXXXXX": hidden, and recognisably ours if a crash leaves it. */
  size_t tmp_cap = strlen(path) + 16;
  tmp = malloc(tmp_cap);
  if (dir == NULL || tmp == NULL) {
    code = rt_err_set(err, RT_E_NOMEM, "out of memory writing %s", path);
    goto out_no_tmp;
  }
  if (slash == NULL)
    snprintf(dir, dir_len + 2, ".");
  else if (dir_len == 0)
    snprintf(dir, dir_len + 2, "/");
  else
    snprintf(dir, dir_len + 2, "%.*s", (int)dir_len, path);
  snprintf(tmp, tmp_cap, "%.*s.%s.XXXXXX", (int)(base - path), path, base);

  fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) {
    code = rt_err_set(err, RT_E_IO, "cannot create a temp file in %s for %s: %s", dir, path,
                      strerror(errno));
    goto out_no_tmp;
  }
  /* Before the first byte, so a secret is never readable under a wider
   * mode, whatever the umask. */
  if (fchmod(fd, mode) != 0) {
    code = rt_err_set(err, RT_E_IO, "cannot set mode %04o on %s: %s", (unsigned)mode, tmp,
                      strerror(errno));
    goto out;
  }
  if (write_all(fd, data, len) != 0) {
    code = rt_err_set(err, RT_E_IO, "cannot write %s: %s", tmp, strerror(errno));
    goto out;
  }
  if (fsync(fd) != 0) {
    code = rt_err_set(err, RT_E_IO, "cannot sync %s: %s", tmp, strerror(errno));
    goto out;
  }
  int rc = close(fd);
  fd = -1;
  if (rc != 0) {
    code = rt_err_set(err, RT_E_IO, "cannot close %s: %s", tmp, strerror(errno));
    goto out;
  }
  if (rename(tmp, path) != 0) {
    code = rt_err_set(err, RT_E_IO, "cannot replace %s: %s", path, strerror(errno));
    goto out;
  }
  /* The file is in place; what remains makes the rename itself durable. */
  tmp[0] = '\0';
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    code = rt_err_set(err, RT_E_IO, "%s written, but cannot open %s to sync it: %s", path, dir,
                      strerror(errno));
    goto out;
  }
  /* Some file systems cannot sync a directory (EINVAL): nothing more can be
   * done there, and the rename has happened. */
  if (fsync(dfd) != 0 && errno != EINVAL)
    code = rt_err_set(err, RT_E_IO, "%s written, but syncing %s failed: %s", path, dir,
                      strerror(errno));
  close(dfd);
out:
  if (fd >= 0)
    close(fd);
  if (tmp != NULL && tmp[0] != '\0')
    unlink(tmp);
out_no_tmp:
  free(tmp);
  free(dir);
  return code;
}
