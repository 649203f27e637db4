#include "rt_file.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
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

void rt_file_free_secret(uint8_t *data, size_t len) {
  if (data != NULL)
    OPENSSL_clear_free(data, len + 1);
}
